"""Typed records for OpenRouter answers, and parsers that raise only MalformedResponse.

A field of the wrong type makes the answer malformed; a number that is not finite
(``NaN``, ``Infinity``, ``1e400``, an integer too large for a float) is unknown (None):
the server said "a number" but not one anybody can add up or show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hermes_dash.openrouter.errors import MalformedResponse


def _data(body: Any, kind: type = dict) -> Any:
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), kind):
        raise MalformedResponse(f"unexpected response shape: no 'data' {kind.__name__}")
    return body["data"]


def _num(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MalformedResponse(f"field {key!r} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        return None
    except ValueError:
        raise MalformedResponse(f"field {key!r} is not a number") from None
    return number if math.isfinite(number) else None


def _spend(obj: Mapping[str, Any], key: str) -> float | None:
    """An amount spent: a negative one is no spend (a broken or hostile answer) and would
    shrink every total it joins, so it is unknown."""
    value = _num(obj, key)
    return None if value is None or value < 0 else value


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResponse(f"field {key!r} is not a string")
    return value


def _bool(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise MalformedResponse(f"field {key!r} is not a boolean")
    return value


def _mapping(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedResponse(f"field {key!r} is not an object")
    return value


@dataclass(frozen=True)
class KeyInfo:
    """``GET /key``: the key's spend and limit, USD."""

    label: str | None
    usage: float | None
    usage_daily: float | None
    usage_weekly: float | None
    usage_monthly: float | None
    limit: float | None
    limit_remaining: float | None
    limit_reset: str | None
    is_free_tier: bool | None
    is_management_key: bool | None
    free_requests_used: int | None = None
    free_requests_limit: int | None = None

    @classmethod
    def parse(cls, body: Any) -> KeyInfo:
        """Parse a ``/key`` body."""
        d = _data(body)
        free = _mapping(d, "free_model_daily_requests")
        used, limit = _num(free, "used"), _num(free, "limit")
        return cls(
            free_requests_used=None if used is None else int(used),
            free_requests_limit=None if limit is None else int(limit),
            label=_str(d, "label"),
            usage=_spend(d, "usage"),
            usage_daily=_spend(d, "usage_daily"),
            usage_weekly=_spend(d, "usage_weekly"),
            usage_monthly=_spend(d, "usage_monthly"),
            limit=_num(d, "limit"),
            limit_remaining=_num(d, "limit_remaining"),
            limit_reset=_str(d, "limit_reset"),
            is_free_tier=_bool(d, "is_free_tier"),
            is_management_key=_bool(d, "is_management_key"),
        )


@dataclass(frozen=True)
class Credits:
    """``GET /credits``: credits bought and used, USD."""

    total_credits: float
    total_usage: float

    @property
    def balance(self) -> float:
        """Credits left."""
        return self.total_credits - self.total_usage

    @classmethod
    def parse(cls, body: Any) -> Credits | None:
        """Parse a ``/credits`` body; ``{0, 0}`` means unknown and gives None."""
        d = _data(body)
        total, used = _num(d, "total_credits"), _num(d, "total_usage")
        if total is None or used is None:
            raise MalformedResponse("credits response lacks total_credits/total_usage")
        if total == 0 and used == 0:
            return None
        return cls(total, used)


@dataclass(frozen=True)
class Generation:
    """``GET /generation``: what one call cost and where it ran."""

    id: str | None
    provider_name: str | None
    model: str | None
    total_cost: float | None
    latency_ms: float | None
    generation_time_ms: float | None
    tokens_prompt: float | None
    tokens_completion: float | None
    finish_reason: str | None

    @classmethod
    def parse(cls, body: Any) -> Generation:
        """Parse a ``/generation`` body."""
        d = _data(body)
        return cls(
            id=_str(d, "id"),
            provider_name=_str(d, "provider_name"),
            model=_str(d, "model"),
            total_cost=_num(d, "total_cost"),
            latency_ms=_num(d, "latency"),
            generation_time_ms=_num(d, "generation_time"),
            tokens_prompt=_num(d, "tokens_prompt"),
            tokens_completion=_num(d, "tokens_completion"),
            finish_reason=_str(d, "finish_reason"),
        )


#: Price keys of a ``pricing`` object and the field each one fills.
_PRICE_KEYS = {
    "prompt": "prompt",
    "completion": "completion",
    "input_cache_read": "cache_read",
    "input_cache_write": "cache_write",
    "request": "request",
    "internal_reasoning": "reasoning",
}


@dataclass(frozen=True)
class PriceTier:
    """Prices that replace the base ones from ``min_prompt_tokens`` prompt tokens on
    (OpenRouter's ``pricing.overrides``); keys it leaves out keep the base price."""

    min_prompt_tokens: int
    prices: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Pricing:
    """USD per token (per request for ``request``); OpenRouter publishes them as strings."""

    prompt: float = 0.0
    completion: float = 0.0
    cache_read: float | None = None
    cache_write: float | None = None
    request: float | None = None
    reasoning: float | None = None
    tiers: tuple[PriceTier, ...] = ()

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Pricing:
        """Parse a ``pricing`` object (prompt-length tiers included)."""
        tiers: list[PriceTier] = []
        overrides = d.get("overrides")
        for item in overrides if isinstance(overrides, list) else []:
            if not isinstance(item, Mapping) or set(item) & {"utc_start", "utc_end"}:
                continue  # time-of-day discounts: not a prompt-length tier
            try:
                floor = _num(item, "min_prompt_tokens")
                prices = tuple(
                    (field, value)
                    for key, field in _PRICE_KEYS.items()
                    if (value := _num(item, key)) is not None
                )
            except MalformedResponse:
                continue  # one odd tier must not cost the whole price list
            if floor is not None and prices:
                tiers.append(PriceTier(int(floor), prices))
        return cls(
            prompt=_num(d, "prompt") or 0.0,
            completion=_num(d, "completion") or 0.0,
            cache_read=_num(d, "input_cache_read"),
            cache_write=_num(d, "input_cache_write"),
            request=_num(d, "request"),
            reasoning=_num(d, "internal_reasoning"),
            tiers=tuple(tiers),
        )

    def for_prompt(self, prompt_tokens: int) -> Pricing:
        """The prices a call with this many prompt tokens pays: among the tiers whose
        floor it reaches, later ones win per key (as OpenRouter applies them)."""
        changes: dict[str, float] = {}
        for tier in self.tiers:
            if prompt_tokens >= tier.min_prompt_tokens:
                changes.update(tier.prices)
        if not changes:
            return self
        return replace(self, tiers=(), **changes)


