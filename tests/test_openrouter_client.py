"""The OpenRouter client: records, every error class, and parsers that never leak."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient, mask_key
from hermes_dash.openrouter.records import (
    Credits,
    Endpoint,
    Generation,
    KeyInfo,
    ModelInfo,
    Provider,
)

from .conftest import FAKE_KEY
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed


def client_for(handler, **kw) -> OpenRouterClient:
    return OpenRouterClient(
        FAKE_KEY, base_url="https://or.test/api/v1", transport=httpx.MockTransport(handler), **kw
    )


async def test_key_and_credits_parse() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = KEY_BODY if request.url.path.endswith("/key") else CREDITS_BODY
        return httpx.Response(200, json=body)

    c = client_for(handler)
    key = await c.key_info()
    credits = await c.credits()
    assert key.usage == 37.5 and key.limit_remaining == 62.5 and key.is_free_tier is False
    assert credits is not None and credits.balance == pytest.approx(74.75)
    assert seen[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert FAKE_KEY not in repr(c)
    await c.aclose()


async def test_credits_unknown_on_403_and_zero() -> None:
    c = client_for(lambda r: httpx.Response(403, json={"error": {"code": 403, "message": "no"}}))
    assert await c.credits() is None
    c = client_for(
        lambda r: httpx.Response(200, json={"data": {"total_credits": 0, "total_usage": 0}})
    )
    assert await c.credits() is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, errors.Unauthorized),
        (402, errors.PaymentRequired),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (408, errors.ServerError),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (418, errors.OpenRouterError),
    ],
)
async def test_status_maps_to_taxonomy(status: int, cls: type) -> None:
    c = client_for(
        lambda r: httpx.Response(status, json={"error": {"code": status, "message": "boom"}})
    )
    with pytest.raises(cls) as info:
        await c.key_info()
    assert type(info.value) is cls
    assert "\n" not in str(info.value) and FAKE_KEY not in str(info.value)


async def test_rate_limited_carries_retry_after() -> None:
    c = client_for(lambda r: httpx.Response(429, headers={"Retry-After": "7"}, json={}))
    with pytest.raises(errors.RateLimited) as info:
        await c.key_info()
    assert info.value.retry_after == 7.0


async def test_timeout_connection_and_bad_bodies() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(errors.RequestTimeout):
        await client_for(timeout).key_info()
    with pytest.raises(errors.ConnectionFailed):
        await client_for(refused).key_info()
    with pytest.raises(errors.MalformedResponse, match="not JSON"):
        await client_for(lambda r: httpx.Response(200, text="<html>")).key_info()
    with pytest.raises(errors.MalformedResponse, match="shape"):
        await client_for(lambda r: httpx.Response(200, json={"data": [1]})).key_info()
    with pytest.raises(errors.MalformedResponse, match="larger"):
        await client_for(lambda r: httpx.Response(200, content=b" " * 5000), max_body=1000).models()


async def test_no_key_is_unauthorized_without_a_request() -> None:
    calls = []
    c = OpenRouterClient(None, transport=httpx.MockTransport(lambda r: calls.append(r)))
    with pytest.raises(errors.Unauthorized):
        await c.key_info()
    assert calls == []


async def test_real_server_faults() -> None:
    routes = prefixed(
        {
            "/key": Reply(200, KEY_BODY, stall_s=2.0),
            "/credits": Reply(200, CREDITS_BODY, truncate=True),
            "/models": Reply(200, repeat_bytes=3 * 1024 * 1024),
        }
    )
    with FakeOpenRouter(routes) as srv:
        c = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=0.5, max_body=1024 * 1024)
        with pytest.raises(errors.RequestTimeout):
            await c.key_info()
        with pytest.raises(errors.MalformedResponse):
            await c.credits()
        with pytest.raises(errors.MalformedResponse, match="larger"):
            await c.models()
        await c.aclose()
    with pytest.raises(errors.ConnectionFailed):
        await OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=1).key_info()


async def test_models_endpoints_providers_generation() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/models"):
            return httpx.Response(
                200,
                json={
                    "data": [
                        {
                            "id": "a/b",
                            "name": "B",
                            "pricing": {
                                "prompt": "0.000001",
                                "completion": "0.000002",
                                "input_cache_read": "0.0000001",
                            },
                        }
                    ]
                },
            )
        if path.endswith("/endpoints"):
            assert path == "/api/v1/models/a/b:free/endpoints"
            return httpx.Response(
                200,
                json={
                    "data": {
                        "endpoints": [
                            {
                                "provider_name": "DeepInfra",
                                "tag": "deepinfra/turbo",
                                "pricing": {"prompt": "1e-7"},
                                "latency_last_30m": {"p50": 420},
                                "uptime_last_30m": 99.5,
                            }
                        ]
                    }
                },
            )
        if path.endswith("/providers"):
            return httpx.Response(200, json={"data": [{"name": "DeepInfra", "slug": "deepinfra"}]})
        assert request.url.params["id"] == "gen-1"
        return httpx.Response(
            200,
            json={
                "data": {
                    "id": "gen-1",
                    "provider_name": "Together",
                    "total_cost": 0.0012,
                    "latency": 900,
                }
            },
        )

    c = client_for(handler)
    [m] = await c.models()
    assert m.pricing.prompt == 1e-6 and m.pricing.cache_read == 1e-7
    [e] = await c.endpoints("a/b:free")
    assert e.slug == "deepinfra/turbo" and e.latency_p50_ms == 420
    assert [p.slug for p in await c.providers()] == ["deepinfra"]
    g = await c.generation("gen-1")
    assert g.provider_name == "Together" and g.total_cost == 0.0012


def test_mask_key() -> None:
    assert mask_key(FAKE_KEY) == "sk-or-v1-…KEY9"
    assert mask_key(None) == "(none)"
    assert mask_key("short") == "…"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)
shaped = st.fixed_dictionaries(
    {
        "data": st.dictionaries(
            st.sampled_from(
                [
                    "label",
                    "usage",
                    "limit",
                    "total_credits",
                    "total_usage",
                    "endpoints",
                    "provider_name",
                    "is_free_tier",
                    "pricing",
                    "id",
                ]
            ),
            json_values,
            max_size=6,
        )
    }
)


@settings(max_examples=300, deadline=None)
@given(body=json_values | shaped)
def test_parsers_raise_only_malformed(body: object) -> None:
    for parse in (
        KeyInfo.parse,
        Credits.parse,
        Generation.parse,
        ModelInfo.parse_list,
        Endpoint.parse_list,
        Provider.parse_list,
    ):
        with contextlib.suppress(errors.MalformedResponse):
            parse(body)


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=200), status=st.sampled_from([200, 401, 429, 500, 503]))
def test_client_raises_only_its_own_errors(raw: bytes, status: int) -> None:
    import asyncio

    async def go() -> None:
        c = client_for(lambda r: httpx.Response(status, content=raw))
        try:
            await c.key_info()
        except errors.OpenRouterError as exc:
            assert FAKE_KEY not in str(exc)

    asyncio.run(go())


def test_error_message_never_echoes_body_key() -> None:
    body = json.dumps({"error": {"message": "bad"}}).encode()
    from hermes_dash.openrouter.client import error_for_status

    assert "bad" in str(error_for_status(401, body))
