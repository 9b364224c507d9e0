"""Kernel version of a tree, and version ranges as used in the catalogue (`">=4.9,<6.5"`).

The top Makefile's VERSION/PATCHLEVEL/SUBLEVEL lines are authoritative (domain.md §9.5); without
them the version is unknown (None) and era-dependent choices fall back to the idioms found.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.source import Source

Version = tuple[int, int, int]

_MK = re.compile(rb"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)\s*$", re.M)


def tree_version(src: Source) -> Version | None:
    """Read `VERSION.PATCHLEVEL.SUBLEVEL` from the top Makefile of the tree `src` reads; None if absent."""
    text = (src.read("Makefile") or b"")[:4096]
    found = {k.decode(): int(v) for k, v in _MK.findall(text)}
    if "VERSION" not in found or "PATCHLEVEL" not in found:
        return None
    return (found["VERSION"], found["PATCHLEVEL"], found.get("SUBLEVEL", 0))


def format_version(v: Version | None) -> str | None:
    """`(6, 1, 192)` -> `"6.1.192"`."""
    return None if v is None else ".".join(str(x) for x in v)


def parse_version(text: str) -> Version:
    """`"4.9"` -> `(4, 9, 0)`."""
    parts = [int(x) for x in text.strip().split(".")]
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])


def in_range(v: Version | None, spec: str | None) -> bool:
    """Whether version `v` satisfies `spec` (comma-separated `>=X`, `<Y`, `<=Z`, `>W`, `==V`).

    An unknown version satisfies every range: the caller then takes the first matching form.
    """
    if not spec or v is None:
        return True
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(>=|<=|==|<|>)\s*([\d.]+)\s*", part)
        if not m:
            raise ValueError(f"bad version range {spec!r}")
        op, w = m.group(1), parse_version(m.group(2))
        ok = {
            ">=": v >= w,
            "<=": v <= w,
            "==": v[: len(m.group(2).split("."))] == w[: len(m.group(2).split("."))],
            "<": v < w,
            ">": v > w,
        }[op]
        if not ok:
            return False
    return True
