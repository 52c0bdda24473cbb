"""A small async client of Prometheus' HTTP API (instant and range queries, label values),
whose every failure is one :class:`PrometheusError` with a line fit to show."""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import httpx

from hermes_dash.text import clean, shown_url

#: Each request's deadline: a dashboard refresh must not hang on a slow server.
TIMEOUT_S = 10.0
#: An answer larger than this is not a dashboard's (a label with millions of values).
MAX_BODY_BYTES = 32 * 1024 * 1024


class PrometheusError(Exception):
    """Prometheus down, refusing, too slow, or answering something that is not its API."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant query: its labels and value."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and (time, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


#: Lone surrogates (from JSON ``"\\ud800"``): no UTF-8 can carry them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def quote(value: str) -> str:
    """A PromQL string literal (label matchers take Go's escapes; JSON's are a subset).

    Characters are sent as they are, not as ``\\u`` escapes: JSON writes one outside the
    basic plane (an emoji in a host's name) as a surrogate pair, which Go refuses. A lone
    surrogate (not text Prometheus can hold) becomes U+FFFD, which can be sent.
    """
    return json.dumps(_SURROGATE.sub("\ufffd", value), ensure_ascii=False)


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class PrometheusClient:
    """Queries one Prometheus server at ``base_url`` (``http://host:9090``)."""

    def __init__(
        self, base_url: str, *, http: httpx.AsyncClient | None = None, timeout: float = TIMEOUT_S
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: The URL to show anywhere: without a password it may hold.
        self.shown_url = shown_url(self.base_url)
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        #: The whole request's deadline: httpx's timeout is per read, and a server that
        #: sends a byte now and then would never reach it.
        self.deadline_s = timeout

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _get(self, path: str, params: dict[str, Any] | list[tuple[str, Any]]) -> Any:
        url = f"{self.base_url}{path}"
        where = self.shown_url
        try:
            async with asyncio.timeout(self.deadline_s):
                async with self._http.stream("GET", url, params=params) as r:
                    body = bytearray()
                    async for chunk in r.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            raise PrometheusError(f"Prometheus at {where} sent more than 32 MB")
                    status = r.status_code
        except (httpx.TimeoutException, TimeoutError):
            raise PrometheusError(f"Prometheus at {where} did not answer in time") from None
        except httpx.HTTPError as exc:
            reason = clean(str(exc) or type(exc).__name__, 200)
            raise PrometheusError(f"cannot reach Prometheus at {where}: {reason}") from None
        try:
            doc = json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict):
            raise PrometheusError(
                f"Prometheus at {where} answered HTTP {status} with something that is not "
                "its JSON API (is the URL right?)"
            )
        if status >= 400 or doc.get("status") != "success":
            parts = [clean(doc.get("errorType") or "", 60), clean(doc.get("error") or "", 300)]
            said = " ".join(p for p in parts if p) or "an error"
            raise PrometheusError(f"Prometheus answered HTTP {status}: {said}")
        return doc.get("data")

    async def query(self, promql: str, at: float) -> list[Sample]:
        """An instant query's vector (a scalar answer is one sample without labels)."""
        data = await self._get("/api/v1/query", {"query": promql, "time": f"{at:.3f}"})
        if not isinstance(data, dict):
            raise PrometheusError("Prometheus answered a query without data")
        result = data.get("result")
        if data.get("resultType") == "scalar" and isinstance(result, list) and len(result) == 2:
            return [Sample({}, _number(result[1]))]
        out = []
        for item in result if isinstance(result, list) else []:
            if not isinstance(item, dict):
                continue
            value = item.get("value")
            if isinstance(value, list) and len(value) == 2:
                out.append(Sample(_labels(item.get("metric")), _number(value[1])))
        return out

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """A range query's matrix."""
        data = await self._get(
            "/api/v1/query_range",
            {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"},
        )
        result = data.get("result") if isinstance(data, dict) else None
        out = []
        for item in result if isinstance(result, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("values"), list):
                continue
            points = [
                (_number(p[0]), _number(p[1]))
                for p in item["values"]
                if isinstance(p, list) and len(p) == 2
            ]
            out.append(Series(_labels(item.get("metric")), points))
        return out

    async def firing_alerts(self) -> list[FiringAlert]:
        """The alerts firing now (pending ones are left out)."""
        data = await self._get("/api/v1/alerts", {})
        alerts = data.get("alerts") if isinstance(data, dict) else None
        return [
            FiringAlert(_labels(a.get("labels")), _labels(a.get("annotations")))
            for a in (alerts if isinstance(alerts, list) else [])
            if isinstance(a, dict) and a.get("state") == "firing"
        ]

    async def label_values(self, label: str, match: str) -> list[str]:
        """The values ``label`` takes on the series ``match`` selects."""
        data = await self._get(f"/api/v1/label/{label}/values", [("match[]", match)])
        return sorted(v for v in data if isinstance(v, str)) if isinstance(data, list) else []


@dataclass(frozen=True)
class FiringAlert:
    """One alert Prometheus' rules hold firing, with its labels and annotations."""

    labels: dict[str, str]
    annotations: dict[str, str]


def _labels(metric: Any) -> dict[str, str]:
    if not isinstance(metric, dict):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in metric.items()}
