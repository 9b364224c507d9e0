"""`python -m audit` (the same entry point as the `audit` command: audit/start.py)."""

from audit.start import run

run()
