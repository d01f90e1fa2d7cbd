"""The one configuration path: YAML -> nested dataclasses, with dotted `--set` overrides.

    cfg = config.load(SFTRunConfig, "configs/sft_tiny.yaml", overrides=["train.max_steps=5"])
    cfg = config.from_mapping(SafetyConfig, {"watchdog_timeout": 0.3}, source="graph.yaml")

Every training stage, `serve`, `rollout` and the node graph YAML go through here, so a mistake
reads the same everywhere, as one line with its place (roboalign.errors.ConfigError, exit 2):

    configs/sft.yaml:12:5: train.learning_rat: unknown key; did you mean learning_rate? valid keys: ...
    configs/sft.yaml:14:20: train.max_steps: expected an integer, got 'ten'
    --set train.max_stepz=5: train.max_stepz: unknown key; did you mean max_steps? ...

What a field accepts follows its annotation: bool, int, float (an int or a YAML string such
as "1e-3" too: PyYAML reads exponents without a dot as strings), str, Path, Enum (by value),
Literal[...], X | None, unions of those, tuple[X, ...], tuple[X, Y], list[X], dict[K, V], Any,
nested dataclasses (from a mapping), and fields with `config.partial(Cls)` metadata: a mapping of some of Cls's
fields (type-checked), kept as a dict of only the keys given (overrides of a default decided
later, e.g. a backbone's prompt format). Unknown keys are refused with the valid ones listed:
a misspelt safety limit must never fall back to its default. Missing fields without a default
are refused. A ValueError raised by a dataclass's own __post_init__ is reported at the place of
the mapping that built it.
"""
from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from roboalign.errors import ConfigError

T = TypeVar("T")
_Mark = tuple[int, int]  # 1-based line, column


class _Located:
    """Where each value of a YAML document came from: key path -> (line, column)."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.marks: dict[tuple, _Mark] = {}
        self.override_for: dict[tuple, str] = {}  # key path -> the --set text that set it

    def error(self, keypath: tuple, message: str) -> ConfigError:
        dotted = ".".join(str(k) for k in keypath)
        text = f"{dotted}: {message}" if dotted else message
        for i in range(len(keypath), -1, -1):  # the closest --set that wrote this path or a parent
            if keypath[:i] in self.override_for:
                return ConfigError(text, path=f"--set {self.override_for[keypath[:i]]}")
        for written, override in reversed(self.override_for.items()):  # a --set beneath this path:
            if written[:len(keypath)] == keypath and (  # it created the path (a.b.c=1, a.b a value),
                    keypath not in self.marks or str(written[-1]) in message):  # or the message names it
                return ConfigError(text, path=f"--set {override}")
        for i in range(len(keypath), -1, -1):  # the closest place with a mark
            mark = self.marks.get(keypath[:i])
            if mark is not None:
                return ConfigError(text, path=self.source, line=mark[0], column=mark[1])
        return ConfigError(text, path=self.source)


# ---- reading YAML with positions -------------------------------------------------------------
def read_yaml(path: str | Path) -> tuple[Any, _Located]:
    """Parse a YAML file; ConfigError (with line and column) when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such file" if not path.exists() else "not a file", path=path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path) from None
    return parse_yaml(text, source=str(path))


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, _Located]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or "").split()) or "malformed YAML"
        if exc.context:  # e.g. "while parsing a flow sequence", where that began
            cm = exc.context_mark
            where = f" at line {cm.line + 1}, column {cm.column + 1}" if cm is not None and cm != mark else ""
            problem += f" ({' '.join(str(exc.context).split())}{where})"
        raise ConfigError(f"malformed YAML: {problem}", path=source,
                          line=None if mark is None else mark.line + 1,
                          column=None if mark is None else mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {' '.join(str(exc).split())}", path=source) from None
    located = _Located(source)
    if node is None:
        return None, located
    return _construct(node, (), located), located


def _construct(node: yaml.Node, keypath: tuple, located: _Located) -> Any:
    located.marks[keypath] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, located, keypath)
            if isinstance(key, (dict, list)):
                raise located.error(keypath, "mapping keys must be plain scalars")
            if key in out:
                raise ConfigError(f"{'.'.join(map(str, (*keypath, key)))}: key given twice", path=located.source,
                                  line=key_node.start_mark.line + 1, column=key_node.start_mark.column + 1)
            out[key] = _construct(value_node, (*keypath, key), located)
            located.marks[(*keypath, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*keypath, i), located) for i, item in enumerate(node.value)]
    return _scalar(node, located, keypath)


