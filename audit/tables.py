"""The one loader of `rules/catalogue/*.toml` (apis, attributes, classes, cow, exposure).

Each file is read once per process. Values are read through `Table`, whose accessors know the file
and the dotted key they stand at, so that a malformed file — bad TOML, a missing key, a value of
the wrong type — raises one `CatalogueError` whose message names the file and the key; the CLI
prints it on one line and exits 2. The typed views (`audit.catalogue`, `audit.classify`,
`audit.cow.idioms`, `audit.fixes.knowledge`, `audit.parse`) are built from these tables.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from functools import cache
from typing import Any

from audit.resources import rules_dir


class CatalogueError(Exception):
    """A catalogue file is malformed: the message names the file and the key."""


_MISSING: Any = object()
REQUIRED: Any = _MISSING
"""As a default: the key must be present."""


class Table:
    """One table of a catalogue file; `key` arguments are relative to it."""

    def __init__(self, file: str, data: dict[str, Any], at: str = "") -> None:
        """The table `data` found at dotted key `at` of `file` (a path under rules/)."""
        self.file = file
        self.data = data
        self.at = at

    def where(self, key: str | None = None) -> str:
        """The dotted key path of `key` in this table (of the table itself without one)."""
        if key is None:
            return self.at or "(top level)"
        return f"{self.at}.{key}" if self.at else key

    def error(self, key: str | None, what: str) -> CatalogueError:
        """A CatalogueError for the value at `key`: `rules/catalogue/cow.toml: reuse.main: not a list`."""
        return CatalogueError(f"{self.file}: {self.where(key)}: {what}")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> list[str]:
        """The keys of this table, in file order."""
        return list(self.data)

    def value(self, key: str, default: Any = _MISSING) -> Any:
        """The raw value at `key` (CatalogueError when it is missing and there is no default)."""
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, "missing")
        return default

    def table(self, key: str, default: dict[str, Any] | None = _MISSING) -> Table:
        """The sub-table at `key` (an empty one when missing and a default is given)."""
        v = self.value(key, default)
        if not isinstance(v, dict):
            raise self.error(key, "not a table")
        return Table(self.file, v, self.where(key))

    def tables(self, key: str) -> list[Table]:
        """The array of tables at `key` (`[[acquire]]`); empty when missing."""
        v = self.value(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.error(key, "not an array of tables")
        return [Table(self.file, x, f"{self.where(key)}[{i}]") for i, x in enumerate(v)]

    def text(self, key: str, default: str | None = _MISSING) -> str:
        """The string at `key`."""
        v = self.value(key, default)
        if not isinstance(v, str):
            raise self.error(key, "not a string")
        return v

    def opt_text(self, key: str) -> str | None:
        """The string at `key`, None when missing."""
        return None if key not in self.data else self.text(key)

    def integer(self, key: str, default: int = _MISSING) -> int:
        """The integer at `key` (a string of digits is taken too, as the loaders always have)."""
        v = self.value(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise self.error(key, "not an integer")
        try:
            return int(v)
        except ValueError:
            raise self.error(key, "not an integer") from None

    def opt_index(self, key: str) -> int | None:
        """The integer at `key`, None when missing or not an integer (an argument index that may be `"return"`)."""
        v = self.data.get(key)
        return v if isinstance(v, int) else None

    def flag(self, key: str, default: bool = _MISSING) -> bool:
        """The boolean at `key`."""
        v = self.value(key, default)
        if not isinstance(v, bool):
            raise self.error(key, "not a boolean")
        return v

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The list of strings at `key` (`default` when missing)."""
        v = self.value(key, _MISSING if default is _MISSING else list(default))
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(key, "not a list of strings")
        return tuple(v)

    def text_map(self, key: str, default: dict[str, str] | None = None) -> dict[str, str]:
        """The table of strings at `key`, as a dict in file order (`default`, or empty, when missing;
        REQUIRED as the default makes the key mandatory)."""
        t = self.table(key, {} if default is None else default)
        return {k: t.text(k) for k in t.keys()}

    def integer_map(self, key: str) -> dict[str, int]:
        """The table of integers at `key`, as a dict in file order (empty when missing)."""
        t = self.table(key, {})
        return {k: t.integer(k) for k in t.keys()}

    def items(self) -> Iterator[tuple[str, Any]]:
        """(key, raw value) pairs in file order."""
        return iter(self.data.items())


@cache
def load(name: str) -> Table:
    """`rules/catalogue/<name>.toml` as its top-level Table (read once per process)."""
    file = f"rules/catalogue/{name}.toml"
    try:
        data = tomllib.loads((rules_dir() / "catalogue" / f"{name}.toml").read_text())
    except OSError as e:
        raise CatalogueError(f"{file}: cannot read: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CatalogueError(f"{file}: not valid TOML: {e}") from None
    return Table(file, data)
