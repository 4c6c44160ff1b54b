"""Stage 1 output: the surface tree of a .arch file, one frozen class per grammar rule.

`parser.parse_module` builds it; `lower` reads it. Every node carries its `Span`.
"""

from __future__ import annotations

from .errors import Source, Span
from .records import record

__all__ = [
    "Expr", "Num", "Bool", "Name", "Hole", "Call", "KwArg", "BinOp", "Neg", "Chain", "Alt", "Tuple", "As", "Assert",
    "If", "For", "Not", "Param", "Shape", "InputDecl", "Budget", "Use", "Network", "Block", "Module",
]


@record
class Expr:
    span: Span


@record(one_write=True)  # one per layer or number written
class Num(Expr):
    value: int | float


@record
class Bool(Expr):
    value: bool


@record(one_write=True)  # one per layer or number written
class Name(Expr):
    id: str


@record
class Hole(Expr):
    """`?` (an unknown integer of its own) or `?k` (named: every `?k` of a network is one
    unknown). `archlang solve` finds the values that meet the network's assertions, output
    declaration and budgets."""

    name: str | None


@record
class KwArg:
    name: str
    name_span: Span
    value: Expr


@record(one_write=True)  # one per layer or number written
class Call(Expr):
    func: str
    func_span: Span
    args: tuple[Expr, ...]
    kwargs: tuple[KwArg, ...]


@record
class BinOp(Expr):
    op: str  # + - * // / % **, == != < <= > >=, and or
    op_span: Span
    left: Expr
    right: Expr


@record
class Neg(Expr):
    operand: Expr


@record
class Not(Expr):
    operand: Expr


@record
class For(Expr):
    """`for i in n: body`: body with i = 0, 1, ..., n - 1, one after another (a repeat whose
    copies may differ: a rising stochastic depth, a channel count per step)."""

    name: str
    name_span: Span
    count: Expr
    body: Expr


@record
class If(Expr):
    """`if cond then a else b`: only the branch the condition picks is evaluated."""

    cond: Expr
    then: Expr
    otherwise: Expr


@record
class Chain(Expr):
    """`a -> b -> c`"""

    items: tuple[Expr, ...]


@record
class Alt(Expr):
    """`a | b | c`: the branches of add(...) and concat(...)."""

    branches: tuple[Expr, ...]


@record
class Tuple(Expr):
    """`(1, 3)` (numbers), or `(c3, c4, c5)` (layers: several values at once)."""

    items: tuple[Expr, ...]


@record
class As(Expr):
    """`f as x`: the value `f` gives, named `x`."""

    body: Expr
    name: str
    name_span: Span


@record
class Assert(Expr):
    """`f : 6@28x28`: the value `f` gives must have this shape; no layer, no name."""

    body: Expr
    shape: "Shape"


@record
class Param:
    name: str
    span: Span
    default: Expr | None


@record
class Shape:
    """`3x224x224`, or LeCun's `6@28x28`: channels, then 0 to 3 spatial sizes; None where the
    spec writes `?` (an open size: `3x?x?`). A token sequence `[197]x768` has dims (197, 768)
    and layout "seq"; token indices `[1024]` have dims (1024,) and layout "ids"."""

    dims: tuple[int | None, ...]
    span: Span
    written: str = ""  # as the spec writes it (`6@28x28`), for messages
    layout: str = "map"  # "map", "seq" or "ids"

    @property
    def open(self) -> bool:
        return None in self.dims

    def text(self) -> str:
        return self.written or "x".join("?" if d is None else str(d) for d in self.dims)


@record
class Budget:
    """`params <= 5M` after `where`: a bound on a network's total."""

    quantity: str
    quantity_span: Span
    op: str  # < <= > >= ==
    op_span: Span
    value: int
    span: Span


@record
class InputDecl:
    """One input of a network: `left : 3x64x64` (a single-input network's is `input`)."""

    name: str
    name_span: Span
    shape: Shape


@record
class Use:
    path: str
    span: Span


@record
class Network:
    name: str
    name_span: Span
    inputs: tuple[InputDecl, ...]
    body: Expr
    span: Span
    named_inputs: bool = False  # declared as `network n(a : ..., b : ...)`, not `network n : SHAPE`
    outputs: tuple[Shape, ...] | None = None  # `-> 10` or `-> (256x8x8, 512x4x4)`: declared output shapes
    budgets: tuple[Budget, ...] = ()  # `where params <= 5M, macs <= 600M`

    @property
    def shape(self) -> Shape:
        """The first input's shape (the only one in `network n : SHAPE`)."""
        return self.inputs[0].shape


@record
class Block:
    name: str
    name_span: Span
    params: tuple[Param, ...]
    body: Expr
    span: Span
    inputs: tuple[tuple[str, Span], ...] = ()  # `block f(c) : (a, b)`; empty: one unnamed input


@record
class Module:
    source: Source
    items: tuple[Use | Network | Block, ...]
