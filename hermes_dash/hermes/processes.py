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


def _home_of(entry: Path) -> Path | None:
    """The Hermes home a process uses (its HERMES_HOME, else ~/.hermes of its HOME);
    None when its environment cannot be read (another user's process)."""
    try:
        raw = (entry / "environ").read_bytes()
    except OSError:
        return None
    env = dict(
        item.decode("utf-8", "replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item
    )
    if env.get("HERMES_HOME"):
        return Path(env["HERMES_HOME"])
    return Path(env.get("HOME") or "/") / ".hermes"


def _same_home(entry: Path, home: Path | None) -> bool:
    """Whether the process may be using ``home``: any home when none is asked for, and a
    process whose environment cannot be read is counted (it may be)."""
    if home is None:
        return True
    theirs = _home_of(entry)
    if theirs is None:
        return True
    try:
        return theirs.resolve() == home.resolve()
    except OSError:
        return theirs == home


def _hermes_entries(proc: Path, home: Path | None) -> list[Path]:
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    out: list[Path] = []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        if argv and _is_hermes(argv) and _same_home(entry, home):
            out.append(entry)
    return out


def hermes_running(proc: Path = Path("/proc"), home: Path | None = None) -> bool:
    """Whether any process of this machine looks like Hermes Agent (never hermes-dash);
    with ``home``, only one that uses that Hermes home."""
    return bool(_hermes_entries(proc, home))


def _boot_time(proc: Path) -> float | None:
    try:
        for line in (proc / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def hermes_start_times(proc: Path = Path("/proc"), home: Path | None = None) -> list[float]:
    """When each running Hermes process started (unix seconds), oldest first; [] where
    /proc cannot tell. A process reads provider_routing when it starts, so one started
    before a change still sends the old routing. With ``home``, only the processes that
    use that Hermes home (another home's Hermes reads another config)."""
    boot = _boot_time(proc)
    if boot is None:
        return []
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: list[float] = []
    for entry in _hermes_entries(proc, home):
        try:
            # Field 22 (starttime, in clock ticks since boot) follows the ")" that ends the
            # command name, which may itself hold spaces and parentheses.
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            out.append(boot + int(fields[19]) / ticks)
        except (OSError, ValueError, IndexError):
            continue
    return sorted(out)
