"""Which endpoints are local (nobody bills them) and which are paid.

Decided from what the user configured, in this order:

1. hermes-dash's own settings: ``local_endpoints`` and ``paid_endpoints`` (host or
   host:port), for what nothing else can tell (a paid gateway on a private address, a
   GPU box on the LAN known by name);
2. OpenRouter's own host (the configured ``--openrouter-url``, and Hermes' ``model.base_url``
   when its provider is OpenRouter) is paid;
3. Hermes' config: an endpoint Hermes reaches with a local-server provider (``lmstudio``,
   ``ollama``, ``vllm``, ``llamacpp``), or a ``custom_providers``/``providers`` entry
   that carries no credential at all (no ``api_key``, ``key_env``, ``api_key_env``,
   ``key_cmd``): nobody can bill a request that says who to bill;
4. the address itself: a loopback, private (RFC 1918, unique-local), link-local or
   ``localhost`` address is local (``ipaddress`` decides, not a prefix of the text).

Everything else is paid. A local call's cost is *known* to be zero (``cost_source``
``'none'``), never unknown.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Hermes provider names that mean a server on the user's own machine or network
#: (config.yaml documents ``lmstudio``, and ``ollama``/``vllm``/``llamacpp`` as aliases of
#: ``custom`` for local servers).
LOCAL_SERVER_PROVIDERS = frozenset({"lmstudio", "ollama", "vllm", "llamacpp", "llama.cpp"})
#: Keys of a provider entry that hold (or fetch) a credential.
CREDENTIAL_KEYS = ("api_key", "key_env", "api_key_env", "key_cmd")


def endpoint_of(url: str) -> str:
    """host[:port] of a URL, lowercased ('' when it has none)."""
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _host(endpoint: str) -> str:
    """The host part of host[:port] (brackets of an IPv6 literal removed)."""
    endpoint = endpoint.strip().lower()
    if endpoint.startswith("["):
        return endpoint[1 : endpoint.find("]")] if "]" in endpoint else endpoint[1:]
    if endpoint.count(":") == 1:
        return endpoint.split(":", 1)[0]
    return endpoint


def is_private_address(endpoint: str) -> bool:
    """Whether host[:port] names this machine or a private network by its address."""
    host = _host(endpoint)
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_unspecified


def _matches(endpoint: str, patterns: frozenset[str]) -> bool:
    endpoint = endpoint.lower()
    return endpoint in patterns or _host(endpoint) in patterns


@dataclass(frozen=True)
class EndpointPolicy:
    """Local-or-paid for every endpoint, from settings, Hermes' config and the address."""

    local: frozenset[str] = frozenset()
    paid: frozenset[str] = frozenset()
    config_local: frozenset[str] = frozenset()
    config_paid: frozenset[str] = frozenset()
    reasons: dict[str, str] = field(default_factory=dict, compare=False)

    def is_local(self, endpoint: str) -> bool:
        """Whether calls to host[:port] cost nothing."""
        if not endpoint:
            return False
        if _matches(endpoint, self.paid):
            return False
        if _matches(endpoint, self.local):
            return True
        if _matches(endpoint, self.config_paid):
            return False
        if _matches(endpoint, self.config_local):
            return True
        return is_private_address(endpoint)

    def local_of(self, endpoints: Iterable[str]) -> list[str]:
        """The local ones among these endpoints."""
        return [e for e in endpoints if self.is_local(e)]

    @classmethod
    def build(
        cls,
        config: Mapping[str, Any] | None,
        *,
        local: Iterable[str] = (),
        paid: Iterable[str] = (),
        openrouter_url: str | None = None,
    ) -> EndpointPolicy:
        """From Hermes' config.yaml (as parsed), the user's lists and OpenRouter's URL."""
        config_local: set[str] = set()
        config_paid: set[str] = set()
        if openrouter_url and endpoint_of(openrouter_url):
            config_paid.add(endpoint_of(openrouter_url))
        for provider, entry in _configured_endpoints(config or {}):
            url = entry.get("base_url")
            if not isinstance(url, str) or not endpoint_of(url):
                continue
            where = endpoint_of(url)
            if provider in ("openrouter",) or "openrouter.ai" in where:
                config_paid.add(where)
            elif provider in LOCAL_SERVER_PROVIDERS or (
                entry.get("_entry") and not any(entry.get(k) for k in CREDENTIAL_KEYS)
            ):
                config_local.add(where)
        return cls(
            local=frozenset(e.strip().lower() for e in local if e.strip()),
            paid=frozenset(e.strip().lower() for e in paid if e.strip()),
            config_local=frozenset(config_local - config_paid),
            config_paid=frozenset(config_paid),
        )


def _configured_endpoints(config: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(provider name, entry) for every base_url Hermes' config names. Entries of
    ``custom_providers``/``providers`` are marked ``_entry`` (they may carry a key);
    the main ``model`` block and auxiliary tasks are not (their key may sit in .env)."""
    out: list[tuple[str, dict[str, Any]]] = []
    model = config.get("model")
    if isinstance(model, Mapping):
        out.append((str(model.get("provider") or "").lower(), dict(model)))
    custom = config.get("custom_providers")
    for item in custom if isinstance(custom, list) else []:
        if isinstance(item, Mapping):
            out.append((str(item.get("name") or "custom").lower(), {**item, "_entry": True}))
    named = config.get("providers")
    if isinstance(named, Mapping):
        for name, item in named.items():
            if isinstance(item, Mapping):
                out.append((str(name).lower(), {**item, "_entry": True}))
    aux = config.get("auxiliary")
    if isinstance(aux, Mapping):
        for item in aux.values():
            if isinstance(item, Mapping):
                out.append((str(item.get("provider") or "").lower(), dict(item)))
    return out


def load_policy(
    config_path: Path | None,
    *,
    local: Iterable[str] = (),
    paid: Iterable[str] = (),
    openrouter_url: str | None = None,
) -> EndpointPolicy:
    """The policy from Hermes' config.yaml (skipped when missing or unreadable: the
    address rules still apply) and the user's lists."""
    from hermes_dash.hermes.config import ConfigError, load_config

    config: dict[str, Any] | None = None
    if config_path is not None and config_path.is_file():
        try:
            config = load_config(config_path)
        except ConfigError:
            config = None
    return EndpointPolicy.build(config, local=local, paid=paid, openrouter_url=openrouter_url)
