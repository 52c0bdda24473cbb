"""The dashboard against a bare Textual app showing one label, each in its own process.

    python benchmarks/bench_tui.py          # 200k-call log, 15 s idle
    python benchmarks/bench_tui.py --full   # 1M-call log for start-up, 10M for memory, 60 s idle

Targets: start-up to the first frame with data at most 1.5x the bare app; peak RSS under
150 MB with the big log (after switching through every window); idle CPU under 2 % of a core
at the default 30 s refresh.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _common import call_log, median, table

PROBE = str(Path(__file__).with_name("_tui_probe.py"))


def probe(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, PROBE, *args], capture_output=True, text=True, check=True, timeout=1800
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true")
    full = parser.parse_args().full
    start_db = str(call_log(1_000_000 if full else 200_000))
    mem_db = str(call_log(10_000_000)) if full else start_db
    idle = "60" if full else "15"

    bare = [probe("--mode", "bare")["first_frame_s"] for _ in range(5)]
    dash = [probe("--mode", "dash", "--db", start_db)["first_frame_s"] for _ in range(5)]
    ratio = median(dash) / median(bare)
    rows = [
        [
            "start-up to first frame with data (s, median of 5)",
            f"{median(bare):.3f}",
            f"{median(dash):.3f}",
            f"{ratio:.2f}x",
            "yes" if ratio <= 1.5 else "NO",
        ]
    ]

    b = probe("--mode", "bare", "--idle", "2")
    d = probe("--mode", "dash", "--db", mem_db, "--exercise")
    rows.append(
        [
            "peak RSS after every window + calls browser (MB)",
            f"{b['peak_rss_mb']:.0f}",
            f"{d['peak_rss_mb']:.0f}",
            f"{d['peak_rss_mb'] / b['peak_rss_mb']:.2f}x",
            "yes" if d["peak_rss_mb"] < 150 else "NO",
        ]
    )

    bi = probe("--mode", "bare", "--idle", idle)
    di = probe("--mode", "dash", "--db", start_db, "--idle", idle)
    rows.append(
        [
            f"idle CPU over {idle} s (% of one core)",
            f"{bi['idle_cpu_pct']:.2f}",
            f"{di['idle_cpu_pct']:.2f}",
            # A bare app idles at about 0 %: a ratio to it says nothing; the target is absolute.
            "n/a"
            if bi["idle_cpu_pct"] < 0.05
            else f"{di['idle_cpu_pct'] / bi['idle_cpu_pct']:.1f}x",
            "yes" if di["idle_cpu_pct"] < 2 else "NO",
        ]
    )
    size = lambda p: Path(p).stem.split("-")[-1]  # noqa: E731
    table(
        f"TUI vs bare Textual app (start-up/idle log {int(size(start_db)):,} calls, memory log "
        f"{int(size(mem_db)):,} calls)",
        ["measure", "bare", "hermes-dash", "ratio", "target met"],
        rows,
    )


if __name__ == "__main__":
    main()
