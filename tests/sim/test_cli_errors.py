"""`roboalign sim ...` answers a mistake with one line and a non-zero exit, never a traceback."""
from __future__ import annotations

import json

import pytest

from roboalign.cli import main


@pytest.mark.parametrize("argv, says", [
    (["sim", "demos", "--seed", "-3"], "--seed: must be at least 0"),
    (["sim", "demos", "--task", "X"], "--task: cannot read a task from 'X'"),
    (["sim", "demos", "--cameras", "top"], "--cameras: unknown 'top'; choose from front, wrist"),
    (["sim", "demos", "--size", "0"], "--size: must be between 16 and 2048"),
    (["sim", "demos", "--episodes", "0"], "--episodes: must be at least 1"),
    (["sim", "demos", "--max-seconds", "0"], "--max-seconds: must be greater than 0"),
    (["sim", "demos", "--family", "grasp"], "--family: invalid choice: 'grasp'"),
    (["sim", "show", "--task", "touch the purple block"], "--task: cannot read a task"),
    (["sim", "show", "--seed", "-1"], "--seed: must be at least 0"),
    (["sim", "run", "--episodes", "-1"], "--episodes: must be at least 1"),
    (["sim", "run", "--task", "fly"], "--task: cannot read a task"),
])
def test_a_bad_flag_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    argv = argv + (["--out", str(tmp_path / "out")] if argv[1] == "demos" else [])
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before doing anything


def test_an_unknown_policy_is_one_line_and_exit_2(capsys):
    rc = main(["sim", "run", "--policy", "no/such/checkpoint", "--episodes", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown policy 'no/such/checkpoint'" in err and "Traceback" not in err


def test_sim_run_reports_success_and_safety_counts_for_the_expert(tmp_path, capsys):
    out = tmp_path / "run.json"
    rc = main(["sim", "run", "--policy", "expert", "--episodes", "2", "--seed", "7", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "sim run (direct loop, policy expert): 2/2 succeeded" in text and "safety: ok" in text
    summary = json.loads(out.read_text())
    assert summary["seeds"] == [7, 8] and summary["successes"] == 2
    interventions = {"limited", "clamped", "rejected", "hold", "estopped", "watchdog_trips"}
    assert set(summary["safety_interventions"]) >= interventions
    assert summary["per_episode"][0]["safety"]["rejected"] == 0


def test_a_malformed_policy_arg_is_one_line_and_exit_2(capsys):
    rc = main(["sim", "run", "--policy", "expert", "--policy-arg", "backend", "--episodes", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "--policy-arg backend: expected KEY=VALUE" in err and "Traceback" not in err
