"""`python -m audit`."""

import os
import sys

# NOTE: grep starts reading the tree while the rest of the tool is imported (audit.grep imports
# nothing of it); the engine takes that job over when it asks for the same one.
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
# NOTE: the report is written; what is left is the interpreter's teardown, which frees every fact
# object of the run one by one (30 ms after a 6.12 run). The streams are flushed and the process
# ends without it.
try:
    sys.stdout.flush()
    sys.stderr.flush()
except (BrokenPipeError, OSError):
    sys.exit(code)
os._exit(code)
