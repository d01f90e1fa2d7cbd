"""Policy registry: `--policy expert|noop|PATH` -> a Policy object.

A *kind* names a factory. Factories are given as "module:attribute" strings and imported
only when used, so `roboalign --help` never pulls in torch or MuJoCo. New kinds (e.g. VLA
checkpoints) add a line to _BUILTIN_KINDS or call `register_policy` at import time.

A checkpoint folder holds a `roboalign_policy.yaml`:

    kind: noop            # a registered kind
    args: {horizon: 16}   # keyword arguments for its factory (optional)

If the kind registers a `load_checkpoint`, it is called as load_checkpoint(folder, **args,
**kwargs); otherwise the plain factory is called with **args, **kwargs.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roboalign import config
from roboalign.core.policy import Policy

CHECKPOINT_FILE = "roboalign_policy.yaml"


class PolicyLoadError(ValueError):
    """The policy could not be built; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class CheckpointDescriptor:
    """The checkpoint folder's roboalign_policy.yaml (module docstring)."""

    kind: str
    args: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PolicyKind:
    name: str
    factory: Callable[..., Any] | str
    description: str = ""
    load_checkpoint: Callable[..., Any] | str | None = None


_BUILTIN_KINDS = (
    PolicyKind("expert", "roboalign.sim.expert:ScriptedExpert",
               "scripted expert for the MuJoCo tasks (reads privileged sim state)"),
    PolicyKind("noop", "roboalign.policy.noop:NoopPolicy",
               "holds the current joint positions (wiring tests, transport benchmarks)"),
    PolicyKind("vla", "roboalign.policy.vla:load_checkpoint",
               "stage-3 VLA checkpoint folder: frozen backbone + flow-matching head",
               load_checkpoint="roboalign.policy.vla:load_checkpoint"),
    PolicyKind("fast-token", "roboalign.policy.token_policy:load_checkpoint",
               "stage-1/2 backbone checkpoint folder: the MLLM generates FAST action tokens",
               load_checkpoint="roboalign.policy.token_policy:load_checkpoint"),
    PolicyKind("libero_adapter", "roboalign.policy.libero_adapter:LiberoAdapter",
               "LIBERO's 7-D delta end-effector actions from a wrapped policy (default: the random stand-in)",
               load_checkpoint="roboalign.policy.libero_adapter:load_checkpoint"),
    PolicyKind("libero_standin", "roboalign.policy.libero_adapter:LiberoStandIn",
               "random-weight LIBERO-shaped policy (wire tests; never solves a task)"),
)
_REGISTRY: dict[str, PolicyKind] = {k.name: k for k in _BUILTIN_KINDS}


def register_policy(name: str, factory: Callable[..., Any] | str, *, description: str = "",
                    load_checkpoint: Callable[..., Any] | str | None = None,
                    replace: bool = False) -> None:
    """Add a kind. `factory` / `load_checkpoint` may be callables or "module:attribute"."""
    if not name or "/" in name or name != name.strip():
        raise ValueError(f"policy kind {name!r}: use a short name without '/' or spaces")
    if name in _REGISTRY and not replace:
        raise ValueError(f"policy kind {name!r} is already registered (pass replace=True to override)")
    _REGISTRY[name] = PolicyKind(name, factory, description, load_checkpoint)


def available_policies() -> dict[str, str]:
    """Registered kind -> one-line description."""
    return {name: kind.description for name, kind in sorted(_REGISTRY.items())}


def _resolve(target: Callable[..., Any] | str, kind: str) -> Callable[..., Any]:
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise PolicyLoadError(
            f"policy kind {kind!r} needs the module {module_name} ({exc}); is that part installed?"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PolicyLoadError(f"policy kind {kind!r}: {module_name} has no {attr}") from None


def _check_policy(obj: Any, what: str) -> Policy:
    if not isinstance(obj, Policy):
        raise PolicyLoadError(f"{what} built a {type(obj).__name__}, which lacks infer/metadata/reset")
    return obj


def _load_checkpoint(folder: Path, **kwargs: Any) -> Policy:
    config_path = folder / CHECKPOINT_FILE
    if not config_path.is_file():
        present = sorted(p.name for p in folder.iterdir())[:10]
        raise PolicyLoadError(
            f"{folder} is not a RoboAlign policy checkpoint: expected a {CHECKPOINT_FILE} naming its "
            f"kind (one of {sorted(_REGISTRY)}) and the files that kind needs; found {present}"
        )
    descriptor = config.load(CheckpointDescriptor, config_path)  # ConfigError: file:line:col, exit 2
    kind_name = descriptor.kind
    kind = _REGISTRY.get(kind_name)
    if kind is None:
        raise PolicyLoadError(f"{config_path} names kind {kind_name!r}; registered kinds: {sorted(_REGISTRY)}")
    args = descriptor.args
    args = {**args, **kwargs}
    try:
        if kind.load_checkpoint is not None:
            obj = _resolve(kind.load_checkpoint, kind_name)(folder, **args)
        else:
            obj = _resolve(kind.factory, kind_name)(**args)
    except TypeError as exc:
        raise PolicyLoadError(f"checkpoint {folder} (kind {kind_name}): bad arguments {sorted(args)}: {exc}") from None
    return _check_policy(obj, f"checkpoint {folder} (kind {kind_name})")


def load_policy(name_or_path: str | Path, **kwargs: Any) -> Policy:
    """A registered kind ("expert", "noop", ...) or a checkpoint folder -> Policy."""
    text = str(name_or_path)
    kind = _REGISTRY.get(text)
    if kind is not None and not isinstance(name_or_path, Path):
        try:
            obj = _resolve(kind.factory, text)(**kwargs)
        except TypeError as exc:
            raise PolicyLoadError(f"policy {text!r}: bad arguments {sorted(kwargs)}: {exc}") from None
        return _check_policy(obj, f"policy kind {text!r}")
    path = Path(text).expanduser()
    if path.is_dir():
        return _load_checkpoint(path, **kwargs)
    if path.exists():
        raise PolicyLoadError(f"{path} is a file; pass the checkpoint folder that holds {CHECKPOINT_FILE}")
    raise PolicyLoadError(
        f"unknown policy {text!r}: choose one of {sorted(_REGISTRY)} or pass a checkpoint folder"
    )
