"""`roboalign serve` and `roboalign keys` answer a mistake in one line, exit 2, no traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from roboalign.cli import main as cli_main


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """(exit status, stderr) of an in-process `roboalign ARGV` (argparse exits via SystemExit)."""
    try:
        code = cli_main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("bind, says", [
    ("tcp://127.0.0.1:99999", "port '99999' is not a number from 0 to 65535"),
    ("tcp://127.0.0.1:-1", "port '-1'"),
    ("tcp://127.0.0.1", "HOST:PORT"),
    ("tcp://:5555", "HOST:PORT"),
    ("nonsense", "no transport"),
    ("127.0.0.1:5555", "no transport"),
    ("udp://127.0.0.1:5555", "unknown transport 'udp'"),
    ("tcp://999.0.0.1:5555", "not an IPv4 address"),
    ("tcp://[::1:5555", "brackets"),
    ("ipc://", "needs a path"),
    ("inproc://policy", "only inside this process"),
])
def test_a_malformed_bind_is_named_with_the_expected_form(capsys, bind, says):
    code, err = run_cli(capsys, "serve", "--policy", "noop", "--bind", bind)
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("roboalign serve: error: argument --bind:") and says in last
    if bind != "inproc://policy":
        assert "tcp://HOST:PORT" in last and "ipc://" in last


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "*", "eth0", "[::]"])
def test_a_non_loopback_bind_without_auth_is_still_refused(capsys, host):
    code, err = run_cli(capsys, "serve", "--policy", "noop", "--bind", f"tcp://{host}:5555")
    assert code == 2
    assert err.count("\n") == 1 and "without authentication" in err and "--auth-keys" in err


@pytest.mark.parametrize("flag, value", [
    ("--max-batch", "0"), ("--max-batch", "257"), ("--max-batch", "2.5"),
    ("--max-wait-ms", "-1"), ("--max-wait-ms", "1001"), ("--max-wait-ms", "nan"),
    ("--max-frame-mb", "0"), ("--max-frame-mb", "0.01"), ("--max-frame-mb", "5000"),
    ("--max-request-mb", "0"), ("--max-request-mb", "inf"),
    ("--warmup", "-1"), ("--warmup", "1001"),
])
def test_every_numeric_serve_flag_is_range_checked(capsys, flag, value):
    code, err = run_cli(capsys, "serve", "--policy", "noop", flag, value)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"roboalign serve: error: argument {flag}:")


@pytest.mark.parametrize("argv, says", [
    (["--max-frame-mb", "64", "--max-request-mb", "32"], "smaller than --max-frame-mb"),
    (["--policy-arg", "1=2"], "KEY=VALUE"),
    (["--policy-arg", "horizon=[1"], "not valid YAML"),
    (["--policy", "nonsense"], "unknown policy 'nonsense'"),
    (["--auth-keys", "/nonexistent/keys"], "not found"),
    (["--bind", "ipc:///nonexistent/folder/policy.sock"], "No such file or directory"),
])
def test_serve_setup_mistakes_are_one_line_usage_errors(capsys, argv, says):
    code, err = run_cli(capsys, "serve", "--policy", "noop", "--warmup", "0", *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("roboalign serve: ") and says in err


def test_keys_generate_refuses_overwrite_and_bad_names_in_one_line(capsys, tmp_path):
    assert run_cli(capsys, "keys", "generate", "--out", str(tmp_path / "k"))[0] == 0
    code, err = run_cli(capsys, "keys", "generate", "--out", str(tmp_path / "k"))
    assert code == 2 and err.count("\n") == 1 and "--force" in err
    code, err = run_cli(capsys, "keys", "generate", "--out", str(tmp_path / "k2"), "--client", "a/b")
    assert code == 2 and err.count("\n") == 1 and "bad key name" in err


def test_the_out_of_range_port_is_refused_by_the_real_command_without_a_traceback():
    result = subprocess.run([sys.executable, "-m", "roboalign.cli", "serve", "--policy", "noop",
                             "--bind", "tcp://127.0.0.1:99999"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr and "0 to 65535" in result.stderr
