"""Writing outputs: atomically (a temporary file beside the target, then a rename), and never
over a spec the command read. Atomic means a reader sees the old file or the whole new one
and a failed write leaves nothing behind; it is not a promise of durability across a power
cut (no fsync: that would double the time of writing a 100 MB model)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["OutputError", "write_atomic"]


class OutputError(Exception):
    """The output path cannot be used (exit status 2: a usage error)."""


def write_atomic(path: str | Path, data: bytes | str | Callable[[Path], None], *, inputs: Iterable[str | Path] = ()) -> Path:
    """Write `data` (bytes, text, or a function that writes a given path) to `path` so that a
    reader sees the old file or the whole new one, never a part; a failure leaves no file."""
    path = Path(path)
    target = path.resolve()
    for spec in inputs:
        if Path(spec).resolve() == target:
            raise OutputError(f"refusing to write over the input spec {spec}")
    if target.suffix == ".arch":
        raise OutputError(f"refusing to write a compiled output to a .arch file: {path}")
    if not target.parent.is_dir():
        raise OutputError(f"the folder {path.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output is an ordinary file
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
