"""What a new user needs in place, checked one by one, each with the exact fix.

``hermes-dash doctor`` prints these checks; the dashboard runs the local ones (no
network) to word its empty states, so both always say the same thing.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from hermes_dash.calllog.recorder import PLUGIN_NAME
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.hermes.config import ConfigError, config_exists, load_config, routing_block
from hermes_dash.hermes.processes import hermes_running
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient, mask_key
from hermes_dash.openrouter.wire import unusable_key
from hermes_dash.routing.rules import RoutingRules, errors_in, validate
from hermes_dash.services.checks import (
    CREDITS_URL,
    KEYS_URL,
    Check,
    check,
    hermes_dash_cmd,
    install_cmd,
)
from hermes_dash.services.plugin import PluginStatus, plugin_dir, plugin_status
from hermes_dash.services.settings import DashSettings
from hermes_dash.text import clean


@dataclass(frozen=True)
class LocalReport:
    """The checks that need no network, with the recorder's state they were made from."""

    checks: list[Check]
    plugin: PluginStatus | None


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _home(settings: DashSettings) -> Check:
    home = settings.paths.home
    if home.is_dir():
        return check("home", "ok", clean(home))
    # A file (or a link that leads nowhere) in its place is not "missing": `hermes setup`
    # would fail on it just the same, so say what is there.
    what = "is not a folder" if home.exists() or home.is_symlink() else "does not exist"
    return check(
        "home",
        "fail",
        clean(f"{home} {what} (HERMES_HOME, else ~/.hermes)"),
        "hermes setup   # or: export HERMES_HOME=/path/to/your/hermes/home",
    )


def _config(settings: DashSettings) -> tuple[Check, dict[str, object] | None]:
    path = settings.paths.config
    if not config_exists(path):
        return (
            check("config", "warn", clean(f"{path} not written yet: Hermes runs on defaults")),
            None,
        )
    try:
        config = load_config(path)
    except ConfigError as exc:
        fix = hermes_dash_cmd(settings, "routing restore --list") + "   # or edit the line named"
        return check("config", "fail", clean(str(exc)), fix), None
    model = config.get("model")
    parts = []
    if isinstance(model, dict):
        parts += [
            f"model.{k} {model[k]}" for k in ("default", "provider", "base_url") if k in model
        ]
    elif isinstance(model, str):
        parts.append(f"model {model}")
    plugins = config.get("plugins")
    enabled = plugins.get("enabled") if isinstance(plugins, dict) else None
    shape = _plugins_shape(plugins, enabled)
    if shape:
        # `plugin install` (and the dashboard's i) would refuse to edit it: say so first.
        fix = f"edit {shlex.quote(str(path))} by hand: plugins: {{enabled: [{PLUGIN_NAME}]}}"
        return check("config", "fail", clean(f"{path}: {shape}"), clean(fix)), config
    if isinstance(enabled, list):
        parts.append("plugins.enabled [" + ", ".join(str(e) for e in enabled) + "]")
    detail = "valid YAML; Hermes reads " + ("; ".join(parts) if parts else "no model settings")
    return check("config", "ok", clean(detail, 300)), config


def _plugins_shape(plugins: object, enabled: object) -> str | None:
    """What is wrong with the ``plugins`` block's shape, if anything: the recorder cannot
    be listed in it as it stands."""
    if plugins is not None and not isinstance(plugins, dict):
        return "plugins is not a mapping, so no plugin can be enabled in it"
    if enabled is not None and not isinstance(enabled, list):
        return "plugins.enabled is not a list, so no plugin can be enabled in it"
    return None


