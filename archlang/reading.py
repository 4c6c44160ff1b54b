"""Reading specs safely: a file (symlinks resolved; only a regular `.arch` file of at most
MAX_FILE_BYTES, nothing under /proc, /sys or /dev, never blocking on a FIFO) or a stream
(standard input, read up to the limit and no further), decoded as UTF-8, every failure a
located SpecImportError or LimitError."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import LimitError, SpecImportError
from .output import shown_path as _shown, system_folder

__all__ = ["MAX_FILE_BYTES", "real_path", "read_spec_file", "read_stream", "display_path", "is_regular_file",
           "nothing_at"]

MAX_FILE_BYTES = 1 << 20  # 1 MiB: far above any real spec, far below trouble


def real_path(path: Path, span=None, *, shown: str | None = None, hint: str = "check the path") -> Path:
    """`path` with every symlink resolved, or a SpecImportError (at `span`) saying why it names
    no file a spec can be read from: a NUL, a name too long, a symlink loop, nothing there, or
    a place under /proc, /sys or /dev."""
    shown = _shown(path) if shown is None else _shown(shown)
    if "\0" in os.fspath(path):
        raise SpecImportError(f"the path {shown} contains a NUL character", span, hint=hint)
    try:
        real = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11's word for a symlink loop
        raise SpecImportError(f"{shown} is a symlink loop", span, hint="point the link at a file") from None
    except OSError as err:
        if err.errno == errno.ENOENT:
            message = f"no such file: {shown}"
        elif err.errno == errno.ELOOP:
            message, hint = f"{shown} is a symlink loop", "point the link at a file"
        elif err.errno == errno.ENAMETOOLONG:
            message = f"the path {shown} is too long"
        else:
            message = f"cannot read {shown}: {err.strerror or err}"
        raise SpecImportError(message, span, hint=hint) from None
    folder = system_folder(real)
    if folder is not None:  # kernel files report a size of 0 and may hold anything (the environment)
        raise SpecImportError(f"{shown} is under {folder} ({_shown(real)}), not a spec file", span,
                              hint="a spec is a .arch file of your own")
    return real


def _decode(data: bytes, name: str, span=None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecImportError(
            f"{name} is not UTF-8 text (byte {err.start} on line {line})",
            span,
            hint="save the spec as UTF-8",
        ) from None


def _too_large(name: str, size: int | None, span=None) -> LimitError:
    return LimitError(
        f"{name} is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a spec" if size is not None
        else f"{name} is over the {MAX_FILE_BYTES:,}-byte limit for a spec",
        span,
        hint="a spec this large is almost certainly not a spec; split it into files joined by 'use'",
    )


def read_spec_file(path: Path, span=None, *, shown: str | None = None) -> str:
    """The text of the spec file `path` (`shown` names it in messages, as the user wrote it):
    symlinks resolved, a regular .arch file of at most MAX_FILE_BYTES, UTF-8."""
    hint = "check the path; 'use' paths are relative to the importing file" if span else "check the path"
    shown = _shown(path if shown is None else shown)
    real = real_path(path, span, shown=shown, hint=hint)
    if real.suffix != ".arch":
        raise SpecImportError(f"{shown} leads to {_shown(real)}, not a .arch file" if shown.endswith(".arch")
                              else f"{shown} is not a .arch file", span, hint="spec files end in .arch")
    try:
        # O_NONBLOCK: a FIFO put there since the path was resolved must not hang the open
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise SpecImportError(f"cannot read {shown}: {err.strerror or err}", span, hint=hint) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
            raise SpecImportError(f"{shown} is not a regular file ({what})", span, hint="a spec is a .arch file")
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(shown, info.st_size, span)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        try:
            data = f.read(MAX_FILE_BYTES + 1)  # the file may have grown since fstat
        except OSError as err:
            raise SpecImportError(f"cannot read {shown}: {err.strerror or err}", span, hint=hint) from None
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(shown, None, span)
    return _decode(data, shown, span)


def read_stream(stream, name: str = "<stdin>") -> str:
    """Spec text from an open stream (standard input), read up to MAX_FILE_BYTES, never more:
    `archlang check - < /dev/zero` stops at the limit instead of filling the memory."""
    if stream is None:
        raise SpecImportError(f"cannot read {name}: standard input is closed",
                              hint="pipe a spec in, or name a .arch file")
    source = getattr(stream, "buffer", stream)  # the bytes under a text stream, when it has them
    try:
        data = source.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as err:  # ValueError: a closed file
        raise SpecImportError(f"cannot read {name}: {getattr(err, 'strerror', None) or err}",
                              hint="pipe a spec in, or name a .arch file") from None
    except UnicodeDecodeError as err:  # a text stream without a buffer
        raise SpecImportError(f"{name} is not UTF-8 text", hint="save the spec as UTF-8") from err
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(name, None)
    return _decode(data, name)


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def nothing_at(path: Path) -> bool:
    """Nothing at all is at `path` (not even a broken link): a bundled name may be meant. A
    path that fails otherwise (a NUL, a name too long) is not missing: reading it says why."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except (OSError, ValueError):
        return False
    return False

