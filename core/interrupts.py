"""Ctrl-C on the command line: at any moment, one line on stderr and exit status 130, nothing half-written.

`python -m core` imports this first (core/__init__.py), before anything heavy (numpy, pydantic, torch take
seconds): from then until main() takes over, Ctrl-C leaves at once, as nothing has been written yet. main()
then lets it unwind as KeyboardInterrupt, so every file being written is removed (core/files.py) and every
lock released, and prints the one line itself.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

INTERRUPTED = "interrupted: everything finished so far is stored and will be reused\n"
EXIT_STATUS = 130  # 128 + SIGINT, as shells report a command ended by Ctrl-C


def _leave_at_once(signum: int, frame: FrameType | None) -> None:
    os.write(2, INTERRUPTED.encode())
    os._exit(EXIT_STATUS)


def _running_as_cli() -> bool:
    """True while `python -m core` is starting (Python sets sys.argv[0] to '-m' while it locates the module to
    run, and imports the package then), not when a test or the dashboard imports core."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return sys.argv[:1] == ["-m"] or (spec is not None and spec.name == "core.__main__")


def unwind() -> None:
    """From now on Ctrl-C raises KeyboardInterrupt, which main() turns into the one line."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def leave() -> NoReturn:
    """After a KeyboardInterrupt reached main(), every file and lock on the way already dealt with: ignore another
    Ctrl-C, print the one line and exit with 130. The command line runs the exit functions (Ray's shutdown among
    them) but skips the rest of the interpreter's shutdown, where a library the interrupt caught half-imported
    (torch) can end the process by SIGINT instead; in a test, main() raises SystemExit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.write(INTERRUPTED)
    sys.stderr.flush()
    if CLI:
        atexit._run_exitfuncs()
        os._exit(EXIT_STATUS)
    raise SystemExit(EXIT_STATUS)


CLI = _running_as_cli()
if CLI:
    signal.signal(signal.SIGINT, _leave_at_once)