def _key(settings: DashSettings) -> Check:
    key = settings.secrets.api_key
    env_file = shlex.quote(str(settings.paths.env_file))
    if key and (why := unusable_key(key)):
        return check(
            "key",
            "fail",
            f"{mask_key(key)}: {why}",
            clean(f"rewrite the OPENROUTER_API_KEY line of {env_file} (or the variable)"),
        )
    if key:
        return check("key", "ok", f"{mask_key(key)} (OPENROUTER_API_KEY)")
    path = settings.paths.env_file
    if (path.exists() or path.is_symlink()) and not path.is_file():
        # Appending to it would fail (a folder) or hang the shell (a FIFO): say what it is.
        return check(
            "key",
            "fail",
            clean(f"OPENROUTER_API_KEY is not set, and {path} is not a regular file"),
            clean(f"mv {env_file} {env_file}.old, then put OPENROUTER_API_KEY=... in a new one"),
        )
    return check(
        "key",
        "fail",
        "OPENROUTER_API_KEY is not set, nor in $HERMES_HOME/.env: no balance, limits or prices",
        clean(f"echo 'OPENROUTER_API_KEY=sk-or-v1-...' >> {env_file}   # a key from {KEYS_URL}"),
    )


def _management_key(settings: DashSettings) -> Check:
    key = settings.secrets.management_key
    if key and (why := unusable_key(key, "OPENROUTER_MANAGEMENT_KEY")):
        return check("management_key", "warn", f"{mask_key(key)}: {why}")
    if key:
        return check(
            "management_key",
            "ok",
            f"{mask_key(key)}: balance (/credits), key limits (k) and the bill per day",
        )
    env_file = shlex.quote(str(settings.paths.env_file))
    return check(
        "management_key",
        "info",
        "not set (optional): it unlocks the balance (/credits), key limits and the bill per day",
        clean(f"echo 'OPENROUTER_MANAGEMENT_KEY=sk-or-v1-...' >> {env_file}"),
    )


def _recorder(
    settings: DashSettings, status: PluginStatus, now: float, running: bool
) -> list[Check]:
    install = install_cmd(settings)
    folder = plugin_dir(settings.paths)
    if not status.installed:
        return [
            check(
                "recorder_installed",
                "fail",
                clean(f"not installed in {folder}: no call is logged"),
                install,
            ),
            check("recorder_enabled", "skip", "not installed"),
            check("recorder_version", "skip", "not installed"),
            check("recorder_writing", "skip", "not installed"),
        ]
    checks = [check("recorder_installed", "ok", clean(folder))]
    if status.enabled:
        checks.append(check("recorder_enabled", "ok", "in plugins.enabled"))
    else:
        checks.append(
            check(
                "recorder_enabled",
                "fail",
                "installed but not in plugins.enabled of config.yaml: Hermes does not load it",
                install,
            )
        )
    from hermes_dash import __version__

    version = clean(status.installed_version or "unknown", 80)
    if status.same_version:
        checks.append(check("recorder_version", "ok", version))
    else:
        checks.append(
            check(
                "recorder_version",
                "fail",
                f"{version}, but this hermes-dash is {__version__}",
                install,
            )
        )
    if not status.enabled:
        checks.append(check("recorder_writing", "skip", "not enabled"))
    elif status.state(now) == "receiving rows" and status.last_write is not None:
        checks.append(check("recorder_writing", "ok", f"last row {_ago(now - status.last_write)}"))
    else:
        last = status.last_write
        since = "no row yet" if last is None else f"last row {_ago(now - last)}"
        # A Hermes that runs and logs nothing most likely started before the install.
        why = (
            "Hermes runs, but may have started before the install"
            if running
            else "Hermes has not run since"
        )
        checks.append(
            check(
                "recorder_writing",
                "warn",
                f"enabled but idle ({since}): {why}",
                "restart Hermes (gateway, cron), then make a call: hermes chat -q 'hello'",
            )
        )
    if status.dropped_rows:
        checks.append(
            check(
                "recorder_dropped",
                "warn",
                f"{status.dropped_rows:,} rows could not be written (log busy or disk full)",
            )
        )
    return checks


def _call_log(settings: DashSettings, store: CallStore | None) -> Check:
    path = settings.db_path
    if store is not None:
        return check("call_log", "ok", clean(f"{path} (readable)"))
    if not path.exists():
        return check(
            "call_log",
            "info",
            clean(f"{path} not created yet: the recorder makes it at Hermes' first call"),
        )
    try:
        CallStore(path, readonly=True).close()
    except CallLogError as exc:
        text = str(exc)
        if "locked" in text:
            fix = "wait for the process holding it (or close it), then run doctor again"
        else:
            quoted = shlex.quote(str(path))
            fix = f"mv {quoted} {quoted}.broken   # the recorder starts a new log"
        return check("call_log", "fail", clean(text), clean(fix))
    return check("call_log", "ok", clean(f"{path} (readable)"))


