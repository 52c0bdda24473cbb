"""The safe writer: only the block changes, Hermes reads what we meant, atomic, backed up."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermes_dash.cli import main
from hermes_dash.hermes.config import ConfigError
from hermes_dash.hermes.paths import HermesPaths
from hermes_dash.hermes.writer import (
    KEEP_BACKUPS,
    ConfigWriteError,
    commit,
    list_backups,
)
from hermes_dash.routing.rules import RoutingRules
from hermes_dash.services import routing as svc

from .conftest import corpus_file

# -- building odd configs -------------------------------------------------------------------

comment = st.sampled_from(["# plain comment", "#no space", "# ünïcödé ✓", "  # indented", "#"])
scalar = st.sampled_from(["1", "'quoted'", '"double"', "~", "true", "3.5", "plain words", "'a: b'"])
key = st.sampled_from(["model", "agent", "display", "memory", "terminal", "x-extra", "tools"])


@st.composite
def section(draw: st.DrawFn, name: str) -> str:
    lines = [draw(comment) for _ in range(draw(st.integers(0, 2)))]
    style = draw(st.sampled_from(["block", "flow", "list", "anchor"]))
    if style == "block":
        lines.append(f"{name}:")
        for i in range(draw(st.integers(1, 3))):
            trailing = f"   {draw(comment).strip()}" if draw(st.booleans()) else ""
            lines.append(f"  k{i}: {draw(scalar)}{trailing}")
    elif style == "flow":
        lines.append(f"{name}: {{a: {draw(scalar)}, b: [1, 2]}}")
    elif style == "list":
        lines.append(f"{name}:")
        lines += [f"  - {draw(scalar)}" for _ in range(draw(st.integers(1, 3)))]
    else:
        lines += [
            f"{name}: &anc{name.replace('-', '')}",
            "  shared: 1",
            f"{name}-copy: *anc{name.replace('-', '')}",
        ]
    blank = [""] * draw(st.integers(0, 2))
    return "\n".join(lines + blank)


@st.composite
def routing_section(draw: st.DrawFn) -> str:
    style = draw(st.sampled_from(["block", "flow", "commented", "unknown-keys", "empty"]))
    if style == "flow":
        return "provider_routing: {sort: price, ignore: [together]}"
    if style == "empty":
        return "provider_routing: {}"
    lines = ["# routing: keep an eye on this", "provider_routing:"]
    lines.append('  sort: "throughput"   # fastest first')
    if style in ("commented", "unknown-keys"):
        lines += [
            "  # only: [anthropic]",
            "  ignore:",
            "    - deepinfra   # flaky",
            "    - together",
        ]
    if style == "unknown-keys":
        lines += ["  models:", '    "openai/gpt-6":', "      only: [openai]", "  future_key: 42"]
    lines.append("  data_collection: deny")
    return "\n".join(lines)


@st.composite
def config_text(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(prefix, routing block or '', suffix, newline) of a config file."""
    names = draw(st.lists(key, min_size=1, max_size=4, unique=True))
    cut = draw(st.integers(0, len(names)))
    before = "\n".join(draw(section(n)) for n in names[:cut])
    after = "\n".join(draw(section(n)) for n in names[cut:])
    block = draw(routing_section()) if draw(st.booleans()) else ""
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return before, block, after, newline


slug = st.sampled_from(
    ["anthropic", "deepinfra", "together", "google-vertex", "deepinfra/turbo", "openai"]
)
rules_st = st.builds(
    RoutingRules,
    sort=st.sampled_from([None, "price", "throughput", "latency"]),
    only=st.lists(slug, max_size=3, unique=True).map(tuple),
    order=st.lists(slug, max_size=3, unique=True).map(tuple),
    require_parameters=st.sampled_from([None, True, False]),
    data_collection=st.sampled_from([None, "allow", "deny"]),
)


def _assemble(before: str, block: str, after: str, nl: str, final_newline: bool) -> str:
    parts = [p for p in (before, block, after) if p]
    text = "\n".join(parts).replace("\n", nl)
    return text + nl if final_newline else text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=config_text(), rules=rules_st, final_newline=st.booleans())
