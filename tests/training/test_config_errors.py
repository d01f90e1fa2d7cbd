"""`roboalign train ...` answers each class of mistake in one line, exit 2, no traceback, and
before any training code (torch models, transformers) is loaded."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roboalign.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
TINY = {stage: ROOT / "configs" / f"{stage}_tiny.yaml" for stage in ("sft", "align", "head")}


def _one_line_error(capsys, argv: list[str]) -> str:
    """Run `roboalign argv` in-process; assert exit 2 and exactly one stderr line; return it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def inputs(tmp_path) -> Path:
    """Empty folders where the tiny configs expect their inputs, so only the mistake under test fails."""
    for sub in ("outputs/sim_data/train/vqa", "outputs/sim_data/val", "outputs/stage1_tiny", "outputs/stage3/demos_extra"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "outputs/sim_data/train/vqa/vqa.jsonl").touch()
    return tmp_path


@pytest.mark.parametrize("stage", ["sft", "align", "head"])
def test_malformed_yaml_is_one_line_with_line_and_column(stage, tmp_path, capsys):
    bad = _write(tmp_path, "x: [unclosed\n")
    line = _one_line_error(capsys, ["train", stage, "--config", str(bad)])
    assert line.startswith(f"roboalign train {stage}: {bad}:2:1: malformed YAML: expected ',' or ']'")
    assert "line 1, column 4" in line  # where the unclosed list began