def _routing(settings: DashSettings, config: dict[str, object] | None) -> Check:
    if config is None:
        return check("routing", "skip", "no readable config.yaml")
    block = routing_block(config)
    if not block:
        return check("routing", "ok", "absent: OpenRouter routes by its own default")
    issues = validate(RoutingRules.from_block(block))
    errs = errors_in(issues)
    shown = "; ".join(str(i) for i in issues)
    if errs:
        return check(
            "routing",
            "fail",
            clean(f"{len(errs)} errors: {shown}", 300),
            hermes_dash_cmd(settings, "routing validate")
            + "   # then: hermes-dash routing set ...",
        )
    if issues:
        return check("routing", "warn", clean(shown, 300))
    keys = ", ".join(f"{k} {v}" for k, v in block.items())
    return check("routing", "ok", clean(f"valid ({keys})", 300))


def _processes(running: bool) -> Check:
    if running:
        return check("hermes_running", "ok", "running on this machine")
    return check(
        "hermes_running",
        "info",
        "none running on this machine: the call log grows only while Hermes runs",
    )


def local_checks(
    settings: DashSettings, store: CallStore | None = None, now: float | None = None
) -> LocalReport:
    """Every check that needs no network; ``store`` is an open call log, if there is one."""
    now = time.time() if now is None else now
    home = _home(settings)
    checks = [home]
    if home.status != "ok":
        skipped = ("config", "recorder_installed", "recorder_enabled", "recorder_version")
        checks += [check(i, "skip", "no Hermes home") for i in (*skipped, "recorder_writing")]
        checks += [_key(settings), _management_key(settings), _call_log(settings, store)]
        checks.append(_processes(hermes_running()))
        checks.append(check("routing", "skip", "no Hermes home"))
        return LocalReport(checks, None)
    config_check, config = _config(settings)
    running = hermes_running(home=settings.paths.home)
    opened = None
    if store is None and settings.db_path.is_file():
        try:
            opened = CallStore(settings.db_path, readonly=True)
        except CallLogError:
            opened = None  # _call_log explains why
    try:
        status = plugin_status(settings.paths, store or opened)
        checks += [config_check, _key(settings), _management_key(settings)]
        checks += _recorder(settings, status, now, running)
        checks.append(_call_log(settings, store or opened))
    finally:
        if opened is not None:
            opened.close()
    checks += [_processes(running), _routing(settings, config)]
    return LocalReport(checks, status)


async def key_check(client: OpenRouterClient) -> Check:
    """Whether OpenRouter accepts the key (``GET /key``); 401, 402 and no answer explained."""
    if not client.has_key:
        return check("key_accepted", "skip", "no key")
    try:
        info = await client.key_info()
    except errors.UnusableKey:
        return check("key_accepted", "skip", "the key cannot be sent as it is")
    except errors.Unauthorized:
        return check(
            "key_accepted",
            "fail",
            "OpenRouter rejected the key (401): it is wrong, revoked or expired",
            f"make a new key at {KEYS_URL} and replace OPENROUTER_API_KEY",
        )
    except errors.PaymentRequired:
        return check(
            "key_accepted",
            "fail",
            "OpenRouter says the account is out of credits (402): calls will fail",
            f"buy credits at {CREDITS_URL}",
        )
    except (errors.RequestTimeout, errors.ConnectionFailed) as exc:
        return check(
            "key_accepted",
            "fail",
            clean(str(exc), 300),
            "check the network (or --openrouter-url), then run doctor again",
        )
    except errors.OpenRouterError as exc:
        return check("key_accepted", "fail", clean(str(exc), 300))
    limit = "no limit" if info.limit is None else f"limit ${info.limit:,.2f}"
    left = "" if info.limit_remaining is None else f", ${info.limit_remaining:,.2f} left"
    label = clean(info.label or "", 60)
    return check("key_accepted", "ok", f"/key answered: {label} ({limit}{left})")
