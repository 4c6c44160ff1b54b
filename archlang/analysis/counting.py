"""A network's work counted under a named convention (`archlang check --count C`).

Every tool that counts a network's "FLOPs" counts something different and rarely says what:
torchvision and fvcore publish multiply-accumulates of convolutions and linear layers, torch's
FlopCounterMode counts a multiply-accumulate as two operations, ptflops adds batch norm,
activations and pooling, thop counts batch norm as several operations per element. A
`Convention` names one such way of counting: a rule from a layer (its op, input and output
types) to a whole number, a unit, one line on what it counts, and its quirks (what the tool it
reproduces does that the field would not expect, each with the reason). The built-in ones:

- `macs`: multiply-accumulates of convolutions, fc, attention and recurrent layers (each op's
  `macs`); torchvision's and fvcore's published figures. The default.
- `flops`: 2 x `macs`, as torch.utils.flop_counter.FlopCounterMode counts (conventions/torch_flops.py).
- `all`: every arithmetic operation of each layer's forward at inference (each op's `work`:
  2 per multiply-accumulate, 1 per other add, multiply, compare, exp, divide...).
- `fvcore`, `ptflops`, `thop`: what those tools print for the module `archlang.build` makes
  (archlang/analysis/conventions/).

Counts are per sample (batch 1), as every one of those tools reports them.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Callable

from ..ir import Graph, Node, TensorType
from ..records import record

if TYPE_CHECKING:
    from ..ops.base import Op

__all__ = ["Convention", "CONVENTIONS", "ORDER", "convention", "conventions", "layer_counts", "by_op", "register_convention",
           "UnknownConvention", "torch_group", "by_name"]

Rule = Callable[["Op", tuple[TensorType, ...], TensorType], int]


@record
class Convention:
    """One way of counting a network's work.

    name: what `--count` takes; unit: what the figure is in ("MACs", "FLOPs", "ops");
    summary: one line on what it counts; rule: a layer's count from its op, input types and
    output type (batch 1); tool: the package whose figure it reproduces, and the version it
    was checked against; quirks: what that tool does that a reader would not expect, each with
    the reason (docs/costs.md lists them); group: a layer's name in `--by-op` (the op's name by
    default; a tool's convention groups by what the tool sees, the torch module class)."""

    name: str
    unit: str
    summary: str
    rule: Rule
    tool: str | None = None
    version: str | None = None
    quirks: tuple[str, ...] = ()
    group: Callable[["Op", tuple[TensorType, ...]], str] | None = field(default=None, compare=False)

    def count(self, op: "Op", inputs: tuple[TensorType, ...], out: TensorType) -> int:
        return int(self.rule(op, inputs, out))

    def group_of(self, op: "Op", inputs: tuple[TensorType, ...]) -> str:
        return self.group(op, inputs) if self.group else op.name


class UnknownConvention(ValueError):
    """A `--count` name that is not a convention; the message lists the known ones."""


CONVENTIONS: dict[str, Convention] = {}


def register_convention(conv: Convention) -> Convention:
    if conv.name in CONVENTIONS:
        raise AssertionError(f"convention {conv.name!r} registered twice")
    CONVENTIONS[conv.name] = conv
    return conv


def convention(name: str) -> Convention:
    """The convention called `name`; UnknownConvention (listing the known ones) otherwise."""
    _load_tools()
    try:
        return CONVENTIONS[name]
    except KeyError:
        from ..errors import suggest

        close = suggest(name, CONVENTIONS)
        raise UnknownConvention(f"no counting convention '{name}'" + (f" (did you mean '{close}'?)" if close else "")
                                + f"; conventions: {', '.join(c.name for c in conventions())}") from None


# the order conventions are listed in: the default, its double, the tools, everything
ORDER = ("macs", "flops", "fvcore", "ptflops", "thop", "all")


def conventions() -> list[Convention]:
    """Every convention, in `ORDER` (then any other registered)."""
    _load_tools()
    return [CONVENTIONS[n] for n in ORDER if n in CONVENTIONS] + [c for n, c in CONVENTIONS.items() if n not in ORDER]


def _load_tools() -> None:
    """`flops` and the tools' conventions, registered on first use (importing them imports no tool)."""
    from . import conventions  # noqa: F401  (registers fvcore, ptflops, thop)


def layer_counts(graph: Graph, conv: Convention) -> dict[str, int]:
    """Each layer's count under `conv`, by node name (input nodes aside)."""
    return {n.name: conv.count(n.op, graph.input_types(n), n.type) for n in graph.layers}


def by_op(graph: Graph, conv: Convention) -> dict[str, tuple[int, int]]:
    """{group: (layers, count)} in the order groups first appear: where a total comes from
    (`--by-op`). Groups are op names, or what the convention's tool sees."""
    groups: dict[str, list[int]] = {}
    for n in graph.layers:
        inputs = graph.input_types(n)
        entry = groups.setdefault(conv.group_of(n.op, inputs), [0, 0])
        entry[0] += 1
        entry[1] += conv.count(n.op, inputs, n.type)
    return {k: (v[0], v[1]) for k, v in groups.items()}


def by_name(tool: str, rules: dict[str, Rule]) -> Rule:
    """A tool's rule table as one rule: each op's by its name (a tool's convention is a table
    of what the tool does per kind of layer; an op it lacks is a bug in archlang, said so)."""
    def rule(op: "Op", inputs: tuple[TensorType, ...], out: TensorType) -> int:
        try:
            return rules[op.name](op, inputs, out)
        except KeyError:
            raise NotImplementedError(f"the {tool} convention has no rule for {op.name}") from None

    return rule


def node_count(graph: Graph, node: Node, conv: Convention) -> int:
    return conv.count(node.op, graph.input_types(node), node.type)


def torch_group(op: "Op", inputs: tuple[TensorType, ...]) -> str:
    """What a tool that hooks torch modules sees of a layer: its module's class name
    (`Conv2d`, archlang's own `SelfAttention`), or for an op without a module, which the
    forward runs as a function call, `add (function)`: the tools' conventions group by it."""
    spec = op.torch_spec(inputs)
    return spec[0] if spec is not None else f"{op.name} (function)"


register_convention(Convention(
    "macs", "MACs",
    "multiply-accumulates of convolutions, fc, attention and recurrent layers (torchvision's and fvcore's "
    "published figures)",
    lambda op, inputs, out: op.macs(inputs, out),
))
register_convention(Convention(
    "all", "FLOPs",
    "every arithmetic operation of each layer at inference: 2 per multiply-accumulate, 1 per other add, "
    "multiply, compare, exp or divide (each op's rule in docs/language.md)",
    lambda op, inputs, out: op.work(inputs, out),
))
