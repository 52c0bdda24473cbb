"""Calls to backends on this machine or a private network cost nothing: by address."""

from __future__ import annotations

import time

import httpx
import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.endpoints import is_private_address as is_local_host
from hermes_dash.services.enrich import Enricher

from .conftest import FAKE_KEY, call

LOCAL = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.20",
    "127.0.0.5",
    "::1",
    "fd12:3456::5",
    "fe80::1",
    "fe80::1%eth0",
    "::ffff:10.0.0.7",
    "localhost",
    "LocalHost.",
    "ollama.local",
    "[::1]:8080",
]
PUBLIC = [
    "openrouter.ai",
    "8.8.8.8",
    "172.32.0.1",
    "11.0.0.1",
    "10.example.com",
    "192.168.evil.com",
    "2001:db8::1",
    "",
]


@pytest.mark.parametrize("host", LOCAL)
def test_private_and_loopback_addresses_are_local(host: str) -> None:
    assert is_local_host(host)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_hosts_and_lookalike_names_are_not_local(host: str) -> None:
    assert not is_local_host(host)


async def test_the_enricher_never_bills_a_private_backend(store: CallStore) -> None:
    t = time.time()
    hosts = [*LOCAL, "openrouter.ai"]
    store.insert(
        [
            call(
                t,
                model="a/m",
                base_url_host=host,
                generation_id=f"gen-{i}",
                cost_usd=None,
                cost_source=None,
            )
            for i, host in enumerate(hosts)
        ]
    )
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generation"):
            asked.append(request.url.params["id"])
            gen = request.url.params["id"]
            return httpx.Response(
                200, json={"data": {"id": gen, "provider_name": "Together", "total_cost": 0.5}}
            )
        return httpx.Response(200, json={"data": []})

    api = OpenRouterClient(
        FAKE_KEY, base_url="https://or.test/api/v1", transport=httpx.MockTransport(handler)
    )
    assert await Enricher(store, api).run_once() == len(hosts)
    await api.aclose()
    assert asked == [f"gen-{len(hosts) - 1}"]  # only the public one was looked up
    costs = dict(
        store.conn.execute("SELECT base_url_host, cost_usd || ' ' || cost_source FROM calls")
    )
    assert costs.pop("openrouter.ai") == "0.5 openrouter"
    assert set(costs.values()) == {"0.0 none"}
