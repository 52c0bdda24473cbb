"""The demo's live feed: synthetic calls pushed through the real recorder plugin hooks."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from hermes_dash.calllog import recorder
from hermes_dash.demo.generator import CallSynth


def hook_kwargs(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Turn a synthetic row into the hook name and keyword arguments Hermes would send."""
    common = {
        "task_id": row.get("task_id") or "",
        "turn_id": "",
        "api_request_id": row.get("request_id") or "",
        "session_id": row.get("session_id") or "",
        "platform": row.get("platform") or "",
        "model": row["model"],
        "provider": row["provider"],
        "base_url": f"https://{row['base_url_host']}/v1",
        "api_mode": "chat_completions",
        "api_call_count": 1,
        "api_duration": row["latency_s"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
    }
    if row["status"] != "ok":
        return "api_request_error", {
            **common,
            "status_code": row["http_status"],
            "retry_count": row.get("retry_count"),
            "max_retries": 3,
            "retryable": True,
            "reason": row.get("error_reason"),
            "error": {"type": "RateLimitError", "message": "(demo)"},
            "request": {},
        }
    response: dict[str, Any] = {"model": row["model"], "finish_reason": row.get("finish_reason")}
    if row.get("upstream"):
        response["upstream_provider"] = row["upstream"]
    if row.get("generation_id"):
        response["id"] = row["generation_id"]
    usage = {
        "input_tokens": row.get("input_tokens"),
        "output_tokens": row.get("output_tokens"),
        "cache_read_tokens": row.get("cache_read_tokens"),
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
    }
    if row.get("cost_source") == "openrouter":
        usage["cost"] = row.get("cost_usd")
    return "post_api_request", {
        **common,
        "finish_reason": row.get("finish_reason"),
        "response_model": row["model"],
        "response": response,
        "usage": usage,
    }


class DemoFeed:
    """A background thread that records a call every second or so, in bursts."""

    def __init__(self, seed: int = 2, rate_per_s: float = 1.5):
        self.synth = CallSynth(seed)
        self.rng = random.Random(seed)
        self.rate_per_s = rate_per_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-feed", daemon=True)

    def emit(self, now: float | None = None) -> None:
        """Record one call through the recorder's hooks, as Hermes would."""
        row = self.synth.call(time.time() if now is None else now)
        name, kwargs = hook_kwargs(row)
        if name == "post_api_request":
            recorder.on_post_api_request(**kwargs)
        else:
            recorder.on_api_request_error(**kwargs)

    def _run(self) -> None:
        while not self._stop.wait(self.rng.expovariate(self.rate_per_s)):
            for _ in range(self.rng.choice((1, 1, 1, 2, 3))):
                self.emit()

    def start(self) -> None:
        """Start feeding."""
        self._thread.start()

    def stop(self) -> None:
        """Stop feeding."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