def test_only_the_block_changes_and_hermes_reads_it(
    tmp_path_factory: pytest.TempPathFactory,
    parts: tuple[str, str, str, str],
    rules: RoutingRules,
    final_newline: bool,
) -> None:
    before, block, after, nl = parts
    if not before and not after and not block:
        return
    home = tmp_path_factory.mktemp("home")
    config = home / "config.yaml"
    text = _assemble(before, block, after, nl, final_newline)
    config.write_bytes(text.encode())
    old = yaml.safe_load(text) or {}
    doc = svc.load_routing(config)
    proposal = svc.propose_routing(doc, rules)
    new = proposal.new_text
    # 1. every byte outside the block is the same
    if block:
        head = _assemble(before, "", "", nl, False)
        head = head + nl if before else ""
        assert new.startswith(head)
        tail = text[text.index(block.replace("\n", nl)) + len(block.replace("\n", nl)) :]
        assert new.endswith(tail)
    else:
        assert new.startswith(text)
    if "\n" in text:
        assert ("\r\n" in new) == (nl == "\r\n")
    # 2. PyYAML reads exactly the intended block, everything else as before
    parsed = yaml.safe_load(new)
    expected = dict(old.get("provider_routing") or {})
    for k in ("sort", "only", "ignore", "order", "require_parameters", "data_collection"):
        expected.pop(k, None)
    # the unknown keys stay; the known keys are exactly the draft's
    assert {k: v for k, v in parsed["provider_routing"].items() if k in expected} == expected
    known = {k: v for k, v in parsed["provider_routing"].items() if k not in expected}
    assert known == rules.as_block()
    assert {k: v for k, v in parsed.items() if k != "provider_routing"} == {
        k: v for k, v in old.items() if k != "provider_routing"
    }
    # 3. written, `routing show --json` reads it back
    commit(proposal, home / "backups")
    assert config.read_bytes() == new.encode()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["routing", "show", "--json", "--config", str(config)]) == 0
    assert json.loads(out.getvalue()) == parsed["provider_routing"]


CHANGES = [
    RoutingRules(sort="latency"),
    RoutingRules(only=("anthropic", "google-vertex")),
    RoutingRules(ignore=("deepinfra",), order=("together", "fireworks")),
    RoutingRules(require_parameters=True, data_collection="deny"),
    RoutingRules(
        sort="price", only=("deepinfra/turbo",), require_parameters=False, data_collection="allow"
    ),
]


@pytest.mark.parametrize("rules", CHANGES, ids=lambda r: ",".join(r.as_block()))
def test_real_hermes_example_config_survives_every_change(
    tmp_path: Path, rules: RoutingRules
) -> None:
    original = corpus_file("hermes-cli-config.example.yaml").read_bytes()
    config = tmp_path / "config.yaml"
    config.write_bytes(original)
    doc = svc.load_routing(config)
    p1 = svc.propose_routing(doc, rules)
    commit(p1, tmp_path / "b")
    first = config.read_bytes()
    assert first.startswith(original)  # appended: every old byte kept
    assert yaml.safe_load(first)["provider_routing"] == rules.as_block()
    # a second change edits the block in place
    p2 = svc.propose_routing(svc.load_routing(config), RoutingRules(sort="throughput"))
    commit(p2, tmp_path / "b")
    second = config.read_bytes()
    assert second.startswith(original)
    assert yaml.safe_load(second)["provider_routing"] == {"sort": "throughput"}


