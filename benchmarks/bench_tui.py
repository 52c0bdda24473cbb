"""The dashboard against a bare Textual app showing one label, each in its own process.

    python benchmarks/bench_tui.py          # 200k-call log, 15 s idle
    python benchmarks/bench_tui.py --full   # 1M-call log for start-up, 10M for memory, 60 s idle
    python benchmarks/bench_tui.py --startup-only --runs 20   # the start-up rows alone

Start-up is timed as a user sees it: ``hermes-dash`` (the real command line, with a key and
a fake OpenRouter on 127.0.0.1) and the bare app are each launched in a pseudo-terminal,
and the clock stops when the terminal shows the first frame with the call log's numbers
(then the charts, then the balance from OpenRouter). Memory and idle CPU come from the
app run headless in its own process.

Targets: start-up to the first frame with data at most 1.5x the bare app; peak RSS under
150 MB with the big log (after switching through every window); idle CPU under 2 % of a core
at the default 30 s refresh.
"""

from __future__ import annotations

import argparse
import compileall
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import call_log, median, table
from _launch import demo_openrouter_server, time_to_markers

HERE = Path(__file__).resolve().parent
PROBE = str(HERE / "_tui_probe.py")
BARE = str(HERE / "_bare_app.py")
#: What the terminal shows at each stage of start-up.
STAGES = (
    ("first frame with data", ("Logged 24h:", "429s in 24h:")),
    ("charts drawn", ("spend per interval", "HTTP 429s per interval")),
    ("balance from OpenRouter", ("Balance $",)),
)


HEADER = ["measure", "bare", "hermes-dash", "ratio", "target met"]


def probe(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, PROBE, *args], capture_output=True, text=True, check=True, timeout=1800
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def startup_rows(db: Path, runs: int) -> list[list[str]]:
    """Launch the bare app and the dashboard in turn, ``runs`` times each."""
    # As after ``pip install``: the package's bytecode is compiled, not built on first run.
    compileall.compile_dir(str(HERE.parent / "hermes_dash"), quiet=1)
    home = tempfile.mkdtemp(prefix="hermes-dash-bench-")
    bare: list[float] = []
    dash: list[list[float]] = []
    with demo_openrouter_server(db, float(db.stem.split("-at")[1])) as url:
        cmd = [sys.executable, "-m", "hermes_dash", "--hermes-home", home, "--db", str(db)]
        cmd += ["--openrouter-url", url]
        env = {"OPENROUTER_API_KEY": "sk-or-v1-" + "0" * 64}
        for _ in range(runs):
            bare += time_to_markers([sys.executable, BARE], [["hello"]])
            dash.append(time_to_markers(cmd, [list(m) for _, m in STAGES], env=env))
    base = median(bare)
    rows = []
    for i, (name, _) in enumerate(STAGES):
        t = median([d[i] for d in dash])
        target = ("yes" if t / base <= 1.5 else "NO") if i == 0 else "-"
        rows.append(
            [
                f"start-up to {name} (s, median of {runs})",
                f"{base:.3f}",
                f"{t:.3f}",
                f"{t / base:.2f}x",
                target,
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true")
    parser.add_argument(
        "--startup-only",
        action="store_true",
        help="time the start-up only (no memory or idle runs)",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="launches of each app (default 7, 15 with --full)"
    )
    args = parser.parse_args()
    full = args.full
    n_start = 1_000_000 if full else 200_000
    # The start-up log ends at the current hour: the dashboard opens on the last 24 h.
    live_db = call_log(n_start, now=time.time() // 3600 * 3600)
    rows = startup_rows(live_db, runs=args.runs or (15 if full else 7))
    if args.startup_only:
        table(f"TUI start-up vs bare Textual app ({n_start:,}-call log)", HEADER, rows)
        return
    start_db = str(call_log(n_start))
    mem_db = str(call_log(10_000_000)) if full else start_db
    idle = "60" if full else "15"

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
        HEADER,
        rows,
    )


if __name__ == "__main__":
    main()
