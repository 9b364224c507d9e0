"""gup-audit: find get_user_pages call sites, their closures and COW/fork exposure in a kernel tree."""

import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/gup-audit` (default `~/.cache/gup-audit`): the result cache, the extracted
    default tree and the tool's own compiled bytecode live there, never in the audited tree."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gup-audit"


def cache_root_marker(identity: str) -> Path:
    """The file whose presence says that a report of the tree `identity` (a Source's identity) is
    in the result cache (audit/cache.py); the entry point asks before the rest is imported."""
    h = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir() / "roots" / h