@dataclass(frozen=True)
class ActivityRow:
    """One row of ``GET /activity``: a completed UTC day's spend on one model and upstream
    (USD; a count or amount the server left out or sent as no number is None)."""

    date: str
    model: str
    provider_name: str | None
    usage: float | None
    requests: int | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    byok_usage_inference: float | None = None

    @classmethod
    def parse(cls, item: Any) -> ActivityRow:
        """Parse one activity entry."""
        if not isinstance(item, Mapping):
            raise MalformedResponse("activity entry is not an object")
        day = _str(item, "date")
        if not day:
            raise MalformedResponse("activity entry lacks a date")
        return cls(
            date=day[:10],
            model=_str(item, "model") or "",
            provider_name=_str(item, "provider_name"),
            usage=_spend(item, "usage"),
            requests=_count(item, "requests"),
            prompt_tokens=_count(item, "prompt_tokens"),
            completion_tokens=_count(item, "completion_tokens"),
            reasoning_tokens=_count(item, "reasoning_tokens"),
            byok_usage_inference=_num(item, "byok_usage_inference"),
        )

    @classmethod
    def parse_list(cls, body: Any) -> list[ActivityRow]:
        """Parse an ``/activity`` body."""
        return [cls.parse(item) for item in _data(body, list)]


def _count(obj: Mapping[str, Any], key: str) -> int | None:
    """A count: a negative or fractional one is not a count, and unknown is not 0."""
    value = _num(obj, key)
    if value is None or value < 0 or value != int(value) or value > 2**53:
        return None
    return int(value)


@dataclass(frozen=True)
class ModelInfo:
    """One entry of ``GET /models``."""

    id: str
    name: str
    pricing: Pricing
    context_length: float | None = None

    @classmethod
    def parse_list(cls, body: Any) -> list[ModelInfo]:
        """Parse a ``/models`` body."""
        out = []
        for item in _data(body, list):
            if not isinstance(item, Mapping):
                raise MalformedResponse("model entry is not an object")
            model_id = _str(item, "id")
            if not model_id:
                raise MalformedResponse("model entry lacks an id")
            out.append(
                cls(
                    id=model_id,
                    name=_str(item, "name") or model_id,
                    pricing=Pricing.parse(_mapping(item, "pricing")),
                    context_length=_num(item, "context_length"),
                )
            )
        return out


@dataclass(frozen=True)
class Endpoint:
    """One provider endpoint of a model (``/models/{author}/{slug}/endpoints``)."""

    provider_name: str
    tag: str | None
    pricing: Pricing
    quantization: str | None
    context_length: float | None
    uptime_last_30m: float | None
    latency_p50_ms: float | None
    throughput_p50: float | None
    status: float | None

    @property
    def slug(self) -> str:
        """The routing slug: the tag (e.g. ``deepinfra/turbo``) or the lowercased name."""
        if self.tag:
            return self.tag
        return self.provider_name.lower().replace(" ", "-")

    @classmethod
    def parse_list(cls, body: Any) -> list[Endpoint]:
        """Parse an endpoints body."""
        data = _data(body)
        endpoints = data.get("endpoints")
        if not isinstance(endpoints, list):
            raise MalformedResponse("endpoints response lacks an 'endpoints' list")
        out = []
        for item in endpoints:
            if not isinstance(item, Mapping):
                raise MalformedResponse("endpoint entry is not an object")
            name = _str(item, "provider_name")
            if not name:
                raise MalformedResponse("endpoint entry lacks provider_name")
            out.append(
                cls(
                    provider_name=name,
                    tag=_str(item, "tag"),
                    pricing=Pricing.parse(_mapping(item, "pricing")),
                    quantization=_str(item, "quantization"),
                    context_length=_num(item, "context_length"),
                    uptime_last_30m=_num(item, "uptime_last_30m"),
                    latency_p50_ms=_num(_mapping(item, "latency_last_30m"), "p50"),
                    throughput_p50=_num(_mapping(item, "throughput_last_30m"), "p50"),
                    status=_num(item, "status"),
                )
            )
        return out


@dataclass(frozen=True)
class Provider:
    """One entry of ``GET /providers``."""

    name: str
    slug: str

    @classmethod
    def parse_list(cls, body: Any) -> list[Provider]:
        """Parse a ``/providers`` body."""
        out = []
        for item in _data(body, list):
            if not isinstance(item, Mapping):
                raise MalformedResponse("provider entry is not an object")
            slug = _str(item, "slug")
            if not slug:
                raise MalformedResponse("provider entry lacks a slug")
            out.append(cls(name=_str(item, "name") or slug, slug=slug))
        return out