def test_the_roboalign_command_prints_no_traceback_for_malformed_yaml(tmp_path):
    bad = _write(tmp_path, "x: [unclosed\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "runtime"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "roboalign.cli", "train", "sft", "--config", str(bad)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and str(bad) in proc.stderr


@pytest.mark.parametrize("stage", ["sft", "align", "head"])
def test_a_missing_config_file_is_named(stage, tmp_path, capsys):
    line = _one_line_error(capsys, ["train", stage, "--config", str(tmp_path / "absent.yaml")])
    assert line == f"roboalign train {stage}: {tmp_path / 'absent.yaml'}: no such file"


SFT_DATA = "data:\n  sources: [{kind: vqa, path: x}]\n"


@pytest.mark.parametrize("stage,text,place,suggestion", [
    ("sft", SFT_DATA + "train:\n  learning_rat: 1.0e-3\n", "4:3",
     "train.learning_rat: unknown key; did you mean learning_rate?"),
    ("sft", SFT_DATA + "model:\n  tiny:\n    hiden_size: 64\n", "5:5",
     "model.tiny.hiden_size: unknown key; did you mean hidden_size?"),
    ("sft", SFT_DATA + "prompt: {sytem: null}\n", "3:10", "prompt.sytem: unknown key; did you mean system?"),
    ("align", "model: {checkpoint: c}\ndata: {path: d}\ngrpo:\n  num_generation: 4\n", "4:3",
     "grpo.num_generation: unknown key; did you mean num_generations?"),
    ("head", "backbone: b\ndata:\n  train: [a]\n  hozion: 3\n", "4:3", "data.hozion: unknown key; did you mean horizon?"),
    ("head", "backbone: b\ndata: {train: [a]}\nevaluation: {sim_episodes: 3}\n", "3:1",
     "evaluation: unknown key; did you mean eval?"),
])
def test_unknown_keys_in_a_file_name_the_place_and_the_closest_valid_key(stage, text, place, suggestion, tmp_path,
                                                                          capsys):
    path = _write(tmp_path, text)
    line = _one_line_error(capsys, ["train", stage, "--config", str(path)])
    assert line.startswith(f"roboalign train {stage}: {path}:{place}: {suggestion} valid keys: ")


@pytest.mark.parametrize("stage,setting,suggestion", [
    ("sft", "train.max_stepz=5", "train.max_stepz: unknown key; did you mean max_steps?"),
    ("align", "grpo.betta=0", "grpo.betta: unknown key; did you mean beta?"),
    ("head", "train.step=10", "train.step: unknown key; did you mean steps?"),
])
def test_set_with_an_unknown_key_names_the_set(stage, setting, suggestion, capsys):
    line = _one_line_error(capsys, ["train", stage, "--config", str(TINY[stage]), "--set", setting])
    assert line.startswith(f"roboalign train {stage}: --set {setting}: {suggestion}")


def test_set_into_a_value_and_set_without_a_value_are_refused(capsys):
    line = _one_line_error(capsys, ["train", "sft", "--config", str(TINY["sft"]), "--set", "train.seed.x=1"])
    assert line == "roboalign train sft: --set train.seed.x=1: train.seed is a value, not a section"
    line = _one_line_error(capsys, ["train", "sft", "--config", str(TINY["sft"]), "--set", "train.seed"])
    assert line.startswith("roboalign train sft: --set train.seed: expected KEY=VALUE")


@pytest.mark.parametrize("stage,setting,message", [
    ("sft", "train.max_steps=ten", "train.max_steps: expected an integer, got 'ten'"),
    ("sft", "data.action_frame=relative", "data: action_frame 'relative': use one of absolute, delta"),
    ("align", "grpo.bf16=maybe", "grpo.bf16: expected"),
    ("head", "head.d_model=big", "head.d_model: expected an integer, got 'big'"),
    ("head", "train.aux_target=pixels", "train.aux_target: expected one of 'none', 'sim', got 'pixels'"),
    ("head", "data.train=outputs/sim_data/train", "data.train: expected a list"),
])
def test_wrong_types_are_refused_with_the_key(stage, setting, message, capsys):
    line = _one_line_error(capsys, ["train", stage, "--config", str(TINY[stage]), "--set", setting])
    assert line.startswith(f"roboalign train {stage}: --set {setting}: {message}")


@pytest.mark.parametrize("stage,settings,message", [
    ("sft", ["fast.max_horizon=8"], "fast.max_horizon (8) is shorter than data.horizon (16)"),
    ("sft", ["train.max_steps=0"], "max_steps must be -1 (train num_train_epochs) or >= 1, got 0"),
    ("align", ["grpo.num_generations=3"], "per_device_train_batch_size (16) counts completions and must be a "
                                          "multiple of num_generations (3)"),
    ("align", ["rewards.format=0", "rewards.action=0"], "rewards: at least one of format, action, l1 and symbol"),
    ("head", ["head.d_model=30"], "head: d_model 30 must divide by num_heads 4"),
    ("head", ["head.image_size=12"], "head: image_size must be 0 or a positive multiple of 8, got 12"),
    ("head", ["eval.family=grasp"], "eval: family 'grasp': use one of touch, push"),
    ("head", ["train.ema=1.0"], "train: min_lr_ratio must be in [0, 1] and ema in [0, 1)"),
])
def test_cross_field_checks_fail_at_load_time_with_a_clear_message(stage, settings, message, capsys):
    argv = ["train", stage, "--config", str(TINY[stage])]
    for s in settings:
        argv += ["--set", s]
    assert message in _one_line_error(capsys, argv)


def test_a_missing_required_key_is_named(tmp_path, capsys):
    text = "\n".join(x for x in TINY["align"].read_text().splitlines() if "checkpoint:" not in x)
    path = _write(tmp_path, text)
    assert _one_line_error(capsys, ["train", "align", "--config", str(path)]).endswith(
        "model.checkpoint: missing (this key has no default)")
    path = _write(tmp_path, "data: {train: [a]}\n", "head.yaml")
    assert _one_line_error(capsys, ["train", "head", "--config", str(path)]) == \
        f"roboalign train head: {path}:1:1: backbone: missing (this key has no default)"


@pytest.mark.parametrize("stage,key", [("sft", "data.sources.0.path"), ("align", "model.checkpoint"),
                                       ("head", "data.train.0")])
def test_missing_inputs_are_named_before_training(stage, key, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # none of the tiny chain's folders exist here
    line = _one_line_error(capsys, ["train", stage, "--config", str(TINY[stage])])
    assert f": {key}: outputs/" in line and "does not exist" in line


def test_a_wrong_type_in_a_head_config_fails_before_any_model_or_feature_is_loaded(inputs, tmp_path):
    """It used to fail after ~11 s (backbone loaded, features cached); now at load time."""
    bad = _write(tmp_path, TINY["head"].read_text().replace("d_model: 64", "d_model: sixty-four"), "head.yaml")
    code = ("import sys, time; from roboalign.cli import main; t = time.perf_counter(); "
            f"rc = main(['train', 'head', '--config', {str(bad)!r}]); "
            "print(rc, 'transformers' in sys.modules, 'roboalign.training.head' in sys.modules, "
            "round(time.perf_counter() - t, 2))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "runtime"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=inputs,
                          timeout=120)
    rc, transformers_loaded, training_loaded, _seconds = proc.stdout.split()
    assert (rc, transformers_loaded, training_loaded) == ("2", "False", "False")
    assert proc.stderr.strip() == f"roboalign train head: {bad}:25:3: head.d_model: expected an integer, got 'sixty-four'"


# ---- `train make-data` flags -------------------------------------------------------------------
@pytest.mark.parametrize("flag,value,message", [
    ("--families", "grasp", "unknown 'grasp'; choose from touch, push"),
    ("--cameras", "top", "unknown 'top'; choose from front, wrist"),
    ("--episodes", "-1", "must be between 1 and"),
    ("--episodes", "0", "must be between 1 and"),
    ("--val-episodes", "-1", "must be between 0 and"),
    ("--image-size", "0", "must be between 16 and 1024"),
    ("--horizon", "0", "must be between 1 and 256"),
    ("--vqa-per-episode", "-0.5", "must be between 0 and 100"),
    ("--seed", "-3", "must be at least 0"),
    ("--episodes", "many", "expected an integer, got 'many'"),
])
def test_make_data_refuses_bad_flags_in_one_error_line(flag, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "make-data", "--out", str(tmp_path / "data"), flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not (tmp_path / "data").exists()
    errors = [line for line in err.splitlines() if "error:" in line]  # argparse prints its usage above it
    assert len(errors) == 1 and errors[0].startswith(f"roboalign train make-data: error: argument {flag}: {message}")


def _numeric_actions(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _numeric_actions(sub, (*path, name))
        elif action.type in (int, float):
            yield " ".join(path), action.option_strings


@pytest.mark.parametrize("command", ["train", "tokenizer"])
def test_every_numeric_flag_of_train_and_tokenizer_is_range_checked(command):
    """Plain int/float would accept -1 or 0 silently: every numeric flag uses roboalign.arguments."""
    unchecked = [(p, o) for p, o in _numeric_actions(build_parser()) if p.startswith(command)]
    assert unchecked == []


def test_the_sim_cameras_offered_by_make_data_are_the_sim_arms():
    from roboalign.sim.arm import SimArm
    from roboalign.training.cli import SIM_CAMERAS

    with SimArm(render_size=(16, 16), cameras=()) as arm:
        assert tuple(arm.camera_names) == SIM_CAMERAS
