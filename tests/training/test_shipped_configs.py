"""Shipped configs load through their stage's config class, the documented tiny chain connects
(each stage reads the folders the previous one writes), and every documented `roboalign train`
command parses. Fast: nothing is trained."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from roboalign import config
from roboalign.training.align_config import AlignRunConfig
from roboalign.training.config import SFTRunConfig
from roboalign.training.head_config import HeadRunConfig

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"sft": SFTRunConfig, "align": AlignRunConfig, "head": HeadRunConfig}  # config name prefix -> class
DOCS = [ROOT / "docs" / f"stage{i}.md" for i in (1, 2, 3)]
TINY = {stage: ROOT / "configs" / f"{stage}_tiny.yaml" for stage in STAGES}


def _stage_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_through_its_stage_class(path):
    assert _stage_of(path) in STAGES, f"{path.name}: name it <stage>_<what>.yaml, stage one of {list(STAGES)}"
    cfg = config.load(STAGES[_stage_of(path)], path)
    if isinstance(cfg, SFTRunConfig) and not path.name.endswith("_tiny.yaml"):  # the paper's recipe on full-size models
        assert (cfg.train.learning_rate, cfg.train.lr_scheduler_type, cfg.train.warmup_ratio) == (2e-5, "cosine", 0.03)
        assert cfg.train.freeze_vision and cfg.fast.vocab_size == 2048 and cfg.train.num_train_epochs == 1


def _documented_commands() -> list[tuple[str, list[str]]]:
    """(where, argv after `roboalign`) of every command in docs/stage{1,2,3}.md code blocks and
    in the configs' header comments; continuation lines joined, comments and `...` elided lines
    dropped."""
    out = []
    sources = [(p, p.read_text()) for p in DOCS]
    sources += [(p, "\n".join(line[1:] for line in p.read_text().splitlines() if line.startswith("#")))
                for p in sorted((ROOT / "configs").glob("*_tiny.yaml"))]
    for path, text in sources:
        joined = re.sub(r"\\\n\s*", " ", text)
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            m = re.search(r"(?:^|\s)roboalign (\w[\w-]* .*)$", line)
            if m and "<" not in line and not line.startswith("..."):
                out.append((f"{path.name}: {line}", shlex.split(m.group(1))))
    return out


def _flag(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]


def _train_outputs(argv: list[str]):
    """The config of a documented `train sft|align|head` command, loaded with its --set flags."""
    from roboalign.cli import build_parser

    args = build_parser().parse_args(argv)
    return config.load(STAGES[args.train_command], ROOT / args.config, args.set)


def test_the_tiny_chain_reads_what_the_previous_stage_writes():
    sft, align, head = (config.load(STAGES[s], TINY[s]) for s in ("sft", "align", "head"))
    commands = _documented_commands()
    data = _single({out for _w, argv in commands if argv[:2] == ["train", "make-data"] for out in _flag(argv, "--out")})
    demos = {out for _w, argv in commands if argv[:2] == ["sim", "demos"] for out in _flag(argv, "--out")}
    # make-data's layout: <out>/{train,val}/episodes and <out>/train/vqa/vqa.jsonl
    assert sorted(sft.inputs().values()) == [f"{data}/train", f"{data}/train/vqa/vqa.jsonl"]
    assert align.inputs() == {"model.checkpoint": sft.output_dir, "data.path": f"{data}/train"}
    assert head.backbone == sft.output_dir
    assert head.data.train[0] == f"{data}/train" and head.data.val == (f"{data}/val",)
    assert set(head.data.train[1:]) <= demos, "stage 3's extra demos must be written by a documented `sim demos`"
    assert len({sft.output_dir, align.output_dir, head.output_dir}) == 3  # no stage overwrites another


def test_documented_train_commands_parse_and_every_checkpoint_they_name_is_written_by_one():
    commands = _documented_commands()
    assert any(argv[:2] == ["train", "head"] for _w, argv in commands)
    written = {"models/roboalign-sim-touch-tiny"}  # bundled
    for where, argv in commands:
        if argv[0] == "train" and argv[1] in STAGES:
            try:
                written.add(_train_outputs(argv).output_dir)
            except (config.ConfigError, SystemExit) as exc:
                pytest.fail(f"{where}: {exc}")
        written |= set(_flag(argv, "--out"))
    for where, argv in commands:
        for path in _flag(argv, "--ckpt") + _flag(argv, "--policy"):
            if "/" in path and path != "DIR":
                assert any(path == w or path.startswith(w + "/") for w in written), \
                    f"{where}: {path} is written by no documented command"


def test_documented_make_data_commands_parse_and_agree():
    from roboalign.cli import build_parser

    parsed = [vars(build_parser().parse_args(argv)) for _w, argv in _documented_commands()
              if argv[:2] == ["train", "make-data"]]
    # --grounding-only adds the grounding VQA to an existing make-data folder (issue 19): it must
    # name the folder every page builds, and is not a second way to build it.
    runs = {json.dumps(sorted(a.items(), key=str), default=str) for a in parsed if not a["grounding_only"]}
    assert len(runs) == 1, "every page should build the same stage-1 data"
    outs = {a["out"] for a in parsed if not a["grounding_only"]}
    assert {a["out"] for a in parsed if a["grounding_only"]} <= outs


def _single(values: set[str]) -> str:
    assert len(values) == 1, values
    return next(iter(values))


def test_accelerate_configs_parse_and_point_at_a_zero2_deepspeed_file():
    from accelerate.commands.config.config_args import load_config_from_file

    ddp = load_config_from_file(str(ROOT / "configs" / "accelerate" / "multi_gpu.yaml"))
    assert ddp.distributed_type.value == "MULTI_GPU"
    z2 = load_config_from_file(str(ROOT / "configs" / "accelerate" / "zero2.yaml"))
    assert z2.distributed_type.value == "DEEPSPEED"
    ds = json.loads((ROOT / z2.deepspeed_config["deepspeed_config_file"]).read_text())
    assert ds["zero_optimization"]["stage"] == 2
