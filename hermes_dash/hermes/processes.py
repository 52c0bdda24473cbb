"""Is Hermes running on this machine? (Read from /proc; False where there is none.)"""

from __future__ import annotations

import os
from pathlib import Path

#: Command names a running Hermes Agent shows in its argv (console script or module).
HERMES_COMMANDS = frozenset({"hermes", "hermes-agent", "hermes_cli", "hermes-gateway"})


def _is_hermes(argv: list[str]) -> bool:
    for arg in argv[:3]:
        name = os.path.basename(arg)
        if name in HERMES_COMMANDS:
            return True
    # python -m hermes_cli.main ...
    return "-m" in argv[:3] and any(a.split(".")[0] in HERMES_COMMANDS for a in argv[1:4])


def hermes_running(proc: Path = Path("/proc")) -> bool:
    """Whether any process of this machine looks like Hermes Agent (never hermes-dash)."""
    try:
        entries = list(proc.iterdir())
    except OSError:
        return False
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        if argv and _is_hermes(argv):
            return True
    return False
