"""The command's entry point (`audit` and `python -m audit`).

Before the rest of the tool is imported it starts grep over the tree (audit/grep.py imports
nothing of the tool), so that git reads the tree on one core while this process imports and walks
on the other; the engine takes that job over when it asks for the same one.
"""

import os
import sys

from audit import cache_dir


def _keep_bytecode() -> None:
    """Keep the tool's compiled modules in the cache folder when Python is told not to write them
    beside the sources (PYTHONDONTWRITEBYTECODE): compiling every module anew costs each run about
    0.2 CPU-s of its 2-5. The prefix keeps them out of the sources and out of the audited tree; a
    cache folder that cannot be written only means compiling as before."""
    if sys.dont_write_bytecode and sys.pycache_prefix is None:
        sys.pycache_prefix = str(cache_dir() / "bytecode")
        sys.dont_write_bytecode = False


def run() -> None:
    """Run the command line and end the process with its exit code."""
    _keep_bytecode()
    from audit import grep

    try:
        grep.start_early(sys.argv[1:])
    except Exception:  # noqa: BLE001 - an early start is only an optimisation: the engine starts its own
        grep.drop_early()
    try:
        from audit.cli import main

        code = main()
    finally:
        grep.drop_early()
    # NOTE: the report is written; what is left is the interpreter's teardown, which frees every
    # fact object of the run one by one (30 ms after a 6.12 run). The streams are flushed and the
    # process ends without it.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        sys.exit(code)
    os._exit(code)
