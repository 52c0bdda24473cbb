"""The checks that doctor prints and the dashboard words its empty panels with: the record
of one check, the order a new user fixes them in, and the commands a fix names.

Kept apart from :mod:`hermes_dash.services.doctor` (which makes the checks) so the
dashboard's first frame and the command line need not load what checking takes.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

from hermes_dash.hermes.paths import hermes_root
from hermes_dash.services.settings import DashSettings

#: ``fail`` needs fixing (doctor exits 1); ``warn`` deserves a look; ``info`` is context;
#: ``skip`` could not be checked because an earlier check failed.
Status = Literal["ok", "warn", "fail", "info", "skip"]

#: The checks that make a first run work, in the order a new user fixes them: the
#: dashboard words its empty panels after the first of these that is not ok.
GUIDE_ORDER = (
    "home",
    "config",  # the recorder is enabled in it: one that cannot be read or edited comes first
    "key",
    "recorder_installed",
    "recorder_enabled",
    "recorder_version",
    "recorder_writing",
    "call_log",
)

KEYS_URL = "https://openrouter.ai/settings/keys"
CREDITS_URL = "https://openrouter.ai/settings/credits"


@dataclass(frozen=True)
class Check:
    """One thing doctor looked at: how it stands, in words, and the command that fixes it."""

    id: str
    title: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The JSON form (every text already cleaned of control characters)."""
        return asdict(self)


#: Each check's name on screen, by id.
TITLES = {
    "home": "Hermes home",
    "config": "config.yaml",
    "key": "OpenRouter key",
    "key_accepted": "key accepted",
    "management_key": "management key",
    "recorder_installed": "recorder plugin",
    "recorder_enabled": "recorder enabled",
    "recorder_version": "recorder version",
    "recorder_writing": "recorder writing",
    "recorder_dropped": "rows dropped",
    "call_log": "call log",
    "hermes_running": "Hermes processes",
    "routing": "provider_routing",
}


def check(check_id: str, status: Status, detail: str, fix: str | None = None) -> Check:
    """A check with its title from :data:`TITLES`."""
    return Check(check_id, TITLES[check_id], status, detail, fix)


def hermes_dash_cmd(settings: DashSettings, args: str, env: Mapping[str, str] | None = None) -> str:
    """``hermes-dash ARGS`` as the user must type it: with ``--hermes-home`` when the home
    is not the one the environment points at, so the fix acts on the home checked."""
    env = os.environ if env is None else env
    home = settings.paths.home
    if home != hermes_root(env):
        return f"hermes-dash {args} --hermes-home {shlex.quote(str(home))}"
    return f"hermes-dash {args}"


def install_cmd(settings: DashSettings) -> str:
    """The command that installs and enables the recorder."""
    return hermes_dash_cmd(settings, "plugin install")


def needs_fixing(checks: list[Check]) -> bool:
    """Whether any check failed (doctor's exit 1)."""
    return any(c.status == "fail" for c in checks)


def first_steps(checks: list[Check]) -> list[Check]:
    """The checks of a first run that are not in order, in the order to fix them: the
    dashboard's words for an empty panel."""
    by_id = {c.id: c for c in checks}
    found = (by_id.get(check_id) for check_id in GUIDE_ORDER)
    # A config.yaml not written yet is only a warning: installing the recorder makes it.
    return [
        c
        for c in found
        if c is not None and (c.status == "fail" or (c.status == "warn" and c.id != "config"))
    ]
