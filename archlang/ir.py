"""The typed, frozen IR that `lower` produces and every analysis and backend reads.

A `Graph` is a tuple of `Node`s in topological order, starting with the input node. Each node
names its inputs, holds its op (a frozen dataclass from the op registry with every
hyperparameter resolved), its output `TensorType`, the source span it came from and the
block instances (`Scope`s) it sits in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .errors import Span

if TYPE_CHECKING:
    from .ops.base import Op

__all__ = ["TensorType", "Scope", "Node", "Graph", "compact"]


def compact(values: tuple[int, ...]) -> str:
    """Per-axis values as people write them: `2` when every axis agrees, else `1x2`."""
    return str(values[0]) if len(set(values)) == 1 else "x".join(str(v) for v in values)


@dataclass(frozen=True)
class TensorType:
    """A tensor without its batch: channels (or features) and 0 to 3 spatial sizes."""

    channels: int
    spatial: tuple[int, ...] = ()

    @property
    def rank(self) -> int:
        """The number of spatial axes."""
        return len(self.spatial)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, *self.spatial)

    @property
    def numel(self) -> int:
        n = self.channels
        for s in self.spatial:
            n *= s
        return n

    def __str__(self) -> str:
        return "x".join(str(d) for d in self.shape)


@dataclass(frozen=True)
class Scope:
    """One block instance on a node's path: `stage2` showing `stage(128, 2)`."""

    name: str
    label: str
    block: str
    span: Span


@dataclass(frozen=True)
class Node:
    name: str  # dotted path: scope names, then the layer's own name (`stage2.conv1`)
    op: "Op"
    inputs: tuple[str, ...]
    type: TensorType
    span: Span
    scopes: tuple[Scope, ...] = ()


@dataclass(frozen=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]  # topological order; nodes[0] is the input
    output: str
    span: Span

    @property
    def input(self) -> Node:
        return self.nodes[0]

    def node(self, name: str) -> Node:
        return self._index[name]

    @cached_property
    def _index(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    @property
    def layers(self) -> tuple[Node, ...]:
        """Every node but the input."""
        return self.nodes[1:]

    @property
    def output_type(self) -> TensorType:
        return self.node(self.output).type
