"""What the bench commands share at their boundary: counts checked as they are parsed, an output folder
that is a folder, and user errors and Ctrl-C reported in one paragraph instead of a traceback."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bonas.cli import INTERRUPTED_EXIT_CODE, whole_number
from bonas.errors import BonasError

#: An argparse type: a whole number of at least 1 (seeds, queries, processes).
positive_int = whole_number(1)


class BenchInputError(BonasError, ValueError):
    """A bench command was asked for something it cannot run (the message says what and the fix)."""


def output_folder(path: Path) -> Path:
    """``path``, refused when it (or a folder above it) is a file or cannot be written to, before anything
    is computed. Nothing is created: the check writes and removes an empty folder in the nearest folder
    that exists."""
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            raise BenchInputError(
                f"--out {str(path)!r}: {str(folder)!r} is a file; give a folder for the results."
            )
    existing = next(folder for folder in (path.absolute(), *path.absolute().parents) if folder.exists())
    try:
        Path(tempfile.mkdtemp(prefix=".bench-write-check-", dir=existing)).rmdir()
    except OSError as error:
        raise BenchInputError(
            f"--out {str(path)!r}: cannot write in {str(existing)!r} ({error.strerror}); give a folder you can "
            "write to."
        ) from None
    return path


def nothing_to_run(named: bool, what: str, out: Path) -> int:
    """The exit status when every ``what`` (benchmark, problem) was skipped for missing data: 0 for the
    default grid (``named`` False: a machine without the data files, and ``make bench`` goes on to the next
    bench); for ones named on the command line, an error that leaves the results in ``out`` alone."""
    if not named:
        print(f"No {what} has its data here: nothing to run.")
        return 0
    raise BenchInputError(
        f"Every {what} asked for was skipped for missing data (see above): nothing to run, and the results "
        f"in {str(out)!r} are left as they are."
    )


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