def test_malformed_yaml_is_refused_with_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model:\n  default: x\nprovider_routing:\n  sort: [price\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+"):
        svc.load_routing(config)


def test_concurrent_edit_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model: x\n")
    proposal = svc.propose_routing(svc.load_routing(config), RoutingRules(sort="price"))
    config.write_text("model: y\n")
    with pytest.raises(ConfigWriteError, match="changed on disk"):
        commit(proposal, tmp_path / "b")
    assert config.read_text() == "model: y\n"


def test_mode_kept_and_backups_rotate(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("api_key: secret\n")
    os.chmod(config, 0o600)
    for i in range(KEEP_BACKUPS + 3):
        rules = RoutingRules(order=(f"p{i}",))
        backup = commit(svc.propose_routing(svc.load_routing(config), rules), tmp_path / "b")
        assert backup is not None and stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert len(list_backups(tmp_path / "b")) == KEEP_BACKUPS


def test_alias_block_and_non_mapping_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("base: &r {sort: price}\nprovider_routing: *r\n")
    with pytest.raises(ConfigWriteError):
        svc.propose_routing(svc.load_routing(config), RoutingRules(sort="latency"))
    config.write_text("provider_routing: [1, 2]\n")
    with pytest.raises(ConfigWriteError, match="not a mapping"):
        svc.propose_routing(svc.load_routing(config), RoutingRules(sort="latency"))


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HERMES_HOME": str(home)},
        timeout=60,
    )


def test_cli_invalid_input_exits_2_and_leaves_the_file_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# mine\nprovider_routing:\n  sort: price\n")
    before, mtime = config.read_bytes(), os.stat(config).st_mtime_ns
    time.sleep(0.01)
    for args in (
        ["--only", "anthropic", "--ignore", "anthropic"],
        ["--order", "Deep Infra"],
        ["--only", "a,a"],
    ):
        r = _run("routing", "set", *args, home=tmp_path)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = _run("routing", "set", "--sort", "fastest", home=tmp_path)
    assert r.returncode == 2
    assert config.read_bytes() == before and os.stat(config).st_mtime_ns == mtime
    r = _run("routing", "set", "--sort", "latency", "--dry-run", home=tmp_path)
    assert r.returncode == 0 and "+  sort: latency" in r.stdout
    assert config.read_bytes() == before
    config.write_text("provider_routing:\n  sort: fastest\n")
    r = _run("routing", "validate", home=tmp_path)
    assert r.returncode == 2 and "fastest" in r.stderr


def test_cli_set_and_restore(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# mine\nmodel: {default: a/b}\n")
    original = config.read_bytes()
    r = _run("routing", "set", "--sort", "latency", "--order", "deepinfra,together", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "restart" in r.stderr
    assert yaml.safe_load(config.read_text())["provider_routing"] == {
        "sort": "latency",
        "order": ["deepinfra", "together"],
    }
    r = _run("routing", "restore", "--list", home=tmp_path)
    [name] = r.stdout.split()
    r = _run("routing", "restore", name, home=tmp_path)
    assert r.returncode == 0 and config.read_bytes() == original
    r = _run("routing", "restore", "nope.bak", home=tmp_path)
    assert r.returncode == 2


def test_missing_home_is_one_clear_line(tmp_path: Path) -> None:
    r = _run("routing", "set", "--sort", "price", home=tmp_path / "missing")
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr


WRITER = """
import sys, time
from pathlib import Path
from hermes_dash.hermes import writer
from hermes_dash.services import routing as svc
from hermes_dash.routing.rules import RoutingRules
config = Path(sys.argv[1])
big = RoutingRules(order=tuple(f"provider-{i}" for i in range(20000)))
proposal = svc.propose_routing(svc.load_routing(config), big)
real_write = writer.os.fsync
calls = []
def slow_fsync(fd):
    # The backup's fsync passes; the temp file's (the second) hangs until the kill.
    calls.append(fd)
    print("writing", flush=True)
    if len(calls) >= 2:
        time.sleep(600)
    real_write(fd)
writer.os.fsync = slow_fsync
writer.commit(proposal, config.parent / "b")
"""


def test_killed_writer_leaves_the_old_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# mine\nmodel: x\n")
    original = config.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(config)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines = []
    while len(lines) < 2:  # backup fsync, then the temp file's fsync: mid-write
        lines.append(proc.stdout.readline())
        if lines[-1] == "":
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert config.read_bytes() == original
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a stray temp file may remain after a kill; the config itself is whole
    assert all(p.name.startswith(".config.yaml.") for p in leftovers)
    assert yaml.safe_load(config.read_text()) == {"model": "x"}


def test_plugin_install_touches_only_the_plugins_block(tmp_path: Path) -> None:
    from hermes_dash.services import plugin

    src = corpus_file("hermes-cli-config.example.yaml").read_text()
    config = tmp_path / "config.yaml"
    config.write_text(src)
    paths = HermesPaths(tmp_path)
    plugin.install(paths)
    plugin.install(paths)  # idempotent
    new = config.read_text()
    data = yaml.safe_load(new)
    assert data["plugins"]["enabled"] == ["hermes-dash-recorder"]
    old_lines, new_lines = src.splitlines(), new.splitlines()
    added = [ln for ln in new_lines if ln not in old_lines]
    assert added == ["  enabled:", "    - hermes-dash-recorder"]
    assert [ln for ln in new_lines if ln not in added] == old_lines
    st = plugin.plugin_status(paths, None)
    assert st.installed and st.enabled and st.same_version
    removed, _ = plugin.uninstall(paths)
    assert removed and not plugin.plugin_dir(paths).exists()
    assert yaml.safe_load(config.read_text())["plugins"]["enabled"] == []


def test_check_providers_asks_the_configured_openrouter(tmp_path: Path) -> None:
    from .fakeserver import FakeOpenRouter, Reply, prefixed

    (tmp_path / "config.yaml").write_text("model: x\n")
    body = {
        "data": [
            {"name": "DeepInfra", "slug": "deepinfra"},
            {"name": "Together", "slug": "together"},
        ]
    }
    with FakeOpenRouter(prefixed({"/providers": Reply(200, body)})) as srv:
        r = _run(
            "routing",
            "set",
            "--ignore",
            "deepinfa",
            "--check-providers",
            "--dry-run",
            "--openrouter-url",
            srv.url,
            home=tmp_path,
        )
        assert [p for p, _ in srv.requests] == ["/api/v1/providers"]
    assert r.returncode == 0, r.stderr
    assert "did you mean deepinfra" in r.stderr


def test_cli_set_writes_only_the_keys_it_was_given(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    text = (
        "provider_routing:\n"
        "  only: deepinfra   # a plain string: Hermes passes it on as written\n"
        '  require_parameters: "yes"\n'
        "  order: [b, a]\n"
    )
    config.write_text(text)
    r = _run("routing", "set", "--sort", "price", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert config.read_text() == text + "  sort: price\n"
    before, mtime = config.read_bytes(), os.stat(config).st_mtime_ns
    r = _run("routing", "set", home=tmp_path)  # no flag: nothing to write
    assert r.returncode == 0 and "nothing to change" in r.stderr
    assert config.read_bytes() == before and os.stat(config).st_mtime_ns == mtime
