"""The `roboalign` command's own conventions: --version, one-line mistakes, exit codes, --debug."""
from __future__ import annotations

import subprocess
import sys

import pytest
from cli_helpers import cli_mistake

import roboalign
from roboalign import cli
from roboalign.errors import RoboAlignError, UsageError


def test_version_prints_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"roboalign {roboalign.__version__}"
    assert roboalign.__version__ != "0+unknown"  # installed (editable) metadata is found


def test_a_bad_flag_at_any_level_is_one_line_naming_help_and_exit_2(capsys):
    code, line = cli_mistake(capsys, ["sim", "demos", "--episodes", "x", "--out", "o"])
    assert code == 2
    assert line.startswith("roboalign sim demos: error: argument --episodes") and "--help" in line


def _command(raises: Exception):
    def run(_args):
        raise raises
    return run


@pytest.mark.parametrize("error, code", [
    (UsageError("set --foo to a positive number"), 2),
    (RoboAlignError("the server died"), 1),
    (RuntimeError("an unexpected bug"), 1),
])
def test_errors_become_one_line_with_the_convention_exit_code(monkeypatch, capsys, error, code):
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices["sim"].set_defaults(func=_command(error))
    got, line = cli_mistake(capsys, ["sim"])
    assert got == code and str(error) in line and line.startswith("roboalign sim: ")
    if code == 1 and not isinstance(error, RoboAlignError):
        assert "--debug" in line  # an unexpected failure says how to see the traceback


def test_debug_shows_the_traceback_instead_of_one_line():
    proc = subprocess.run([sys.executable, "-m", "roboalign.cli", "--debug", "train", "sft", "--config",
                           "/nonexistent/sft.yaml"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr
