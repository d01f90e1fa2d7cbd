"""The project's one error convention: what a command says when something is wrong.

Every `roboalign` command answers a mistake with one line on stderr that says what to change,
and an exit status that tells scripts which kind of mistake it was:

- exit 2, `UsageError`: the user can fix it by changing what they typed or wrote: a flag out
  of range, a malformed or misspelt configuration (`ConfigError` adds file, line and column),
  a missing or damaged input file (`CheckpointError` names the file).
- exit 1, `RoboAlignError` (and anything unexpected): the command was right but the run
  failed: a server that died, a rollout below its success threshold, a bug.

No traceback reaches the user unless `roboalign --debug` asked for it (`cli.main` does this).
Library code raises these (or the standard `ValueError`/`FileNotFoundError` it always raised);
only the CLI turns them into lines and exit codes.
"""
from __future__ import annotations

from pathlib import Path


class RoboAlignError(Exception):
    """A run failed although the command was well formed (exit 1)."""

    exit_code = 1


class UsageError(RoboAlignError):
    """The user's input is wrong: flags, configuration, input files (exit 2)."""

    exit_code = 2


class ConfigError(UsageError, ValueError):
    """A configuration mistake, located: `file:line:column: message` when the place is known.

    Also a ValueError, so library callers that validated configs with `except ValueError`
    keep working.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line        # 1-based
        self.column = column    # 1-based
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.path or ""
        if where and self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}" if where else self.message


class CheckpointError(UsageError):
    """A model/checkpoint folder or one of its files is missing or damaged; names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {problem}")
