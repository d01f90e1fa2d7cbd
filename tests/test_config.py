"""roboalign.config: every mistake in a YAML or a --set is one ConfigError naming its place."""
from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any, Literal

import pytest

from roboalign import config
from roboalign.errors import ConfigError, UsageError


class Frame(enum.Enum):
    ABSOLUTE = "absolute"
    DELTA = "delta"


@dataclasses.dataclass(frozen=True)
class Optim:
    learning_rate: float = 1e-3
    max_steps: int = 10
    schedule: Literal["cosine", "constant"] = "cosine"

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")


@dataclasses.dataclass(frozen=True)
class Style:
    name: str = "plain"
    decimals: int = 2


@dataclasses.dataclass(frozen=True)
class Run:
    data: str
    optim: Optim = dataclasses.field(default_factory=Optim)
    cameras: tuple[str, ...] = ("front",)
    size: tuple[int, int] = (64, 64)
    ids: list[int] = dataclasses.field(default_factory=list)
    layer: int | None = None
    bf16: Literal["auto"] | bool = "auto"
    frame: Frame = Frame.ABSOLUTE
    out: Path = Path("out")
    extra: dict[str, float] = dataclasses.field(default_factory=dict)
    style: dict[str, Any] = dataclasses.field(default_factory=dict, metadata=config.partial(Style))
    nested: Optim | None = None


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def _error(tmp_path, text: str, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.load(Run, _write(tmp_path, text), overrides)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2
    return info.value


def test_a_full_config_builds_typed_values(tmp_path):
    run = config.load(Run, _write(tmp_path, """
data: episodes
optim: {learning_rate: 1e-4, max_steps: 3, schedule: constant}
cameras: [front, wrist]
size: [32, 48]
ids: [1, 2]
layer: 3
bf16: true
frame: delta
out: results/a
extra: {a: 1}
style: {decimals: 4}
nested: {max_steps: 2}
"""))
    assert run.optim == Optim(1e-4, 3, "constant")  # "1e-4" is a string to PyYAML: read as a number
    assert run.cameras == ("front", "wrist") and run.size == (32, 48) and run.ids == [1, 2]
    assert run.layer == 3 and run.bf16 is True and run.frame is Frame.DELTA and run.out == Path("results/a")
    assert run.extra == {"a": 1.0} and isinstance(run.extra["a"], float)
    assert run.style == {"decimals": 4}  # only the keys given: overrides of a default decided later
    assert run.nested == Optim(max_steps=2)


def test_defaults_fill_what_the_file_leaves_out_and_null_sections_are_their_defaults(tmp_path):
    run = config.load(Run, _write(tmp_path, "data: x\noptim:\nlayer: null\n"))
    assert run.optim == Optim() and run.layer is None and run.style == {} and run.bf16 == "auto"


def test_malformed_yaml_names_line_and_column(tmp_path):
    err = _error(tmp_path, "data: x\noptim: [unclosed\n")
    assert err.path == str(tmp_path / "run.yaml") and err.line is not None and err.column is not None
    assert str(err).startswith(f"{tmp_path / 'run.yaml'}:{err.line}:{err.column}: malformed YAML")


def test_a_missing_file_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="no such file") as info:
        config.load(Run, tmp_path / "absent.yaml")
    assert info.value.path == str(tmp_path / "absent.yaml")


def test_unknown_key_is_refused_with_the_closest_valid_key_and_all_valid_keys(tmp_path):
    err = _error(tmp_path, "data: x\noptim:\n  learning_rat: 0.1\n")
    assert (err.line, err.column) == (3, 3)
    assert err.message.startswith("optim.learning_rat: unknown key; did you mean learning_rate?")
    assert "valid keys: learning_rate, max_steps, schedule" in err.message


def test_unknown_top_level_key(tmp_path):
    err = _error(tmp_path, "data: x\ncamera: [front]\n")
    assert (err.line, err.column) == (2, 1) and "did you mean cameras?" in err.message


