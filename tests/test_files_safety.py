"""Files arranged oddly or with hostile intent: symlinks, planted temp names, a shared
backups folder, alias bombs, FIFOs, and restores over a broken config."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.writer import ConfigWriteError, _render_block, list_backups
from hermes_dash.routing.rules import RoutingRules
from hermes_dash.services import routing as svc

from .conftest import call

#: The 374-byte kind of document from the report: nine levels of nine aliases.
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def run(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HERMES_HOME": str(home)},
        timeout=timeout,
    )


def one_line_error(r: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def fingerprint(path: Path) -> tuple[bytes, int, int]:
    st = os.lstat(path)
    return path.read_bytes(), st.st_mtime_ns, stat.S_IMODE(st.st_mode)


# -- symlinks and planted temp files -------------------------------------------------------


def test_symlinked_config_is_written_through(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "hermes.yaml"
    real.write_text("# managed by my dotfiles\nmodel: {default: a/b}\n")
    real.chmod(0o640)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").symlink_to(real)
    r = run("routing", "set", "--sort", "latency", home=home)
    assert r.returncode == 0, r.stderr
    link = home / "config.yaml"
    assert link.is_symlink() and link.resolve() == real
    text = real.read_text()
    assert text.startswith("# managed by my dotfiles\n")
    assert yaml.safe_load(text)["provider_routing"] == {"sort": "latency"}
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert [p.name for p in dotfiles.iterdir()] == ["hermes.yaml"]  # no temp file left

    # restore writes through the link as well
    [backup] = list_backups(home / "hermes-dash" / "backups")
    r = run("routing", "restore", backup.name, home=home)
    assert r.returncode == 0, r.stderr
    assert (
        link.is_symlink()
        and real.read_text() == "# managed by my dotfiles\nmodel: {default: a/b}\n"
    )


def test_planted_link_at_the_old_temp_name_redirects_nothing(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    config = tmp_path / "config.yaml"
    config.write_text("model: x\n")
    # The name the writer used to choose (pid-based) and the names it chooses now are
    # both planted; the write must land in config.yaml and nowhere else.
    (tmp_path / f".config.yaml.hermes-dash.{os.getpid()}.tmp").symlink_to(victim)
    proposal = svc.propose_routing(svc.load_routing(config), RoutingRules(sort="price"))
    svc.save(proposal, svc.HermesPaths(tmp_path))
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not config.is_symlink()
    assert yaml.safe_load(config.read_text()) == {
        "model": "x",
        "provider_routing": {"sort": "price"},
    }


def test_settings_save_and_export_do_not_follow_planted_links(tmp_path: Path) -> None:
    from hermes_dash.services.settings import UserSettings

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    settings = tmp_path / "settings.json"
    settings.with_suffix(".tmp").symlink_to(victim)
    UserSettings(daily_budget_usd=5.0).save(settings)
    assert victim.read_text() == "precious\n"
    assert UserSettings.load(settings).daily_budget_usd == 5.0

    db = tmp_path / "calls.db"
    CallStore(db).insert([call(1_700_000_000 + i) for i in range(3)])
    out = tmp_path / "out.csv"
    (tmp_path / "out.csv.part").symlink_to(victim)
    r = run("export", "--format", "csv", "--output", str(out), "--db", str(db), home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert len(out.read_text().splitlines()) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.csv.")]

    # an export that fails leaves the old file and no temp file
    r = run(
        "export", "--format", "csv", "--output", str(out), "--db", str(tmp_path / "none.db"),
        home=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1 and len(out.read_text().splitlines()) == 4


def test_plugin_install_does_not_follow_planted_links(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    home = tmp_path / "home"
    plugin = home / "plugins" / "hermes-dash-recorder"
    plugin.mkdir(parents=True)
    (home / "config.yaml").write_text("model: x\n")
    for name in ("__init__.py", "schema.py", "plugin.yaml"):
        (plugin / f".{name}.tmp").symlink_to(victim)
    (plugin / "schema.py").symlink_to(victim)  # a link in place of one of our files
    r = run("plugin", "install", home=home)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not (plugin / "schema.py").is_symlink() and "def " in (plugin / "schema.py").read_text()


# -- backups ---------------------------------------------------------------------------------


def test_symlinked_backups_folder_is_refused_and_nothing_there_deleted(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    names = [f"config.yaml.2020010{i % 9 + 1}T000000{i:06d}Z.bak" for i in range(30)]
    for n in names:
        (elsewhere / n).write_text("someone else's\n")
    home = tmp_path / "home"
    (home / "hermes-dash").mkdir(parents=True)
    (home / "hermes-dash" / "backups").symlink_to(elsewhere)
    config = home / "config.yaml"
    config.write_text("model: x\n")
    before = fingerprint(config)
    line = one_line_error(run("routing", "set", "--sort", "price", home=home))
    assert "symlink" in line
    assert sorted(p.name for p in elsewhere.iterdir()) == sorted(names)
    assert fingerprint(config) == before


def test_pruning_deletes_only_our_regular_files_and_the_folder_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    backups = home / "hermes-dash" / "backups"
    backups.mkdir(parents=True)
    backups.chmod(0o777)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    old_link = backups / "config.yaml.20000101T000000000000Z.bak"
    old_link.symlink_to(victim)
    old_dir = backups / "config.yaml.20000101T000000000001Z.bak"
    old_dir.mkdir()
    notes = backups / "notes.txt"
    notes.write_text("mine\n")
    config = home / "config.yaml"
    config.write_text("model: x\n")
    for i in range(23):
        proposal = svc.propose_routing(
            svc.load_routing(config), RoutingRules(order=(f"p{i}",))
        )  # fmt: skip
        svc.save(proposal, svc.HermesPaths(home))
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    ours = list_backups(backups)
    assert len(ours) == 20 and all(p.is_file() and not p.is_symlink() for p in ours)
    assert old_link.is_symlink() and old_dir.is_dir() and notes.read_text() == "mine\n"
    assert victim.read_text() == "precious\n"


def test_new_backups_folder_is_0700(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model: x\n")
    r = run("routing", "set", "--sort", "price", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((tmp_path / "hermes-dash" / "backups").stat().st_mode) == 0o700


# -- alias bombs -----------------------------------------------------------------------------


def bomb_home(tmp_path: Path, text: str) -> tuple[Path, Path]:
    home = tmp_path / "home"
    home.mkdir()
    config = home / "config.yaml"
    config.write_text(text)
    db = tmp_path / "calls.db"
    CallStore(db).insert([call(1_700_000_000)])
    return home, db


@pytest.mark.parametrize(
    "text",
    [
        BOMB + "provider_routing:\n  only: *i\n",
        "provider_routing:\n"
        + "".join(f"  {line}\n" for line in BOMB.splitlines())
        + "  only: *i\n",
        "a: &a [x, *a]\n",  # refers to itself
    ],
    ids=["bomb", "bomb-in-block", "recursive"],
)
def test_alias_bomb_is_refused_fast_everywhere(tmp_path: Path, text: str) -> None:
    home, db = bomb_home(tmp_path, text)
    config = home / "config.yaml"
    before = fingerprint(config)
    for args in (
        ("summary", "--offline", "--json", "--db", str(db)),
        ("routing", "show"),
        ("routing", "show", "--json"),
        ("routing", "set", "--sort", "price"),
        ("routing", "validate"),
    ):
        started = time.monotonic()
        r = run(*args, home=home, timeout=30)
        assert time.monotonic() - started < 10, args
        line = one_line_error(r)
        assert "refused" in line and "config.yaml" in line, line
    assert fingerprint(config) == before


def test_the_block_parser_refuses_a_bomb_too() -> None:
    # The round-trip parser (ruamel.yaml) measures what it reads as well.
    block = "provider_routing:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines())
    started = time.monotonic()
    with pytest.raises(ConfigWriteError, match="nodes"):
        _render_block("provider_routing", block, lambda b: None)
    assert time.monotonic() - started < 10


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "base: &base {only: [deepinfra]}\nprovider_routing:\n  <<: *base\n  sort: price\n"
    )
    r = run("routing", "show", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout) == {"only": ["deepinfra"], "sort": "price"}


# -- restore ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "current",
    [b"provider_routing: [unclosed\n", b"", None, BOMB.encode()],
    ids=["broken-yaml", "empty", "missing", "alias-bomb"],
)
def test_restore_puts_back_exact_bytes_over_anything(tmp_path: Path, current: bytes | None) -> None:
    backups = tmp_path / "hermes-dash" / "backups"
    backups.mkdir(parents=True, mode=0o700)
    crlf = b"# mine\r\nmodel: x\r\nprovider_routing:\r\n  sort: price\r\n"
    name = "config.yaml.20260101T000000000000Z.bak"
    (backups / name).write_bytes(crlf)
    config = tmp_path / "config.yaml"
    if current is not None:
        config.write_bytes(current)
        config.chmod(0o640)
    r = run("routing", "restore", name, home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert config.read_bytes() == crlf
    if current is None:
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
    else:
        assert stat.S_IMODE(config.stat().st_mode) == 0o640
        # what it replaced is kept, even when it was broken
        kept = [p for p in list_backups(backups) if p.name != name]
        assert [p.read_bytes() for p in kept] == [current]


# -- FIFOs and other non-regular files --------------------------------------------------------


def test_fifo_config_is_refused_at_once(tmp_path: Path) -> None:
    home, db = bomb_home(tmp_path, "")
    config = home / "config.yaml"
    config.unlink()
    os.mkfifo(config)
    backups = home / "hermes-dash" / "backups"
    backups.mkdir(parents=True)
    (backups / "config.yaml.20260101T000000000000Z.bak").write_text("model: x\n")
    for args in (
        ("summary", "--offline", "--db", str(db)),
        ("routing", "show"),
        ("routing", "set", "--sort", "price"),
        ("routing", "validate"),
        ("routing", "restore", "config.yaml.20260101T000000000000Z.bak"),
        ("plugin", "install"),
    ):
        line = one_line_error(run(*args, home=home, timeout=20))
        assert "FIFO" in line, (args, line)
    assert stat.S_ISFIFO(os.lstat(config).st_mode)


def test_commands_that_only_read_leave_config_and_backups_alone(tmp_path: Path) -> None:
    home, db = bomb_home(
        tmp_path,
        "# mine\r\nprovider_routing:\r\n  only: deepinfra  # kept as written\r\n  sort: price\r\n",
    )
    config = home / "config.yaml"
    before = fingerprint(config)
    for args in (
        ("summary", "--offline", "--db", str(db)),
        ("routing", "show"),
        ("routing", "show", "--json"),
        ("routing", "validate"),
        ("routing", "set", "--sort", "latency", "--dry-run"),
        ("routing", "set", "--sort", "price"),  # already so
        ("routing", "restore", "--list"),
        ("plugin", "status"),
    ):
        r = run(*args, home=home)
        assert r.returncode == 0, (args, r.stderr)
        assert fingerprint(config) == before, args
    assert not (home / "hermes-dash" / "backups").exists()


# A missing folder, and a folder nobody can create files in, root included (/proc).
@pytest.mark.parametrize("where", ["missing/out.csv", "/proc/self/out.csv"])
def test_export_into_a_place_it_cannot_write_names_that_place(tmp_path: Path, where: str) -> None:
    """The error named the hidden temporary file (``.out.csv.x1y2.tmp``), not the output."""
    db = tmp_path / "calls.db"
    CallStore(db).insert([call(1_700_000_000)])
    out = tmp_path / where  # an absolute ``where`` stands on its own
    r = run("export", "--format", "csv", "--output", str(out), "--db", str(db), home=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and ".tmp" not in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("args", [["budget", "show"], ["summary", "--offline", "--by", "source"]])
def test_a_fifo_as_settings_file_does_not_hang(tmp_path: Path, args: list[str]) -> None:
    """Reading settings.json blocked forever waiting for a writer to the pipe."""
    fifo = tmp_path / "settings.json"
    os.mkfifo(fifo)
    db = tmp_path / "calls.db"
    CallStore(db).insert([call(time.time() - 60)])
    env = {**os.environ, "HERMES_HOME": str(tmp_path), "HERMES_DASH_SETTINGS": str(fifo)}
    env.pop("OPENROUTER_MANAGEMENT_KEY", None)
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "--db", str(db), *args],
        capture_output=True, text=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # left as it was
