"""Optional dependencies: `pip install archlang` is light (lark, rich) and checks, lowers and
explains specs; each heavier job needs an extra, and says which in one line when it is missing.

    archlang[torch]   torch          build, load_weights, compile -o .pt2
    archlang[onnx]    onnx, numpy    compile -o .onnx, export_onnx
    archlang[viz]     graphviz       render (and Graphviz's `dot` program for svg/png/pdf)
    archlang[bench]   all of torch and onnx, plus onnxruntime: archlang bench
    archlang[all]     everything
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from .errors import ArchError

__all__ = ["MissingExtra", "require", "EXTRA_OF"]

EXTRA_OF = {"torch": "torch", "onnx": "onnx", "numpy": "onnx", "onnxruntime": "bench", "graphviz": "viz", "pygls": "lsp"}


class MissingExtra(ArchError):
    """A job needs a package that is not installed (exit status 2, one line)."""

    kind = "install"


def require(*modules: str, job: str) -> None:
    """Check that `modules` are installed for `job` (found, not imported: the job imports them,
    and a command that stops for a missing one has not paid for importing torch first);
    MissingExtra names the extra that brings the first missing one."""
    for name in modules:
        try:
            found = name in sys.modules and sys.modules[name] is not None or importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing; a module set to None in sys.modules
            found = False
        if not found:
            extra = EXTRA_OF[name]
            raise MissingExtra(f"{job} needs the {name} package; install it with: pip install 'archlang[{extra}]'") from None