@pytest.mark.parametrize("text,needle", [
    ("data: x\noptim: {max_steps: ten}\n", "optim.max_steps: expected an integer, got 'ten'"),
    ("data: x\noptim: {max_steps: 2.5}\n", "optim.max_steps: expected an integer, got 2.5"),
    ("data: x\noptim: {max_steps: true}\n", "optim.max_steps: expected an integer, got True"),
    ("data: x\noptim: {learning_rate: fast}\n", "optim.learning_rate: expected a number"),
    ("data: x\noptim: {learning_rate: .nan}\n", "optim.learning_rate: expected a number"),
    ("data: 3\n", "data: expected a string, got 3"),
    ("data: x\noptim: 5\n", "optim: expected a mapping of Optim keys, got 5"),
    ("data: x\ncameras: front\n", "cameras: expected a list, got 'front'"),
    ("data: x\nsize: [1, 2, 3]\n", "size: expected a list of 2 items, got 3"),
    ("data: x\nids: [1, b]\n", "ids.1: expected an integer, got 'b'"),
    ("data: x\nlayer: top\n", "layer: expected an integer or null, got 'top'"),
    ("data: x\nbf16: 1\n", "bf16: expected"),
    ("data: x\nframe: sideways\n", "frame: expected one of 'absolute', 'delta', got 'sideways'"),
    ("data: x\noptim: {schedule: linear}\n", "optim.schedule: expected one of 'cosine', 'constant', got 'linear'"),
    ("data: x\nout: 3\n", "out: expected a path, got 3"),
    ("data: x\nextra: {a: b}\n", "extra.a: expected a number, got 'b'"),
    ("data: x\nstyle: {decimal: 3}\n", "style.decimal: unknown key; did you mean decimals?"),
    ("data: x\nstyle: {decimals: many}\n", "style.decimals: expected an integer, got 'many'"),
    ("data: x\nnested: {max_step: 3}\n", "nested.max_step: unknown key; did you mean max_steps?"),
])
def test_wrong_types_name_the_key_and_the_value(tmp_path, text, needle):
    err = _error(tmp_path, text)
    assert needle in err.message and err.line is not None


def test_missing_required_key_is_named(tmp_path):
    err = _error(tmp_path, "optim: {max_steps: 3}\n")
    assert err.message == "data: missing (this key has no default)"


def test_an_empty_file_reports_the_missing_required_key(tmp_path):
    assert _error(tmp_path, "").message == "data: missing (this key has no default)"


def test_post_init_value_error_is_located_at_its_mapping(tmp_path):
    err = _error(tmp_path, "data: x\n\noptim:\n  max_steps: 0\n")
    assert (err.line, err.column) == (3, 1)
    assert err.message == "optim: max_steps must be >= 1, got 0"


def test_a_key_given_twice_is_refused(tmp_path):
    err = _error(tmp_path, "data: x\ndata: y\n")
    assert (err.line, err.message) == (2, "data: key given twice")


def test_set_overrides_nested_values_and_creates_missing_sections(tmp_path):
    path = _write(tmp_path, "data: x\n")
    run = config.load(Run, path, ["optim.max_steps=7", "cameras=[wrist]", "optim.learning_rate=2e-5"])
    assert run.optim.max_steps == 7 and run.cameras == ("wrist",) and run.optim.learning_rate == 2e-5


def test_set_unknown_key_names_the_set_and_suggests(tmp_path):
    err = _error(tmp_path, "data: x\n", ["optim.max_stepz=5"])
    assert err.path == "--set optim.max_stepz=5" and err.line is None
    assert str(err).startswith("--set optim.max_stepz=5: optim.max_stepz: unknown key; did you mean max_steps?")


def test_set_into_a_value_is_refused(tmp_path):
    err = _error(tmp_path, "data: x\noptim: {max_steps: 3}\n", ["optim.max_steps.x=5"])
    assert str(err) == "--set optim.max_steps.x=5: optim.max_steps is a value, not a section"
    err = _error(tmp_path, "data: x\n", ["optim.max_steps.x=5"])  # not in the file: the schema says so
    assert str(err) == "--set optim.max_steps.x=5: optim.max_steps: expected an integer, got a mapping"


def test_set_without_equals_or_with_a_wrong_type(tmp_path):
    assert "expected KEY=VALUE" in str(_error(tmp_path, "data: x\n", ["optim.max_steps"]))
    err = _error(tmp_path, "data: x\n", ["optim.max_steps=many"])
    assert str(err) == "--set optim.max_steps=many: optim.max_steps: expected an integer, got 'many'"


def test_from_mapping_prefixes_key_paths():
    with pytest.raises(ConfigError) as info:
        config.from_mapping(Optim, {"max_step": 1}, source="graph.yaml", prefix=("nodes", "trainer"))
    assert str(info.value).startswith("graph.yaml: nodes.trainer.max_step: unknown key; did you mean max_steps?")


def test_check_keys_refuses_undeclared_names():
    config.check_keys(["a"], ["a", "b"])
    with pytest.raises(ConfigError, match="watchdog_timeot: unknown key; did you mean watchdog_timeout"):
        config.check_keys(["watchdog_timeot"], ["watchdog_timeout", "max_velocity"], where="safety")


def test_a_post_init_error_caused_by_a_set_names_the_set(tmp_path):
    err = _error(tmp_path, "data: x\noptim: {max_steps: 3}\n", ["optim.learning_rate=0.1", "optim.max_steps=0"])
    assert str(err) == "--set optim.max_steps=0: optim: max_steps must be >= 1, got 0"


def test_a_malformed_yaml_message_says_where_the_unclosed_part_began(tmp_path):
    err = _error(tmp_path, "data: x\noptim: {max_steps: 3\nids: [1]\n")
    assert "(while parsing a flow mapping at line 2, column 8)" in err.message


def test_a_misspelt_key_that_extends_a_valid_one_is_still_suggested(tmp_path):
    assert "did you mean data?" in _error(tmp_path, "dataset: x\n").message
