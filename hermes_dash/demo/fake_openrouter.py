"""A fake OpenRouter for ``--demo``: an httpx transport answering from the demo call log.

The account's usage is the demo key's starting usage plus every cost in the call log, so
the spend panel rises as the live feed writes calls; everything above the transport (the
real client, parsers, poller, enrichment) runs unchanged.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hermes_dash.demo.catalog import (
    CREDITS_HEADROOM,
    LIMIT_HEADROOM,
    MODELS,
    PROVIDERS,
    model_by_id,
)

if TYPE_CHECKING:
    import httpx


class DemoOpenRouter:
    """Answers ``/key``, ``/credits``, ``/models``, ``/providers``, endpoints, ``/generation``,
    and the management API's ``/keys`` and ``/activity``."""

    def __init__(
        self, db_path: Path, *, failing: bool = False, clock: Callable[[], float] = time.time
    ):
        self.db_path = db_path
        self.clock = clock
        #: Tests flip this to make every answer a 503, then back to heal.
        self.failing = failing
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        # The demo key was bought and limited with room to spare over the generated
        # history, so the runway and limit panels show believable numbers.
        month_start = self._now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        self.credits_total = round(self._spend_since(0) + CREDITS_HEADROOM, 2)
        self.key_limit = round(self._spend_since(month_start.timestamp()) + LIMIT_HEADROOM, 0)

    def transport(self) -> httpx.MockTransport:
        """The transport to give the real client (httpx is imported here, not at start)."""
        import httpx

        return httpx.MockTransport(self.handle)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False
            )
        return self._conn

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def _spend_since(self, since: float) -> float:
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT COALESCE(SUM(cost_usd), 0) FROM calls_hourly WHERE hour >= ?",
                    (int(since) // 3600 * 3600,),
                )
                .fetchone()
            )
        return float(row[0])

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Route one request."""
        import httpx

        if self.failing:
            return httpx.Response(503, json={"error": {"code": 503, "message": "demo outage"}})
        path = request.url.path.removeprefix("/api/v1")
        if path == "/key":
            return httpx.Response(200, json=self._key())
        if path == "/credits":
            used = self._spend_since(0)
            return httpx.Response(
                200, json={"data": {"total_credits": self.credits_total, "total_usage": used}}
            )
        if path == "/models":
            return httpx.Response(200, json={"data": [self._model(m.id) for m in MODELS]})
        if path == "/providers":
            data = [{"name": name, "slug": slug} for name, slug in PROVIDERS]
            return httpx.Response(200, json={"data": data})
        if path.startswith("/models/") and path.endswith("/endpoints"):
            model_id = path.removeprefix("/models/").removesuffix("/endpoints")
            return self._endpoints(model_id)
        if path == "/generation":
            return self._generation(request.url.params.get("id", ""))
        if path == "/keys" and request.method == "GET":
            offset = int(request.url.params.get("offset", "0") or 0)
            return httpx.Response(200, json={"data": self._keys()[offset : offset + 100]})
        if path == "/activity":
            return httpx.Response(
                200, json={"data": self._activity(request.url.params.get("date"))}
            )
        return httpx.Response(404, json={"error": {"code": 404, "message": "not in the demo"}})

    def _activity(self, date: str | None) -> list[dict[str, Any]]:
        """``/activity`` from the log: the 30 completed UTC days before the clock's day,
        per day, model and upstream, OpenRouter's calls only (local ones are not billed)."""
        today = int(self.clock()) // 86400 * 86400
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT CAST(started_at / 86400 AS INTEGER) * 86400 AS day, model, "
                    "upstream, SUM(cost_usd), COUNT(*), SUM(input_tokens), "
                    "SUM(output_tokens), SUM(COALESCE(reasoning_tokens, 0)) FROM calls "
                    "WHERE provider = 'openrouter' AND upstream IS NOT NULL "
                    "AND started_at >= ? AND started_at < ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                    (today - 30 * 86400, today),
                )
                .fetchall()
            )
        out = []
        for day, model, upstream, usd, n, prompt, completion, reasoning in rows:
            iso = dt.datetime.fromtimestamp(day, dt.UTC).date().isoformat()
            if date in (None, iso):
                out.append(
                    {
                        "date": iso,
                        "model": model,
                        "model_permaslug": model,
                        "endpoint_id": f"{model}:{upstream}",
                        "provider_name": upstream,
                        "usage": round(usd or 0.0, 6),
                        "byok_usage_inference": 0.0,
                        "requests": n,
                        "prompt_tokens": prompt or 0,
                        "completion_tokens": completion or 0,
                        "reasoning_tokens": reasoning,
                    }
                )
        return out

    def _key(self) -> dict[str, Any]:
        now = self._now()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        week = day - dt.timedelta(days=day.weekday())
        month = day.replace(day=1)
        usage = self._spend_since(0)
        return {
            "data": {
                "label": "sk-or-v1-dem...o000",
                "limit": self.key_limit,
                "limit_remaining": max(0.0, self.key_limit - self._spend_since(month.timestamp())),
                "limit_reset": "monthly",
                "usage": usage,
                "usage_daily": self._spend_since(day.timestamp()),
                "usage_weekly": self._spend_since(week.timestamp()),
                "usage_monthly": self._spend_since(month.timestamp()),
                "is_free_tier": False,
                "is_management_key": False,
            }
        }

    def _keys(self) -> list[dict[str, Any]]:
        """The management API's key list: the demo key and two others of the account."""
        mine = self._key()["data"]
        base = {"disabled": False, "byok_usage": 0.0, "include_byok_in_limit": False}
        return [
            {**base, **mine, "hash": "d3m0a1" + "0" * 58, "name": "hermes-main"},
            {
                **base,
                "hash": "d3m0b2" + "1" * 58,
                "name": "cron-box",
                "label": "sk-or-v1-cro...n111",
                "limit": 5.0,
                "limit_remaining": 3.1,
                "limit_reset": "daily",
                "usage": 212.4,
                "usage_daily": 1.9,
                "usage_weekly": 14.2,
                "usage_monthly": 61.0,
            },
            {
                **base,
                "hash": "d3m0c3" + "2" * 58,
                "name": "laptop (BYOK)",
                "label": "sk-or-v1-lap...p222",
                "limit": None,
                "limit_remaining": None,
                "limit_reset": None,
                "usage": 18.7,
                "usage_daily": 0.0,
                "usage_weekly": 2.4,
                "usage_monthly": 5.5,
                "byok_usage": 9.8,
            },
        ]

    @staticmethod
    def _model(model_id: str) -> dict[str, Any]:
        m = model_by_id(model_id)
        assert m is not None
        return {
            "id": m.id,
            "name": m.name,
            "context_length": 131072,
            "pricing": {
                "prompt": f"{m.prompt_per_m / 1e6:.10f}",
                "completion": f"{m.completion_per_m / 1e6:.10f}",
            },
        }

    def _endpoints(self, model_id: str) -> httpx.Response:
        import httpx

        m = model_by_id(model_id)
        if m is None or m.is_local:
            return httpx.Response(404, json={"error": {"code": 404, "message": "No such model"}})
        endpoints = [
            {
                "provider_name": u.name,
                "tag": u.slug,
                "quantization": u.quantization,
                "context_length": 131072,
                "uptime_last_30m": 99.9 - i * 0.7,
                "latency_last_30m": {"p50": u.latency_s * 1000 * 0.4},
                "throughput_last_30m": {"p50": 60 + 25 * i},
                "status": 0,
                "pricing": {
                    "prompt": f"{m.prompt_per_m * u.price_factor / 1e6:.10f}",
                    "completion": f"{m.completion_per_m * u.price_factor / 1e6:.10f}",
                },
            }
            for i, u in enumerate(m.upstreams)
        ]
        return httpx.Response(200, json={"data": {"id": m.id, "endpoints": endpoints}})

    def _generation(self, generation_id: str) -> httpx.Response:
        import httpx

        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT model, input_tokens, output_tokens, latency_s FROM calls "
                    "WHERE generation_id = ? AND cost_source IS NULL",
                    (generation_id,),
                )
                .fetchone()
            )
        m = model_by_id(row[0]) if row else None
        if row is None or m is None:
            return httpx.Response(404, json={"error": {"code": 404, "message": "not found"}})
        # The demo's generation ids carry their upstream in the log's row order; pick the
        # model's main upstream and price the tokens at its rate.
        upstream = m.upstreams[0]
        cost = ((row[1] or 0) * m.prompt_per_m + (row[2] or 0) * m.completion_per_m) / 1e6
        return httpx.Response(
            200,
            json={
                "data": {
                    "id": generation_id,
                    "provider_name": upstream.name,
                    "model": m.id,
                    "total_cost": cost * upstream.price_factor,
                    "latency": (row[3] or 0) * 1000,
                    "tokens_prompt": row[1],
                    "tokens_completion": row[2],
                }
            },
        )
