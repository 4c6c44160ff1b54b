"""Writing outputs: atomically (a temporary file beside the target, then a rename), and never
over a spec the command read. Atomic means a reader sees the old file or the whole new one
and a failed write leaves nothing behind; it is not a promise of durability across a power
cut (no fsync: that would double the time of writing a 100 MB model).

Every way an output path can be unusable (a directory, a device, a name too long, a folder
that does not exist or cannot be written) is an `OutputError`, which the command reports as a
usage error; `check_output` finds these before anything expensive is built.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

__all__ = ["OutputError", "check_output", "write_atomic", "system_folder", "shown_path"]

# Kernel interfaces and device nodes: an output never goes there (/dev/shm is ordinary tmpfs).
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))
ALLOWED_SYSTEM_FOLDERS = (Path("/dev/shm"),)

_TMP_STEM = 32  # characters of the target's stem in the temporary name, which must fit NAME_MAX too
_TMP_SUFFIX = 16


class OutputError(Exception):
    """The output path cannot be used (exit status 2: a usage error)."""


def shown_path(path: str | Path) -> str:
    """A path as a message shows it: NULs visible, a very long one shortened in the middle."""
    text = os.fspath(path).replace("\0", "\\0")
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]}"


_shown = shown_path


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def system_folder(path: Path) -> Path | None:
    """The kernel folder (/proc, /sys, or /dev but /dev/shm) that the resolved `path` lies in,
    if any: no spec is read from there (files report a size of 0 and may hold the environment)
    and no output is written there."""
    for folder in SYSTEM_FOLDERS:
        if _within(path, folder) and not any(_within(path, ok) for ok in ALLOWED_SYSTEM_FOLDERS):
            return folder
    return None


def check_output(path: str | Path, *, inputs: Iterable[str | Path] = (), writes_spec: bool = False) -> Path:
    """The file that writing `path` replaces (`path` with every symlink resolved), or an
    OutputError saying why `path` cannot be an output. The rules:

    - a symlink is followed: the regular file it points to is replaced, the link stays;
    - what is already there must be a regular file (not a folder, device, FIFO or socket);
    - nothing under /proc, /sys or /dev (but /dev/shm), never one of `inputs` (the specs the
      command read); nothing ending in .arch unless `writes_spec` (solve -o writes one),
      and then nothing else;
    - the folder must exist and be writable, and the name must fit the file system's limit.
    """
    shown = _shown(path)
    if "\0" in os.fspath(path):
        raise OutputError(f"the output path {shown} contains a NUL character")
    path = Path(path)
    try:
        target = path.resolve()
    except RuntimeError:  # Python 3.11's word for a symlink loop
        raise OutputError(f"the output path {shown} is a symlink loop") from None
    except OSError as err:
        raise OutputError(f"cannot write {shown}: {err.strerror or err}") from None
    folder = system_folder(target)
    if folder is not None:
        raise OutputError(f"refusing to write under {folder}: {shown}")
    for spec in inputs:
        try:
            same = Path(spec).resolve() == target
        except (OSError, RuntimeError, ValueError):
            same = False
        if same:
            raise OutputError(f"refusing to write over the input spec {_shown(spec)}")
    if target.suffix == ".arch" and not writes_spec:
        raise OutputError(f"refusing to write a compiled output to a .arch file: {shown}")
    if writes_spec and target.suffix != ".arch":
        raise OutputError(f"a spec is written to a .arch file, not {shown}")
    try:
        name_max = os.pathconf(target.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(target.name)) > name_max:
        raise OutputError(f"the file name {_shown(target.name)} is too long "
                          f"({len(os.fsencode(target.name))} bytes; the limit here is {name_max})")
    try:
        if not stat.S_ISDIR(os.stat(target.parent).st_mode):
            raise OutputError(f"{_shown(path.parent)} is not a folder")
    except FileNotFoundError:
        raise OutputError(f"the folder {_shown(path.parent)} does not exist") from None
    except OSError as err:
        raise OutputError(f"cannot write {shown}: {err.strerror or err}") from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into the folder {_shown(target.parent)}: permission denied")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as err:
        raise OutputError(f"cannot write {shown}: {err.strerror or err}") from None
    if stat.S_ISREG(mode):
        return target
    what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    if path.is_symlink():
        raise OutputError(f"{shown} is a symlink to {_shown(target)}, which is {what}; refusing to replace it")
    raise OutputError(f"{shown} is {what}; name a file" if stat.S_ISDIR(mode) else
                      f"{shown} is {what}; refusing to replace it")


@contextmanager
def _exit_on_termination() -> Iterator[None]:
    """While a file is being written, SIGTERM and SIGHUP end the process through
    SystemExit(128 + signal number) instead of killing it outright, so that the cleanup of the
    temporary file runs. Only the main thread may set handlers; a signal set to be ignored
    (nohup) stays ignored; the previous handlers come back afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        old = signal.getsignal(signum)
        if old is signal.SIG_IGN:
            continue
        previous[signum] = old
        signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, signal.SIG_DFL if old is None else old)  # None: set outside Python


def write_atomic(path: str | Path, data: bytes | str | Callable[[Path], None], *, inputs: Iterable[str | Path] = (),
                 writes_spec: bool = False) -> Path:
    """Write `data` (bytes, text, or a function that writes a given path) to `path` so that a
    reader sees the old file or the whole new one, never a part; a failure, Ctrl-C, SIGTERM or
    SIGHUP leaves no file behind (the last two end the process with status 128 + the signal).

    `path` may be a symlink to a regular file: that file is replaced (atomically, through a
    temporary file in its own folder) and the link stays. Anything else already at `path`
    (a folder, a device, a FIFO, a symlink to one) is refused; see `check_output` for every
    rule. Problems with the path raise OutputError."""
    target = check_output(path, inputs=inputs, writes_spec=writes_spec)
    prefix = f".{target.stem[:_TMP_STEM]}."
    suffix = f".tmp{target.suffix[:_TMP_SUFFIX]}"
    with _exit_on_termination():
        try:
            import tempfile

            fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
        except OSError as err:
            raise OutputError(f"cannot write into the folder {_shown(target.parent)}: {err.strerror or err}") from None
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
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {_shown(path)}: {err.strerror or err}") from err
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return Path(path)
