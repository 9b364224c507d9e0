"""gup-audit: find get_user_pages call sites, their closures and COW/fork exposure in a kernel tree."""

import os
from pathlib import Path

__version__ = "0.1.0"


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/gup-audit` (default `~/.cache/gup-audit`): the result cache, the extracted
    default tree and the tool's own compiled bytecode live there, never in the audited tree."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gup-audit"
