"""The typed, frozen IR that `lower` produces and every analysis and backend reads.

A `Graph` is a tuple of `Node`s in topological order, starting with its input nodes (one, or
one per declared input), with one or several outputs. Each node
names its inputs, holds its op (a frozen dataclass from the op registry with every
hyperparameter resolved), its output `TensorType`, the source span it came from and the
block instances (`Scope`s) it sits in.
"""

from __future__ import annotations

from dataclasses import field
from functools import cached_property
from typing import TYPE_CHECKING

from .errors import Span
from .records import record

if TYPE_CHECKING:
    from .ops.base import Op

__all__ = ["TensorType", "Scope", "Node", "Assertion", "Graph", "sizes_text", "compact"]


def sizes_text(values: tuple[int, ...]) -> str:
    """Sizes as papers write them: `3x224x224`, a kernel `3x3`."""
    return "x".join(str(v) for v in values)


def compact(values: tuple[int, ...]) -> str:
    """Per-axis values as people write them: `2` when every axis agrees, else `1x2`."""
    return str(values[0]) if len(set(values)) == 1 else sizes_text(values)


@record
class TensorType:
    """A tensor without its batch, in one of three layouts:
    - a feature map or vector: channels (or features) and 0 to 3 spatial sizes, `3x224x224`;
    - a token sequence: `tokens` vectors of `channels` features each, written `[197]x768`
      (torch and ONNX hold it as batch x tokens x features, features last);
    - token indices (`ids`): `tokens` integers, written `[1024]`, what an embedding reads."""

    channels: int
    spatial: tuple[int, ...] = ()
    tokens: int = 0  # > 0: a sequence of this many tokens (spatial is then empty)
    ids: bool = False  # integer token indices (channels is then 1)

    @property
    def rank(self) -> int:
        """The number of spatial axes."""
        return len(self.spatial)

    @property
    def is_sequence(self) -> bool:
        """A sequence of feature vectors (`[197]x768`)."""
        return self.tokens > 0 and not self.ids

    @property
    def shape(self) -> tuple[int, ...]:
        """The sizes in the order torch and ONNX hold them (after the batch)."""
        if self.tokens:
            return (self.tokens,) if self.ids else (self.tokens, self.channels)
        return (self.channels, *self.spatial)

    @property
    def numel(self) -> int:
        if self.ids:
            return self.tokens
        n = self.channels * (self.tokens or 1)
        for s in self.spatial:
            n *= s
        return n

    def __str__(self) -> str:
        if self.tokens:
            return f"[{self.tokens}]" if self.ids else f"[{self.tokens}]x{self.channels}"
        return sizes_text(self.shape)


@record
class Scope:
    """One block instance on a node's path: `stage2` showing `stage(128, 2)`.

    `identity` is the block with its evaluated arguments (spans left out): two calls of
    `bottleneck(64)` anywhere have the same identity, whatever their names or source text."""

    name: str  # its own name in the enclosing scope
    label: str
    block: str
    span: Span
    identity: tuple = ()


@record(one_write=True)  # one per layer, made as fast as it can be
class Node:
    name: str  # dotted path: scope names, then the layer's own name (`stage2.conv1`)
    op: "Op"
    inputs: tuple[str, ...]
    type: TensorType
    span: Span
    scopes: tuple[Scope, ...] = ()


@record
class Assertion:
    """A shape the spec asserts for a node's value (`: 6@28x28`, or a declared output), as
    written, and whether the value has it (a diagram of a failing spec marks where)."""

    node: str
    shape: str
    holds: bool
    span: Span


