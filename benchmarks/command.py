"""What the bench commands share at their boundary: counts checked as they are parsed, an output folder
that is a folder, and user errors and Ctrl-C reported in one paragraph instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bonas.cli import INTERRUPTED_EXIT_CODE, whole_number
from bonas.errors import BonasError

#: An argparse type: a whole number of at least 1 (seeds, queries, processes).
positive_int = whole_number(1)


class BenchInputError(BonasError, ValueError):
    """A bench command was asked for something it cannot run (the message says what and the fix)."""


def output_folder(path: Path) -> Path:
    """``path``, refused when it (or a folder above it) is a file, before anything is computed."""
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            raise BenchInputError(
                f"--out {str(path)!r}: {str(folder)!r} is a file; give a folder for the results."
            )
    return path


def run_command(main: Callable[[], int | None], prog: str) -> int:
    """``main()``'s exit status; a user error prints one line (status 2) and Ctrl-C says what was kept
    (status 130)."""
    try:
        return int(main() or 0)
    except KeyboardInterrupt:
        print(
            f"\n{prog}: interrupted. Finished runs are cached; the same command continues from them.",
            file=sys.stderr,
        )
        return INTERRUPTED_EXIT_CODE
    except (BonasError, OSError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
