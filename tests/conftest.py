"""Shared fixtures: small fake trees built from fixture files, and the real kernel trees.

Real trees: the 2.6.32 corpus in ../shared/corpora is extracted once into the cache folder
($XDG_CACHE_HOME/gup-audit-trees); linux-source-6.1 and linux-source-6.12 are used when Debian's
packages (or extracted copies) are on the machine. Tests that need a tree skip with the reason when it is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gup-audit-trees"


def make_tree(root: Path, files: dict[str, str], version: tuple[int, int, int] = (6, 1, 0)) -> Path:
    """A minimal kernel tree: a versioned Makefile, mm/, include/ and the given files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Makefile").write_text(f"VERSION = {version[0]}\nPATCHLEVEL = {version[1]}\nSUBLEVEL = {version[2]}\n")
    (root / "mm").mkdir(exist_ok=True)
    (root / "include").mkdir(exist_ok=True)
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def _extract(tarball: Path, name: str) -> Path | None:
    dest = CACHE / name
    if (dest / "Makefile").is_file():
        return dest
    if not tarball.is_file():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f".x-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if shutil.which("tar"):
        subprocess.run(["tar", "xJf", str(tarball), "-C", str(tmp)], check=True)
    else:  # pragma: no cover - tar is on every Linux
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp)
    inner = next(p for p in tmp.iterdir() if p.is_dir())
    if not (dest / "Makefile").is_file():
        inner.rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


@pytest.fixture(scope="session")
def tree_2632() -> Path:
    """The v2.6.32 tree from ../shared/corpora, extracted into the cache."""
    t = _extract(REPO.parent / "shared" / "corpora" / "linux-2.6.32.tar.xz", "linux-2.6.32")
    if t is None:
        pytest.skip("../shared/corpora/linux-2.6.32.tar.xz is not on this machine")
    return t


@pytest.fixture(scope="session")
def tree_61() -> Path:
    """Debian's linux-source-6.1, extracted into the cache when the package is installed."""
    for cand in (CACHE / "linux-source-6.1", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gup-audit" / "linux-source-6.1"):
        if (cand / "Makefile").is_file():
            return cand
    t = _extract(Path("/usr/src/linux-source-6.1.tar.xz"), "linux-source-6.1")
    if t is None:
        pytest.skip("linux-source-6.1 is not installed (apt-get install linux-source-6.1)")
    return t


@pytest.fixture(scope="session")
def tree_612() -> Path:
    """Debian's linux-source-6.12, extracted into the cache when the package is installed."""
    t = _extract(Path("/usr/src/linux-source-6.12.tar.xz"), "linux-source-6.12")
    if t is None:
        pytest.skip("linux-source-6.12 is not installed (apt-get install linux-source-6.12)")
    return t


def pytest_addoption(parser: pytest.Parser) -> None:
    """`pytest --update-golden` rewrites tests/golden/*.txt (review the diff like code)."""
    parser.addoption("--update-golden", action="store_true", default=False)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own result cache: nothing leaks between tests or into ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