@record
class Graph:
    name: str
    nodes: tuple[Node, ...]  # topological order; nodes[0] is the input
    outputs: tuple[str, ...]  # the nodes whose values the graph returns, in order
    span: Span
    output_names: tuple[str, ...] = ("output",)  # how backends name them (ONNX outputs)
    # the spec's shape assertions and output declarations, for diagrams (no node, no name)
    assertions: tuple["Assertion", ...] = field(default=(), compare=False)

    @cached_property
    def inputs(self) -> tuple[Node, ...]:
        """The input nodes, in declaration order (they come first in `nodes`)."""
        return tuple(n for n in self.nodes if not n.inputs)

    @property
    def input(self) -> Node:
        """The input node of a single-input graph."""
        if len(self.inputs) != 1:
            raise ValueError(f"{self.name} has {len(self.inputs)} inputs; use .inputs")
        return self.inputs[0]

    @property
    def output(self) -> str:
        """The output node of a single-output graph."""
        if len(self.outputs) != 1:
            raise ValueError(f"{self.name} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    @property
    def signature(self) -> str:
        """`3x224x224 -> 1000`; with several inputs or outputs, each named:
        `left 3x64x64, right 3x64x64 -> output 1`."""
        ins = self.inputs
        outs = [self.node(o).type for o in self.outputs]
        left = str(ins[0].type) if len(ins) == 1 else ", ".join(f"{n.name} {n.type}" for n in ins)
        right = str(outs[0]) if len(outs) == 1 else ", ".join(f"{n} {t}" for n, t in zip(self.output_names, outs))
        return f"{left} -> {right}"

    def node(self, name: str) -> Node:
        return self._index[name]

    @cached_property
    def _index(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    @property
    def layers(self) -> tuple[Node, ...]:
        """Every node but the inputs."""
        return self.nodes[len(self.inputs):]

    @property
    def output_type(self) -> TensorType:
        return self.node(self.output).type

    def inputs_of(self, node: Node) -> tuple[Node, ...]:
        """The nodes `node` reads, in order (use-def)."""
        return tuple(self._index[i] for i in node.inputs)

    def input_types(self, node: Node) -> tuple[TensorType, ...]:
        index, inputs = self._index, node.inputs
        if len(inputs) == 1:  # most nodes: no generator to run (analysis asks for every node)
            return (index[inputs[0]].type,)
        return tuple([index[i].type for i in inputs])

    def users(self, node: Node | str) -> tuple[Node, ...]:
        """The nodes that read `node` (def-use), in graph order, once per reading node."""
        return self._users.get(node if isinstance(node, str) else node.name, ())

    def readers(self, node: Node | str) -> int:
        """How many places read `node`'s value: its users' input slots, plus the graph's outputs."""
        name = node if isinstance(node, str) else node.name
        return self._reads.get(name, 0) + self.outputs.count(name)

    @cached_property
    def _users(self) -> dict[str, tuple[Node, ...]]:
        users: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in dict.fromkeys(n.inputs):
                users.setdefault(i, []).append(n)
        return {k: tuple(v) for k, v in users.items()}

    @cached_property
    def _reads(self) -> dict[str, int]:
        reads: dict[str, int] = {}
        for n in self.nodes:
            for i in n.inputs:
                reads[i] = reads.get(i, 0) + 1
        return reads

    def text(self) -> str:
        """The graph one node per line, stable across runs, for golden tests and `check --emit ir`:
        `name = op{resolved fields}(inputs) : type`; block instances are listed where they open."""
        lines = [f"network {self.name} : {self.signature}"]
        opened: set[tuple[str, ...]] = set()
        for node in self.nodes:
            for depth in range(1, len(node.scopes) + 1):
                path = tuple(s.name for s in node.scopes[:depth])
                if path not in opened:
                    opened.add(path)
                    lines.append(f"  # {'.'.join(path)} = {node.scopes[depth - 1].label}")
            if not node.inputs:
                lines.append(f"  {node.name} : {node.type}")
                continue
            lines.append(f"  {node.name} = {_op_text(node.op)}({', '.join(node.inputs)}) : {node.type}")
        lines.append(f"  return {', '.join(self.outputs)}")
        return "\n".join(lines) + "\n"


def _op_text(op: "Op") -> str:
    from dataclasses import fields

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, tuple):
            return "(" + ", ".join(value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        return str(v)

    shown = [f for f in fields(op) if not (f.metadata.get("quiet") and getattr(op, f.name) == f.default)]
    args = ", ".join(f"{f.name}={value(getattr(op, f.name))}" for f in shown)
    return f"{op.name}{{{args}}}" if args else op.name
