"""`roboalign eval sim` writes its folder; workers do not change results; `eval compare` pairs seeds."""
from __future__ import annotations

import json

import pytest
from cli_helpers import cli_mistake

from roboalign.cli import main


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("evalsim") / "expert"
    code = main(["eval", "sim", "--policy", "expert", "--suite", "nominal", "--episodes", "2", "--seed", "0",
                 "--out", str(out), "--workers", "1", "--videos", "1", "--quiet"])
    assert code == 0
    return out


def test_two_expert_episodes_write_results_summary_report_and_a_rollout(expert_run):
    lines = (expert_run / "results.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert [(r["suite"], r["seed"], r["success"]) for r in records] == [("nominal", 0, True), ("nominal", 1, True)]
    assert set(records[0]["infer_ms"]) == {"p50", "p95", "p99", "max", "mean"}
    summary = json.loads((expert_run / "summary.json").read_text())
    nominal = summary["suites"]["nominal"]
    assert nominal["successes"] == 2 and nominal["wilson95"] == pytest.approx([0.3424, 1.0], abs=1e-4)
    report = (expert_run / "report.md").read_text()
    assert "| nominal | touch, training distribution | 2/2 | 100% [34, 100] |" in report
    assert (expert_run / records[0]["video"]).stat().st_size > 1000
    assert (expert_run / "contact" / "nominal.png").is_file()
    assert (expert_run / "plots" / "success.png").is_file()


def test_worker_count_does_not_change_results(tmp_path):
    def run(workers: int) -> list[dict]:
        out = tmp_path / f"w{workers}"
        assert main(["eval", "sim", "--policy", "expert", "--suite", "distractors,multistep", "--episodes", "2",
                     "--seed", "5", "--out", str(out), "--workers", str(workers), "--videos", "0", "--quiet"]) == 0
        drop = ("wall_s", "infer_ms", "infer_all_ms")  # wall-clock timings differ run to run
        return [{k: v for k, v in json.loads(x).items() if k not in drop}
                for x in (out / "results.jsonl").read_text().splitlines()]

    one, two = run(1), run(2)
    assert [(r["suite"], r["seed"]) for r in one] == [("distractors", 5), ("distractors", 6),
                                                      ("multistep", 5), ("multistep", 6)]
    assert one == two


def _fake_run(folder, outcomes: dict[int, bool], suite: str = "nominal") -> None:
    folder.mkdir(parents=True)
    rows = [{"suite": suite, "seed": s, "success": ok} for s, ok in outcomes.items()]
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_compare_pairs_episodes_on_seeds(tmp_path, capsys):
    # 20 shared seeds: 12 both succeed, 1 only A, 6 only B, 1 neither; B also ran 5 seeds A did not.
    a = {s: s < 13 for s in range(20)}
    b = {s: s < 12 or 13 <= s < 19 for s in range(20)} | {s: True for s in range(100, 105)}
    _fake_run(tmp_path / "a", a)
    _fake_run(tmp_path / "b", b)
    assert main(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--json", str(tmp_path / "c.json"), "--md", str(tmp_path / "c.md")]) == 0
    report = json.loads((tmp_path / "c.json").read_text())
    nominal = report["rows"][0]
    assert nominal["suite"] == "nominal"
    paired = nominal["columns"][1]["paired"]
    assert (paired["n"], paired["both"], paired["only_baseline"], paired["only_this"]) == (20, 12, 1, 6)
    from roboalign.eval.stats import mcnemar_exact, paired_difference

    assert paired["difference"] == pytest.approx(0.25)
    assert paired["newcombe95"] == pytest.approx(list(paired_difference(12, 1, 6, 1)[1:]), abs=1e-4)
    assert paired["mcnemar_p"] == pytest.approx(mcnemar_exact(1, 6), abs=1e-5)
    assert nominal["columns"][1]["episodes"] == 25  # its own rate counts all of its episodes
    assert "| nominal | 13/20 (65%" in (tmp_path / "c.md").read_text()


def test_compare_refuses_mixing_eval_folders_and_checkpoints(expert_run, tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    code, line = cli_mistake(capsys, ["eval", "compare", str(expert_run), str(tmp_path / "ckpt")])
    assert code == 2 and "no results.jsonl" in line
    code, line = cli_mistake(capsys, ["eval", "compare", str(expert_run)])
    assert code == 2 and "at least two" in line


def test_compare_of_a_run_with_itself_is_no_change(expert_run, capsys):
    assert main(["eval", "compare", str(expert_run), str(expert_run), "--name", "x", "--name", "y"]) == 0
    out = capsys.readouterr().out
    assert "+0 pts" in out and ", better)" not in out and ", worse)" not in out


def test_sim_refuses_unknown_suites_and_policies(tmp_path, capsys):
    code, line = cli_mistake(capsys, ["eval", "sim", "--suite", "lighting", "--out", str(tmp_path / "o")])
    assert code == 2 and "argument --suite" in line and "colour_lighting" in line
    code, line = cli_mistake(capsys, ["eval", "sim", "--policy", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2 and "--policy" in line