def _scalar(node: yaml.Node, located: _Located, keypath: tuple) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return _construct(node, keypath, located)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ConfigError(f"bad value: {' '.join(str(exc).split())}", path=located.source, line=node.start_mark.line + 1,
                          column=node.start_mark.column + 1) from None
    finally:
        loader.dispose()


# ---- --set overrides -------------------------------------------------------------------------
def parse_override(text: str, flag: str = "--set") -> tuple[tuple[str, ...], Any]:
    """"train.max_steps=5" -> (("train", "max_steps"), 5); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    keypath = tuple(k.strip() for k in key.split("."))
    if not sep or not all(keypath):
        raise ConfigError("expected KEY=VALUE with a dotted key, e.g. train.max_steps=20", path=f"{flag} {text}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"the value is not valid YAML ({exc.__class__.__name__})", path=f"{flag} {text}") from None
    return keypath, parsed


def apply_overrides(data: Any, overrides: Iterable[str], located: _Located | None = None) -> dict:
    """Return a copy of mapping `data` with each "a.b.c=value" applied (created where missing)."""
    root = _deepcopy(data if data is not None else {})
    if not isinstance(root, dict):
        raise ConfigError("the top level must be a mapping of keys to values",
                          path=None if located is None else located.source)
    for text in overrides:
        keypath, value = parse_override(text)
        node = root
        for i, key in enumerate(keypath[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(keypath[:i + 1])} is a value, not a section", path=f"--set {text}")
            node = child
        node[keypath[-1]] = value
        if located is not None:
            located.override_for[keypath] = text
    return root


def _deepcopy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deepcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy(v) for v in value]
    return value


# ---- mapping -> dataclass --------------------------------------------------------------------
def load(cls: type[T], path: str | Path, overrides: Sequence[str] = ()) -> T:
    """Read `path` (YAML), apply `--set` overrides, build `cls`; ConfigError on any mistake."""
    data, located = read_yaml(path)
    data = apply_overrides(data, overrides, located)
    return _build(cls, data, (), located)


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, *, source: str | None = None,
                 overrides: Sequence[str] = (), prefix: tuple[str, ...] = ()) -> T:
    """Build `cls` from an already-parsed mapping (e.g. one node's parameters of a graph YAML).
    `prefix` is prepended to key paths in messages (e.g. ("nodes", "safety", "parameters"))."""
    located = _Located(source)
    data = apply_overrides(dict(data or {}), overrides, located)
    try:
        return _build(cls, data, (), located)
    except ConfigError as exc:
        if not prefix:
            raise
        raise ConfigError(f"{'.'.join(prefix)}.{exc.message}", exc.path, exc.line, exc.column) from None


def check_keys(given: Iterable[str], valid: Iterable[str], where: str = "") -> None:
    """Refuse keys outside `valid`, naming the closest valid one (for mappings that are not
    dataclasses, e.g. ROS node parameters)."""
    valid = sorted(valid)
    for key in given:
        if key not in valid:
            raise ConfigError(f"{key}: {_unknown_key(str(key), valid)}", path=where or None)


def _unknown_key(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1) or [  # else a prefix: "evaluation" -> eval
        v for v in valid if min(len(v), len(key)) >= 3 and (key.startswith(v) or v.startswith(key))][:1]
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown key; {hint}valid keys: {', '.join(valid)}"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_PARTIAL = "roboalign.config.partial_of"  # dataclasses.field metadata key


def partial(of: type) -> dict[str, type]:
    """Field metadata: the field holds overrides of some of `of`'s fields; each key must be one
    of them and each value must fit its annotation; only the keys given are kept.

        prompt: dict[str, Any] = dataclasses.field(default_factory=dict, metadata=config.partial(PromptFormat))
        ...dataclasses.replace(fmt, **cfg.prompt)
    """
    return {_PARTIAL: of}


def _build(cls: type, data: Any, keypath: tuple, located: _Located) -> Any:
    if not isinstance(data, dict):
        raise located.error(keypath, f"expected a mapping of {cls.__name__} keys, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    _refuse_unknown(data, fields, keypath, located)
    hints = _hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            if _PARTIAL in f.metadata:
                kwargs[name] = _partial(f.metadata[_PARTIAL], data[name], (*keypath, name), located)
            else:
                kwargs[name] = _convert(hints[name], data[name], (*keypath, name), located)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise located.error((*keypath, name), "missing (this key has no default)")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # the dataclass's own checks (__post_init__)
        raise located.error(keypath, " ".join(str(exc).split())) from None


def _refuse_unknown(data: dict, valid: Iterable[str], keypath: tuple, located: _Located) -> None:
    valid = list(valid)
    for key in data:
        if key not in valid:
            raise located.error((*keypath, key), _unknown_key(str(key), valid))


def _partial(of: type, data: Any, keypath: tuple, located: _Located) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise located.error(keypath, f"expected a mapping of {of.__name__} keys, got {_describe(data)}")
    fields = [f.name for f in dataclasses.fields(of) if f.init]
    _refuse_unknown(data, fields, keypath, located)
    hints = _hints(of)
    return {k: _convert(hints[k], v, (*keypath, k), located) for k, v in data.items()}


def _convert(tp: Any, value: Any, keypath: tuple, located: _Located) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        nested = [a for a in options if dataclasses.is_dataclass(a)]
        if isinstance(value, dict) and len(nested) == 1:  # its own message (an unknown key inside...)
            return _convert(nested[0], value, keypath, located)
        if isinstance(value, (dict, list)) and len(options) == 1:  # ...or a wrong item says more
            return _convert(options[0], value, keypath, located)
        for option in sorted(options, key=_union_order(value)):
            try:
                return _convert(option, value, keypath, located)
            except ConfigError:
                pass
        names = " or ".join(_type_name(a) for a in args)
        raise located.error(keypath, f"expected {names}, got {_describe(value)}")
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):  # True is not 1 here
            return value
        raise located.error(keypath, f"expected one of {', '.join(map(repr, args))}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value if value is not None else {}, keypath, located)
    if origin in (tuple, list, Sequence):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise located.error(keypath, f"expected a list, got {_describe(value)}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise located.error(keypath, f"expected a list of {len(args)} items, got {len(value)}")
            items = [_convert(a, v, (*keypath, i), located) for i, (a, v) in enumerate(zip(args, value))]
        else:
            item = args[0] if args else Any
            items = [_convert(item, v, (*keypath, i), located) for i, v in enumerate(value)]
        return tuple(items) if origin is not list else items
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise located.error(keypath, f"expected a mapping, got {_describe(value)}")
        kt, vt = args if args else (Any, Any)
        return {_convert(kt, k, (*keypath, k), located): _convert(vt, v, (*keypath, k), located)
                for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise located.error(keypath, f"expected true or false, got {_describe(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise located.error(keypath, f"expected an integer, got {_describe(value)}")
    if tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None and not math.isnan(number):  # NaN passes every comparison check: refuse it
            return number
        raise located.error(keypath, f"expected a number, got {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise located.error(keypath, f"expected a string, got {_describe(value)}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise located.error(keypath, f"expected a path, got {_describe(value)}")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise located.error(keypath, f"expected one of {', '.join(repr(m.value) for m in tp)}, "
                                         f"got {_describe(value)}") from None
    if origin is None and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise located.error(keypath, f"expected {_type_name(tp)}, got {_describe(value)}")
    return value  # an annotation this loader does not know: pass the value through unchanged


def _union_order(value: Any):
    """Try the option matching the value's own type first (so "1" stays a string for str | int)."""
    def key(option: Any) -> int:
        return 0 if isinstance(option, type) and type(value) is option else 1
    return key


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", Path: "a path"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
