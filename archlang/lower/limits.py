"""Bounds that keep the lowering of any spec small and fast, however it is written.

Nodes are not the only cost: `identity * 100000` nested three deep emits nothing but would
loop 10^15 times, and a layer value passed through block arguments can double at each level
(`block d1(f) = d2(f -> f)`) before any node exists. So lowering also counts its *work*:
every layer value built and every application of one to a tensor is a step, and the steps
are bounded in proportion to the node limit (`Work`).
"""

from __future__ import annotations

from ..errors import LimitError, Span
from ..parser import MAX_TOKENS
from ..records import record

__all__ = ["Limits", "Work", "MAX_INT"]

MAX_INT = 2**63 - 1  # the largest number a spec may compute
STEPS_PER_NODE = 8  # work allowed per node of the limit: the bundled specs take 1.3 to 3.9


@record
class Limits:
    """Bounds that keep any spec's analysis small and fast; each error names its limit."""

    max_nodes: int = 100_000  # layers per network, the input not counted
    max_repeat: int = 100_000  # the count of one `* n`
    max_block_depth: int = 64  # blocks called inside one another
    max_tokens: int = MAX_TOKENS  # in one file, each file it uses counted alone (see parser.py)

    def __post_init__(self) -> None:
        for name in ("max_nodes", "max_repeat", "max_block_depth", "max_tokens"):
            value = getattr(self, name)
            if type(value) is not int:
                raise TypeError(f"Limits.{name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {value}")

    @property
    def max_steps(self) -> int:
        return STEPS_PER_NODE * self.max_nodes + 100_000


class Work:
    """A counter of lowering steps that stops at `Limits.max_steps`."""

    def __init__(self, limits: Limits) -> None:
        self.left = limits.max_steps
        self.limit = limits.max_steps

    def spend(self, steps: int, span: Span | None) -> None:
        self.left -= steps
        if self.left < 0:
            raise LimitError(
                f"the spec takes more than {self.limit:,} steps to expand",
                span,
                hint="a repeat of something that makes no layers (identity * n), or a layer passed through "
                "block arguments that doubles at each level, expands without end; the limit grows with "
                "--max-nodes",
            )
