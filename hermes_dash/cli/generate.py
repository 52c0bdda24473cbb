"""``demo --generate``: a synthetic call log, for trying the dashboard and for benchmarks."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli.errors import UsageError
from hermes_dash.text import clean


def add_generate_parser(
    parser: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``demo`` (it takes none of the common ones: it writes its own file)."""
    parser.add_argument("--generate", type=int, required=True, metavar="N", help="number of calls")
    parser.add_argument("--db", required=True, metavar="FILE", help="the SQLite file to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--days", type=float, default=7.0, help="days of history (default 7)")
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """``hermes-dash demo --generate N --db FILE``."""
    from hermes_dash.demo.generator import generate

    if args.generate < 0:
        raise UsageError("--generate takes a number of calls >= 0")
    if args.days <= 0:
        raise UsageError("--days must be more than 0")
    started = time.perf_counter()
    n = generate(CallStore(Path(args.db)), args.generate, seed=args.seed, days=args.days)
    print(
        f"wrote {n:,} calls to {clean(args.db)} in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0
