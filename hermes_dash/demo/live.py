"""The demo's live feed: synthetic attempts written through the real recorder's writer."""

from __future__ import annotations

import heapq
import random
import threading
import time
from typing import Any

from hermes_dash.calllog import recorder
from hermes_dash.demo.generator import CallSynth


class DemoFeed:
    """A background thread that starts a call every second or so, in bursts, and records
    each attempt when it ends, as the wire recorder would (retries follow their wait)."""

    def __init__(self, seed: int = 2, rate_per_s: float = 1.5):
        self.synth = CallSynth(seed)
        self.rng = random.Random(seed)
        self.rate_per_s = rate_per_s
        self._pending: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-feed", daemon=True)

    def emit(self, now: float | None = None) -> None:
        """Start one call now; its attempts are recorded as they end (see ``due``)."""
        t = time.time() if now is None else now
        for row in self.synth.calls(t):
            self._seq += 1
            heapq.heappush(self._pending, (row.get("ended_at") or t, self._seq, row))
        self.due(t)

    def due(self, now: float | None = None) -> int:
        """Record every attempt that has ended by ``now``; returns how many."""
        t = time.time() if now is None else now
        n = 0
        while self._pending and self._pending[0][0] <= t:
            recorder.write_row(heapq.heappop(self._pending)[2])
            n += 1
        return n

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
