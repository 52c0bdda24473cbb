"""The OpenRouter simulator the end-to-end test takes as ground truth answers like OpenRouter.

Real HTTP on 127.0.0.1; the account side is read with hermes-dash's own OpenRouter client,
so the bill the e2e test compares against is the one the product would read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from hermes_dash.openrouter.client import OpenRouterClient

from .openrouter_sim import MODEL, UPSTREAMS, OpenRouterSim

KEY = "sk-or-v1-simtest"


def _ask(sim: OpenRouterSim, marker: str, stream: bool = False, **extra: Any) -> httpx.Response:
    body = {
        "model": MODEL,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"Hello {marker}"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Again."},
        ],
        **extra,
    }
    return httpx.post(f"{sim.base_url}/chat/completions", json=body, timeout=10)


def _events(text: str) -> list[dict[str, Any]]:
    data = [ln[6:] for ln in text.splitlines() if ln.startswith("data: ")]
    return [json.loads(d) for d in data if d != "[DONE]"]


def _account(sim: OpenRouterSim, generation_ids: list[str]) -> tuple[Any, list[Any], Any]:
    async def go() -> tuple[Any, list[Any], Any]:
        client = OpenRouterClient(KEY, base_url=sim.base_url)
        try:
            key = await client.key_info()
            gens = [await client.generation(g) for g in generation_ids]
            models = await client.models()
        finally:
            await client.aclose()
        return key, gens, models

    return asyncio.run(go())


def test_completions_are_billed_at_the_upstreams_price_and_the_account_agrees() -> None:
    with OpenRouterSim() as sim:
        plain = _ask(sim, "[faults:ok]").json()
        streamed = _ask(sim, "[faults:ok]", stream=True)
        chunks = _events(streamed.text)
        key, gens, models = _account(sim, [plain["id"], chunks[0]["id"]])
        billed = sim.billed()
    assert plain["id"].startswith("gen-") and plain["provider"] in UPSTREAMS
    usage = plain["usage"]
    price = UPSTREAMS[plain["provider"]]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0 and usage["completion_tokens_details"]["reasoning_tokens"] >= 0
    assert usage["cost"] == pytest.approx(
        (usage["prompt_tokens"] - cached) * price["prompt"]
        + cached * price["input_cache_read"]
        + usage["completion_tokens"] * price["completion"]
    )
    # A stream: every chunk names the generation and upstream; usage comes last.
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.rstrip().endswith("data: [DONE]")
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[-1]["choices"] == []
    assert {c["provider"] for c in chunks} == {chunks[0]["provider"]}
    stream_cost = chunks[-1]["usage"]["cost"]
    assert billed == pytest.approx(usage["cost"] + stream_cost)
    assert key.usage == pytest.approx(billed) and key.usage_daily == pytest.approx(billed)
    assert [g.total_cost for g in gens] == pytest.approx([usage["cost"], stream_cost])
    assert [g.provider_name for g in gens] == [plain["provider"], chunks[0]["provider"]]
    [model] = models
    cheapest = min(p["prompt"] for p in UPSTREAMS.values())
    assert model.id == MODEL and model.pricing.prompt == pytest.approx(cheapest)


def test_refusals_carry_openrouters_headers_and_metadata_and_are_not_billed() -> None:
    script = "[faults:429,429up,402,400,500,502]"
    with OpenRouterSim() as sim:
        answers = [_ask(sim, script, tools=[{"type": "function"}]) for _ in range(6)]
        billed = sim.billed()
    limited, upstream, payment, bad, failed, gateway = answers
    assert [a.status_code for a in answers] == [429, 429, 402, 400, 500, 502]
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" not in upstream.headers
    assert upstream.json()["error"]["metadata"]["provider_name"] == "DeepInfra"
    assert payment.json()["error"]["metadata"]["limit_source"] == "openrouter_key_limit"
    assert all(a.json()["error"]["code"] == a.status_code for a in (bad, failed, gateway))
    assert billed == 0


def test_broken_streams_are_billed_for_what_was_generated() -> None:
    tools = [{"type": "function", "function": {"name": "todo"}}]
    with OpenRouterSim() as sim:
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream(
                "POST",
                f"{sim.base_url}/chat/completions",
                json={
                    "model": MODEL,
                    "stream": True,
                    "tools": tools,
                    "messages": [{"role": "user", "content": "[faults:cut,errchunk,length]"}],
                },
            ) as r,
        ):
            for _ in r.iter_bytes():
                pass
        errored = _events(_ask(sim, "[faults:cut,errchunk,length]", tools=tools).text)
        length = _ask(sim, "[faults:cut,errchunk,length]", tools=tools).json()
        cut, err = sim.chat_requests()[:2]
        key, gens, _ = _account(sim, [str(cut.generation_id), errored[0]["id"]])
    assert errored[0]["id"] != cut.generation_id
    assert errored[-1]["choices"][0]["finish_reason"] == "error" and errored[-1]["error"]
    assert all("usage" not in c for c in errored)
    assert length["choices"][0]["finish_reason"] == "length"
    assert cut.cost > 0 and err.cost > 0
    assert [g.total_cost for g in gens] == pytest.approx([cut.cost, err.cost])
    assert key.usage == pytest.approx(cut.cost + err.cost + length["usage"]["cost"])


def test_a_local_backend_bills_nothing() -> None:
    with OpenRouterSim(openrouter=False) as local:
        answer = _ask(local, "").json()
        assert local.billed() == 0
    assert answer["id"].startswith("chatcmpl-") and "provider" not in answer
    assert "cost" not in answer["usage"]
