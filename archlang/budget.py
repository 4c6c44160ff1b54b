"""Memory budgets, checked before the backends allocate: a spec can describe a network of
trillions of parameters in one line, and building it should be a clear error, not a machine
that swaps or a process the kernel kills.

Takes an analysed network (sizes from the IR alone, no torch) and the memory this machine has
available; gives the bytes a build or a run needs, and a `LimitError` when they do not fit.
The estimates are float32 and deliberately simple: they say whether a build can fit at all,
not exactly how much it will use.
"""

from __future__ import annotations

import os

from .errors import LimitError, Span
from .units import si

__all__ = ["check_fits", "weight_bytes", "activation_bytes", "available_bytes", "human_bytes"]

FLOAT32 = 4


def available_bytes() -> int | None:
    """The memory this machine can give a new allocation without swapping: MemAvailable from
    /proc/meminfo, else the physical memory, else None (unknown: nothing is refused)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the figure is in kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: int) -> str:
    """8_040_080_400_000 -> '8.0 TB' (decimal units, as disks and memory sizes are quoted)."""
    return si(n, ".1f", unit="B")


def weight_bytes(network) -> int:
    """The bytes of a network's state: every tensor each op declares (`Op.tensors()`:
    parameters and buffers such as batch norm's running statistics), at its dtype's size."""
    import math

    sizes = {"float32": 4, "int64": 8}
    return sum(math.prod(t.shape) * sizes[t.dtype] for node in network.graph.layers for t in node.op.tensors())


def activation_bytes(network, batch: int) -> int:
    """The peak of two live float32 activations (a layer's input and output) at `batch`: the
    largest tensor of the network (its input included) twice, times the batch."""
    graph = network.graph
    largest = max(node.type.numel for node in graph.nodes)
    return batch * largest * FLOAT32 * 2


def check_fits(nbytes: int, what: str, *, span: Span | None = None, available: int | None = None,
               hint: str | None = None) -> None:
    """Raise a LimitError when `nbytes` (what `what` needs) exceed the memory available
    (`available`, default `available_bytes()`); when that is unknown, nothing is refused."""
    if available is None:
        available = available_bytes()
    if available is None or nbytes <= available:
        return
    raise LimitError(
        f"{what} needs {human_bytes(nbytes)} of memory; this machine has {human_bytes(available)} available",
        span,
        hint=hint or "make the network smaller (fewer or narrower layers, a smaller input or batch), "
        "or use a machine with more memory",
    )
