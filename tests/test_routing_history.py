"""The routing history file: changes by hand found once even by processes racing, torn
lines skipped, an unreadable config recording nothing; before/after notes; the start
times of running Hermes processes."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.processes import hermes_running, hermes_start_times
from hermes_dash.routing.history import BY_HAND, FIRST_SEEN, RoutingHistory
from hermes_dash.routing.impact import impacts

from .conftest import call

T0 = 1_790_000_000.0


def _config(path: Path, block: str, mtime: float) -> None:
    path.write_text(f"model:\n  default: a/b\n{block}")
    os.utime(path, (mtime, mtime))


def _sync(history: str, config: str) -> None:
    RoutingHistory(Path(history)).sync(Path(config))


def test_a_change_by_hand_is_recorded_once_by_racing_processes(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    history = tmp_path / "h.jsonl"
    _config(config, "", T0)
    assert RoutingHistory(history).sync(config).source == FIRST_SEEN  # type: ignore[union-attr]
    _config(config, "provider_routing:\n  sort: latency\n", T0 + 60)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_sync, args=(str(history), str(config))) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    records = RoutingHistory(history).records()
    assert [r.source for r in records] == [FIRST_SEEN, BY_HAND]
    assert records[1].at == T0 + 60 and records[1].after == {"sort": "latency"}
    assert records[1].diff == ['+ sort: "latency"']
    assert RoutingHistory(history).sync(config) is None  # nothing new


def test_torn_lines_are_skipped_and_unreadable_configs_record_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    history = tmp_path / "h.jsonl"
    _config(config, "provider_routing:\n  sort: price\n", T0)
    store = RoutingHistory(history)
    store.sync(config)
    with history.open("a") as fh:
        fh.write('{"at": "soon", "before": {}}\n{"at": 5e99}\n[1, 2]\n{"at": 12, "bef')
    config.write_text("provider_routing: [unclosed\n")
    assert store.sync(config) is None
    assert [r.source for r in store.records()] == [FIRST_SEEN]
    assert store.changes() == []
    # The next record after the torn line is whole, on its own line.
    _config(config, "provider_routing:\n  sort: latency\n", T0 + 5)
    assert store.sync(config) is not None
    assert [r.source for r in store.records()] == [FIRST_SEEN, BY_HAND]


def test_a_write_after_an_unnoticed_hand_edit_records_both(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    store = RoutingHistory(tmp_path / "h.jsonl")
    _config(config, "", T0)
    store.sync(config)
    store.record(config, {"sort": "price"}, {"sort": "latency"}, "routing set", T0 + 100)
    assert [(c.source, c.before, c.after) for c in store.changes(config)] == [
        (BY_HAND, {}, {"sort": "price"}),
        ("routing set", {"sort": "price"}, {"sort": "latency"}),
    ]
    assert store.record(config, {"a": 1}, {"a": 1}, "editor", T0 + 200) is None


def test_notes_say_when_the_old_routing_is_still_sent(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    store = RoutingHistory(tmp_path / "h.jsonl")
    _config(config, "", T0)
    store.sync(config)
    store.record(config, {}, {"ignore": ["chutes"]}, "routing set", T0 + 3600)
    calls = CallStore(tmp_path / "calls.db")
    calls.insert(
        [
            call(T0 + 3000, upstream="Chutes"),
            call(T0 + 3700, upstream="Chutes"),
            call(T0 + 3800, upstream="DeepInfra"),
            call(T0 + 3900, provider="custom", upstream=None),  # not routed: left out
        ]
    )
    (impact,) = impacts(calls, store.changes(config), T0 + 7200, hermes_started=[T0])
    assert impact.before.window == Window(T0, T0 + 3600, "before")
    assert impact.before.upstreams == {"Chutes": 1}
    assert impact.after.upstreams == {"Chutes": 1, "DeepInfra": 1}
    assert impact.excluded_after == {"Chutes": 1}
    assert "1 Hermes process running since before this change" in impact.note
    assert "Chutes 1" in impact.note
    (restarted,) = impacts(calls, store.changes(config), T0 + 7200, hermes_started=[T0 + 4000])
    assert "Hermes process" not in restarted.note
    calls.close()


def test_hermes_start_times_come_from_proc(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  1 2 3\nbtime 1700000000\n")
    ticks = os.sysconf("SC_CLK_TCK")
    for pid, argv, start in (
        ("41", b"/usr/bin/hermes\0gateway\0", 500 * ticks),
        ("42", b"python\0-m\0hermes_dash\0", 100),
        ("43", b"hermes-agent\0", 20 * ticks),
    ):
        (proc / pid).mkdir()
        (proc / pid / "cmdline").write_bytes(argv)
        fields = ["S"] + ["0"] * 18 + [str(start)] + ["0"] * 10
        (proc / pid / "stat").write_text(f"{pid} (odd) name) " + " ".join(fields))
    (proc / "self").mkdir()
    assert hermes_start_times(proc) == [1_700_000_020.0, 1_700_000_500.0]
    assert hermes_start_times(tmp_path / "nothing") == []


def test_only_the_hermes_processes_of_this_home_count(tmp_path: Path) -> None:
    """A Hermes running for another home reads another config.yaml: it says nothing of
    whether this home's routing change has been picked up."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("btime 1700000000\n")
    ticks = os.sysconf("SC_CLK_TCK")
    mine, other = tmp_path / "mine", tmp_path / "other"
    for pid, environ, start in (
        ("51", f"HERMES_HOME={mine}\0".encode(), 10 * ticks),
        ("52", f"HERMES_HOME={other}\0".encode(), 20 * ticks),
        ("53", f"HOME={tmp_path}\0".encode(), 30 * ticks),  # ~/.hermes of that user
        ("54", None, 40 * ticks),  # environment not ours to read: it may be this home's
    ):
        (proc / pid).mkdir()
        (proc / pid / "cmdline").write_bytes(b"/usr/bin/hermes\0chat\0")
        if environ is not None:
            (proc / pid / "environ").write_bytes(environ)
        fields = ["S"] + ["0"] * 18 + [str(start)] + ["0"] * 10
        (proc / pid / "stat").write_text(f"{pid} (hermes) " + " ".join(fields))
    assert hermes_start_times(proc, home=mine) == [1_700_000_010.0, 1_700_000_040.0]
    assert hermes_start_times(proc, home=tmp_path / ".hermes") == [
        1_700_000_030.0,
        1_700_000_040.0,
    ]
    assert len(hermes_start_times(proc)) == 4
    assert hermes_running(proc, home=other)
    (proc / "54").rename(proc / "x54")
    assert not hermes_running(proc, home=tmp_path / "nobody")
