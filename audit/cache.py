"""The result cache: a finished report per tree state, under $XDG_CACHE_HOME/gup-audit.

The key is the tool version, the hash of every rule and query file, the tree's real path and the
walk's fingerprint (path, size, mtime and inode of every .c/.h file, plus the top Makefile). An
entry that does not load, or whose recorded key differs, is discarded and rebuilt — never
trusted. Nothing is ever written inside the audited tree.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from audit import __version__, cache_dir, cache_root_marker
from audit.model import Report
from audit.resources import data_hash

MAGIC = "gup-audit-report-cache/1"


def report_key(src: Any, fingerprint: str) -> str:
    """The cache key of a tree state (a Source: its identity, its fingerprint, its top Makefile)."""
    h = hashlib.sha256()
    for part in (__version__, data_hash(), src.identity(), fingerprint):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(src.read("Makefile") or b"")
    return h.hexdigest()


def seen(identity: str) -> bool:
    """Whether a report of this tree (in some state) was cached before: worth a fingerprint first."""
    return cache_root_marker(identity).exists()


def mark(identity: str) -> None:
    """Remember that this tree has a cached report."""
    try:
        m = cache_root_marker(identity)
        m.parent.mkdir(parents=True, exist_ok=True)
        m.touch()
    except OSError:
        return


def _path(key: str) -> Path:
    return cache_dir() / "reports" / f"{key}.pickle"


def load(key: str) -> Report | None:
    """The cached report for `key`, or None (a bad entry is removed)."""
    p = _path(key)
    try:
        with open(p, "rb") as fh:
            data = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - any corruption means: rebuild
        p.unlink(missing_ok=True)
        return None
    if not (isinstance(data, dict) and data.get("magic") == MAGIC and data.get("key") == key
            and isinstance(data.get("report"), Report)):
        p.unlink(missing_ok=True)
        return None
    return data["report"]


def store(key: str, report: Report) -> None:
    """Save a report (atomically; a cache that cannot be written is silently skipped)."""
    p = _path(key)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump({"magic": MAGIC, "key": key, "report": report}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, p)
    except OSError:
        return
