"""Where the package's data lives: the grammar and the bundled spec library.

In a wheel they sit inside the package (`archlang/grammars`, `archlang/specs`); in a source
checkout (editable install) they are the top-level `grammars/` and `specs/` folders.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_dir", "grammar_path", "specs_dir"]

_HERE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"archlang is installed without its {name}/ folder")


def grammar_path() -> Path:
    return data_dir("grammars") / "arch.lark"


def specs_dir() -> Path:
    return data_dir("specs")
