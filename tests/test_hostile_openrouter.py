"""A hostile OpenRouter on 127.0.0.1: bodies nested thousands deep, numbers no float holds,
NaN, wrong types, a server that drips one byte at a time, absurd Retry-After values, keys
echoed back. Each reaches the real client over real HTTP; nothing may escape the error
taxonomy, nothing may wait past the deadline, no key may show."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
import threading
import time
from typing import Any

import pytest

from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import Provider
from hermes_dash.openrouter.wire import RETRY_AFTER_MAX_S
from hermes_dash.services.account import fetch_snapshot
from hermes_dash.services.backoff import MAX_DELAY_S, PollSchedule

from .conftest import FAKE_KEY
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed

# Small enough to be parsed in place (the big one below goes to a thread).
DEEP = "[" * 20_000 + "]" * 20_000
DEEP_IN_DATA = '{"data": {"usage": ' + "[" * 20_000 + "]" * 20_000 + "}}"


def key_body(**fields: str) -> str:
    """A /key body with raw JSON text for some fields (NaN, 1e400, 400 digits...)."""
    data = dict(KEY_BODY["data"])
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items() if k not in fields]
    parts += [f"{json.dumps(k)}: {v}" for k, v in fields.items()]
    return '{"data": {' + ", ".join(parts) + "}}"


def client(srv: FakeOpenRouter, **kw: Any) -> OpenRouterClient:
    kw.setdefault("timeout", 2.0)
    return OpenRouterClient(FAKE_KEY, base_url=srv.url, **kw)


# -- numbers and nesting ------------------------------------------------------------------

UNKNOWN_NUMBERS = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e400": "1e400",
    "400 digits": "9" * 400,
    "5000 digits": "9" * 5000,
    "string 1e999": '"1e999"',
    "string nan": '"nan"',
}


@pytest.mark.parametrize("raw", list(UNKNOWN_NUMBERS.values()), ids=list(UNKNOWN_NUMBERS))
async def test_numbers_nobody_can_use_are_unknown(raw: str) -> None:
    with FakeOpenRouter(prefixed({"/key": Reply(200, key_body(usage=raw, limit=raw))})) as srv:
        c = client(srv)
        info = await c.key_info()
        await c.aclose()
    assert info.usage is None and info.limit is None
    assert info.usage_daily == 1.25 and info.limit_remaining == 62.5  # the rest is read


BAD_BODIES = {
    "deep list": (DEEP, "nested too deeply"),
    "deep field": (DEEP_IN_DATA, "nested too deeply"),
    "wrong type": ('{"data": {"usage": {"a": 1}}}', "not a number"),
    "bool number": ('{"data": {"usage": true}}', "not a number"),
    "string label": ('{"data": {"label": 12}}', "not a string"),
    "bad utf-8": (b'{"data": {"label": "\xff\xfe"}}', "not JSON"),
    "not json": ("{'data': 1}", "not JSON"),
}


@pytest.mark.parametrize(("body", "fragment"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_malformed_bodies_are_one_error_class(body: str | bytes, fragment: str) -> None:
    routes = prefixed({"*": Reply(200, body)})
    with FakeOpenRouter(routes) as srv:
        c = client(srv)
        with pytest.raises(errors.MalformedResponse, match=fragment) as info:
            await c.key_info()
        assert "\n" not in str(info.value)
        # Every endpoint holds to the same taxonomy (a field one endpoint does not read
        # does not make its answer malformed, so either outcome is fine there).
        for call in (
            c.credits(),
            c.generation("gen-1"),
            c.models(),
            c.endpoints("a/b"),
            c.providers(),
        ):
            with contextlib.suppress(errors.MalformedResponse):
                await call
        await c.aclose()


async def test_deep_body_beyond_the_inline_size_is_parsed_on_a_thread_too() -> None:
    body = "[" * 200_000 + "]" * 200_000  # 400 KB: over the inline-parse size
    with FakeOpenRouter(prefixed({"/providers": Reply(200, body)})) as srv:
        c = client(srv)
        with pytest.raises(errors.MalformedResponse, match="nested too deeply"):
            await c.providers()
        await c.aclose()


# -- deadlines ------------------------------------------------------------------------------


async def test_a_dripping_server_fails_within_the_deadline() -> None:
    # One byte every 50 ms never trips a per-read timeout; only a total deadline ends it.
    with FakeOpenRouter(prefixed({"/key": Reply(200, KEY_BODY, drip_s=0.05)})) as srv:
        c = client(srv, timeout=5.0, deadline=1.0)
        started = time.monotonic()
        with pytest.raises(errors.RequestTimeout, match="within 1 s"):
            await c.key_info()
        elapsed = time.monotonic() - started
        await c.aclose()
    assert elapsed < 4.0, elapsed


async def test_a_dripping_credits_does_not_stop_key_polling() -> None:
    bad_credits = {
        "drip": Reply(200, CREDITS_BODY, drip_s=0.05),
        "deep": Reply(200, DEEP),
        "nan": Reply(200, '{"data": {"total_credits": NaN, "total_usage": 1e400}}'),
        "wrong": Reply(200, '{"data": {"total_credits": "lots", "total_usage": []}}'),
    }
    for name, reply in bad_credits.items():
        routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": reply})
        with FakeOpenRouter(routes) as srv:
            c = client(srv, deadline=1.0)
            snap = await fetch_snapshot(c)
            await c.aclose()
        assert snap.usage == 37.5 and snap.credits_total is None, name


async def test_a_slow_credits_holds_key_numbers_back_only_for_the_grace() -> None:
    routes = prefixed(
        {"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY, drip_s=0.05)}
    )
    with FakeOpenRouter(routes) as srv:
        c = client(srv)  # the default 20 s deadline
        started = time.monotonic()
        snap = await fetch_snapshot(c, credits_grace_s=0.5)
        elapsed = time.monotonic() - started
        await c.aclose()
    assert snap.usage == 37.5 and snap.credits_total is None
    assert elapsed < 4.0, elapsed


# -- big answers ----------------------------------------------------------------------------


async def test_a_huge_providers_answer_does_not_stall_the_event_loop() -> None:
    providers = [{"name": f"Provider {i}", "slug": f"provider-{i}"} for i in range(150_000)]
    body = json.dumps({"data": providers}).encode()
    threads: list[str] = []
    real = Provider.parse_list.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Provider], data: Any) -> list[Provider]:
        threads.append(threading.current_thread().name)
        return real(cls, data)

    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    with FakeOpenRouter(prefixed({"/providers": Reply(200, body)})) as srv:
        c = client(srv, deadline=60.0)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Provider, "parse_list", classmethod(spy))
            tick = asyncio.create_task(ticker())
            result = await c.providers()
            done.set()
            await tick
        await c.aclose()
    assert len(result) == 150_000
    # The records are built on a thread, and the loop kept turning meanwhile (how long
    # its pauses were is a timing, which the benchmarks measure, not a test).
    assert threads and threads[0] != threading.main_thread().name
    assert len(gaps) > 1


# -- Retry-After ----------------------------------------------------------------------------


def _http_date(offset_s: float) -> str:
    return email.utils.formatdate(time.time() + offset_s, usegmt=True)


RETRY_AFTERS = {
    "inf": ("inf", RETRY_AFTER_MAX_S),
    "nan": ("nan", None),
    "1e9": ("1e9", RETRY_AFTER_MAX_S),
    "negative": ("-30", 0.0),
    "seconds": ("17", 17.0),
    "date in 2 min": (120.0, 120.0),  # a number here: an HTTP date that far from now
    "date next year": (365 * 86400.0, RETRY_AFTER_MAX_S),
    "date past": (-3600.0, 0.0),
    "garbage": ("soon", None),
}


@pytest.mark.parametrize(
    ("header", "expected"), list(RETRY_AFTERS.values()), ids=list(RETRY_AFTERS)
)
async def test_retry_after_is_bounded(header: str | float, expected: float | None) -> None:
    if isinstance(header, float):
        header = _http_date(header)
    reply = Reply(429, {"error": {"code": 429, "message": "slow down"}}, {"Retry-After": header})
    with FakeOpenRouter(prefixed({"/key": reply})) as srv:
        c = client(srv)
        with pytest.raises(errors.RateLimited) as info:
            await c.key_info()
        await c.aclose()
    after = info.value.retry_after
    if expected is None:
        assert after is None
    else:
        assert after is not None and after == pytest.approx(expected, abs=5)
    schedule = PollSchedule(30.0)
    delays = [schedule.after_failure(info.value) for _ in range(12)]
    assert all(math.isfinite(d) and 30.0 < d <= MAX_DELAY_S for d in delays), delays
    if expected is not None:
        assert delays[0] >= min(expected, MAX_DELAY_S) - 5


@pytest.mark.parametrize("interval", [math.nan, math.inf, -1.0, 0.0, 1e9])
def test_poll_schedule_never_spins_or_stops(interval: float) -> None:
    schedule = PollSchedule(interval)
    delays = [schedule.after_success(), schedule.after_failure(errors.ServerError("x"))]
    assert all(math.isfinite(d) and 1.0 <= d <= 3600.0 for d in delays), delays


# -- keys echoed back -----------------------------------------------------------------------

OTHER_KEY = "proxy-0123456789abcdef0123456789abcdef0123456789abcdefSECRET"
MANAGEMENT_KEY = "sk-or-v1-fedcba9876543210fedcba9876543210fedcba9876543210MGMTKEY1"


def _leaks(text: str, key: str) -> list[str]:
    secret = key.removeprefix("sk-or-v1-")
    return [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]


@pytest.mark.parametrize("key", [FAKE_KEY, OTHER_KEY], ids=["sk-or key", "other key"])
async def test_a_key_echoed_across_the_cut_never_shows(key: str) -> None:
    echo: dict[str, str] = {}
    routes = prefixed(
        {"/key": lambda path, headers: Reply(401, {"error": {"code": 401, "message": echo["m"]}})}
    )
    with FakeOpenRouter(routes) as srv:
        c = OpenRouterClient(key, base_url=srv.url, management_key=MANAGEMENT_KEY, timeout=2)
        for lead in range(120, 175, 3):
            for secret in (key, MANAGEMENT_KEY, key[: len(key) // 2]):
                echo["m"] = "x" * lead + " " + secret + " was refused"
                with pytest.raises(errors.Unauthorized) as info:
                    await c.key_info()
                message = str(info.value)
                assert not _leaks(message, key) and not _leaks(message, MANAGEMENT_KEY), (
                    lead,
                    message,
                )
                assert "x" * 100 in message  # the server's text is still shown
        await c.aclose()


# -- fuzz: every endpoint, hostile values in every field ------------------------------------

HOSTILE_SCALARS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "9" * 400,
    "9" * 5000,
    '"1e999"',
    '"nan"',
    '"[/]"',
    "true",
    "null",
    "[]",
    "{}",
    "[" * 3000 + "]" * 3000,
    "0.5",
    '"0.000001"',
    '"x"',
]
FIELDS = [
    "label", "usage", "usage_daily", "limit", "limit_remaining", "is_free_tier",
    "total_credits", "total_usage", "id", "name", "slug", "provider_name", "total_cost",
    "latency", "pricing", "prompt", "completion", "context_length", "tag", "status",
    "uptime_last_30m", "latency_last_30m", "p50", "endpoints",
]  # fmt: skip


def _obj(draw: Any, depth: int) -> str:
    from hypothesis import strategies as st

    keys = draw(st.lists(st.sampled_from(FIELDS), max_size=6, unique=True))
    parts = []
    for k in keys:
        if depth and draw(st.booleans()):
            value = _obj(draw, depth - 1)
            if draw(st.booleans()):
                value = f"[{value}, {_obj(draw, depth - 1)}]"
        else:
            value = draw(st.sampled_from(HOSTILE_SCALARS))
        parts.append(f'"{k}": {value}')
    return "{" + ", ".join(parts) + "}"


def _check_finite(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value), value
    elif isinstance(value, list):
        for v in value:
            _check_finite(v)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _check_finite(getattr(value, name))


def test_fuzz_every_endpoint_raises_only_its_errors_and_gives_only_finite_numbers() -> None:
    import httpx
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @st.composite
    def bodies(draw: Any) -> str:
        inner = _obj(draw, 2)
        shape = draw(st.sampled_from(["obj", "list", "endpoints", "raw"]))
        if shape == "obj":
            return f'{{"data": {inner}}}'
        if shape == "list":
            return f'{{"data": [{inner}, {_obj(draw, 1)}]}}'
        if shape == "endpoints":
            return f'{{"data": {{"endpoints": [{inner}]}}}}'
        return draw(st.sampled_from(HOSTILE_SCALARS))

    @settings(max_examples=150, deadline=None)
    @given(body=bodies(), status=st.sampled_from([200, 200, 200, 401, 429, 500]))
    def check(body: str, status: int) -> None:
        async def go() -> None:
            c = OpenRouterClient(
                FAKE_KEY,
                base_url="https://or.test/api/v1",
                transport=httpx.MockTransport(
                    lambda r: httpx.Response(status, content=body.encode(), headers={})
                ),
            )
            for call in (
                c.key_info(),
                c.credits(),
                c.generation("gen-1"),
                c.models(),
                c.endpoints("a/b"),
                c.providers(),
            ):
                try:
                    _check_finite(await call)
                except errors.OpenRouterError as exc:
                    assert FAKE_KEY not in str(exc) and "\n" not in str(exc)
            await c.aclose()

        asyncio.run(go())

    check()
