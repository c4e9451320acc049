"""The installed `stackdeck` script: --version, `stackdeck config`, and a broken config file
or an unknown profile stopping the console before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

STACKDECK = Path(sys.executable).with_name("stackdeck")  # the console script of this venv


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "STACKDECK_CONFIG"}
    return subprocess.run(
        [str(STACKDECK), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        cwd=cwd,
    )


def test_version_is_the_package_metadata(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"stackdeck {version('stackdeck')}"


def test_config_prints_the_xdg_path_and_the_defaults(tmp_path: Path) -> None:
    result = run("config", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    path = tmp_path / "stackdeck" / "config.toml"
    assert lines[0] == f"# config file: {path} (not found: the defaults)"
    assert "vim = false" in lines and 'new_user = "n"  # New user' in lines


def test_config_prints_the_settings_in_effect_with_tokens_masked(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    path.write_text(
        'theme = "gruvbox"\n[keymap]\nhelp = "f1"\n'
        '[profiles.prod]\napi_url = "https://deck.example"\ntoken = "pr0d-secret"\n',
        encoding="utf-8",
    )
    result = run("--config", str(path), "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"# config file: {path}\n")
    assert 'theme = "gruvbox"' in result.stdout
    assert 'help = "f1"  # Help (default "question_mark")' in result.stdout
    assert "[profiles.prod]" in result.stdout and 'token = "***"' in result.stdout
    assert "pr0d-secret" not in result.stdout + result.stderr
    assert "read_only = true" in result.stdout


@pytest.mark.parametrize("command", [(), ("config",)])
def test_a_broken_file_stops_with_one_line_per_mistake(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "neon"\n[keymap]\nnope = "x"\n', encoding="utf-8")
    data = tmp_path / "data"  # the embedded PostgreSQL would land here: it must not start
    result = run("--data-dir", str(data), *command, env={"STACKDECK_CONFIG": str(path)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"stackdeck: error: {path}: theme: unknown theme; one of: ")
    assert lines[1].startswith(f"stackdeck: error: {path}: keymap.nope: unknown binding id")
    assert not data.exists()


def test_an_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.prod]\napi_url = "https://p.example"\n'
        '[profiles.staging]\napi_url = "https://s.example"\n',
        encoding="utf-8",
    )
    result = run("--config", str(path), "--profile", "prd")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"stackdeck: error: {path}: no profile 'prd' (known: prod, staging)"
    ]


def test_a_profile_whose_token_variable_is_unset_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.ci]\napi_url = "http://127.0.0.1:9"\ntoken_env = "STACKDECK_UNSET_TOKEN"\n',
        encoding="utf-8",
    )
    result = run("--config", str(path), "--profile", "ci")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"stackdeck: error: {path}: profiles.ci.token_env: "
        "environment variable STACKDECK_UNSET_TOKEN is not set"
    )


def test_a_config_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "typo.toml"
    result = run("config", env={"STACKDECK_CONFIG": str(missing)})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"stackdeck: error: {missing}: no such file (from --config or STACKDECK_CONFIG)"
    )
