"""The only code that finds the `queries/` and `rules/` folders.

Installed wheels carry them inside the package (hatch force-include); a source checkout has them at
the repository root.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


def _locate(name: str) -> Path:
    # NOTE: the package folder is what importlib.resources.files("audit") names for an installed
    # (unzipped) package; asking it costs more than the rest of a cached run's start-up.
    here = Path(__file__).resolve().parent
    packaged = here / name
    if packaged.is_dir():
        return packaged
    return here.parent / name


@cache
def rules_dir() -> Path:
    """Folder holding `rules/*.toml` and `rules/catalogue/*.toml`."""
    return _locate("rules")


@cache
def queries_dir() -> Path:
    """Folder holding `queries/**/*.scm`."""
    return _locate("queries")


@cache
def data_hash() -> str:
    """A hash of every rule and query file and of the tool's own code, for cache keys."""
    import hashlib

    h = hashlib.sha256()
    for base in (rules_dir(), queries_dir(), Path(__file__).resolve().parent):
        for p in sorted(base.rglob("*")):
            if p.is_file() and p.suffix in (".toml", ".scm", ".py", ".md"):
                h.update(p.relative_to(base).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]
