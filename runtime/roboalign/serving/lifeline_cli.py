"""`python -m roboalign.serving.lifeline_cli FD ARGS...`: `roboalign ARGS...` that exits when
the pipe FD reaches end-of-file, i.e. when the process that started it (ServerProcess) is gone,
whatever ended it (SIGKILL included). Command layer: it runs the `roboalign` command."""
from __future__ import annotations

import sys
import threading

from roboalign.serving.process import watch_lifeline


def main(argv: list[str]) -> int:
    fd = int(argv[0])
    threading.Thread(target=watch_lifeline, args=(fd,), name="lifeline", daemon=True).start()
    from roboalign.cli import main as roboalign_main

    return roboalign_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
