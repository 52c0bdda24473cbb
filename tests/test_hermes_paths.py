"""Hermes home resolution, profiles, and the .env file read the way Hermes reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hermes_dash.hermes.paths import HermesHomeError, HermesPaths, Secrets, read_env_file


def test_home_from_env_profile_and_default(tmp_path: Path) -> None:
    assert HermesPaths.resolve(env={"HERMES_HOME": str(tmp_path)}).home == tmp_path
    assert HermesPaths.resolve(profile="work", env={"HERMES_HOME": str(tmp_path)}).home == (
        tmp_path / "profiles" / "work"
    )
    assert HermesPaths.resolve(env={}).home == Path("~/.hermes").expanduser()
    p = HermesPaths.resolve(tmp_path / "x")
    assert p.call_log == tmp_path / "x" / "hermes-dash" / "calls.db"
    with pytest.raises(HermesHomeError, match="does not exist"):
        p.require()


def test_dotenv_quotes_export_and_comments(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# a comment\n"
        "export OPENROUTER_API_KEY='sk-or-v1-quoted # not a comment'\n"
        'OPENROUTER_MANAGEMENT_KEY="mgmt"   # trailing comment\n'
        "OTHER=plain value\n"
        "EMPTY=\n"
    )
    values = read_env_file(env)
    assert values["OPENROUTER_API_KEY"] == "sk-or-v1-quoted # not a comment"
    assert values["OPENROUTER_MANAGEMENT_KEY"] == "mgmt"
    assert values["OTHER"] == "plain value"
    secrets = Secrets.load(HermesPaths(tmp_path), env={})
    assert secrets.api_key == "sk-or-v1-quoted # not a comment"
    assert "quoted" not in repr(secrets)


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENROUTER_API_KEY=from-file\n")
    s = Secrets.load(HermesPaths(tmp_path), env={"OPENROUTER_API_KEY": "from-env"})
    assert s.api_key == "from-env"
    assert Secrets.load(HermesPaths(tmp_path / "none"), env={}).api_key is None


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_dotenv_never_raises(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    values = read_env_file(path)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
