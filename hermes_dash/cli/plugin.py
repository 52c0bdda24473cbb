"""``hermes-dash plugin install|uninstall|status``."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable

from hermes_dash import __version__
from hermes_dash.calllog.recorder import PLUGIN_NAME
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.cli.common import refuse_if_read_only, settings_from
from hermes_dash.text import clean


def add_plugin_parser(
    parser: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``plugin`` and its subcommands."""
    psub = parser.add_subparsers(dest="plugin_command", metavar="ACTION", required=True)
    for name, handler, text in (
        ("install", cmd_install, "copy the recorder into the Hermes home and enable it"),
        ("uninstall", cmd_uninstall, "disable and remove the recorder (the call log stays)"),
        ("status", cmd_status, "is it installed, enabled, current, receiving rows?"),
    ):
        p = psub.add_parser(name, help=text)
        add_common(p)
        p.set_defaults(handler=handler)


def cmd_install(args: argparse.Namespace) -> int:
    """Install (idempotent)."""
    refuse_if_read_only(args, "installing the recorder")
    from hermes_dash.services import plugin as svc

    settings = settings_from(args)
    target, backup = svc.install(settings.paths)
    print(f"installed {PLUGIN_NAME} {__version__} in {clean(target)}")
    print(
        clean(
            f"enabled in {settings.paths.config}" + (f" (backup: {backup.name})" if backup else "")
        )
    )
    print("Restart running Hermes processes (gateway, cron) so they load it.")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Uninstall."""
    refuse_if_read_only(args, "removing the recorder")
    from hermes_dash.services import plugin as svc

    settings = settings_from(args)
    removed, backup = svc.uninstall(settings.paths)
    print(
        ("removed " if removed else "was not installed: ") + clean(svc.plugin_dir(settings.paths))
    )
    if backup:
        print(clean(f"disabled in {settings.paths.config} (backup: {backup.name})"))
    print(f"the call log {clean(settings.db_path)} was kept")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Report."""
    from hermes_dash.services import plugin as svc

    settings = settings_from(args)
    store = None
    if settings.db_path.exists():
        try:
            store = CallStore(settings.db_path, readonly=True)
        except CallLogError:
            store = None
    st = svc.plugin_status(settings.paths, store)
    # Paths and the installed plugin.yaml's version are outside text: printed clean.
    print(f"plugin:    {st.state()}")
    print(f"folder:    {clean(svc.plugin_dir(settings.paths))}")
    print(
        f"enabled:   {'yes' if st.enabled else 'no'} "
        f"(plugins.enabled in {clean(settings.paths.config)})"
    )
    if st.installed:
        same = "same as" if st.same_version else "differs from"
        version = clean(st.installed_version, 80)
        print(f"version:   {version} ({same} hermes-dash {__version__})")
    last = (
        "never"
        if st.last_write is None
        else dt.datetime.fromtimestamp(st.last_write).isoformat(" ", "seconds")
    )
    print(f"last row:  {last} in {clean(settings.db_path)}")
    if st.dropped_rows:
        print(
            f"dropped:   {st.dropped_rows} rows could not be written (database busy or disk full)"
        )
    return 0
