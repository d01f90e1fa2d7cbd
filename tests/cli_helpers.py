"""Run `roboalign ...` in-process and read what a user would see of a mistake."""
from __future__ import annotations


def cli_mistake(capsys, argv: list[str]) -> tuple[int, str]:
    """(exit code, the error line) of a command that must refuse its input.

    Fails the test on a traceback, on an exit code of 0, or on more than one error line (progress
    bars of model loading are not messages; argparse mistakes are one line too, roboalign.cli)."""
    from roboalign.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusing a flag
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code not in (0, None), f"`roboalign {' '.join(argv)}` accepted the mistake"
    # Progress bars (transformers' "Loading weights: 100%|...|") are progress, not messages.
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    return code, lines[0]
