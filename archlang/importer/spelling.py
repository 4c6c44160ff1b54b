"""Import: how a person writes one layer. For an imported `Layer` (an op called with every
argument spelled out), the value of each of the op's arguments and which of them the
registry's defaults make unnecessary: `conv(64, k=3, stride=1, pad=1, dilation=1, groups=1,
bias=true)` is written `conv3x3(64)`. The test is the registry's own: an argument may go when
`make` without it gives the same op for this input."""

from __future__ import annotations

from typing import Any

from ..ops.base import REQUIRED, Op, OpError, lookup
from ..records import record
from .flat import Layer

__all__ = ["Spelled", "spell", "literal", "call_text"]


@record
class Spelled:
    """A layer's call: its op's name, the value of each declared argument (in `Op.args`
    order) and, per argument, whether it can be left out."""

    call: str
    values: tuple[Any, ...]
    droppable: tuple[bool, ...]


def _compact(v: Any) -> Any:
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, tuple) and v and len(set(v)) == 1:
        return v[0]
    return v


def spell(layer: Layer, input_type) -> Spelled:
    cls = lookup(layer.call)
    given = {k: _compact(v) for k, v in layer.kwargs.items()}
    values = tuple(given.get(a.name, a.default) for a in cls.args)
    if cls.merge:
        return Spelled(layer.call, (), ())
    kept = dict(given)
    for a in reversed(cls.args):  # later arguments first: a stride's default depends on the kernel
        if a.name not in kept or a.kind == "channels":
            continue
        trial = {k: v for k, v in kept.items() if k != a.name}
        if _same(cls, trial, input_type, layer.op):
            kept = trial
    return Spelled(layer.call, values, tuple(a.name not in kept for a in cls.args))


def _same(cls: type[Op], kwargs: dict, x, op: Op) -> bool:
    try:
        return cls.make(cls.bind([], {k: v for k, v in kwargs.items() if v is not None}), x) == op
    except OpError:
        return False


def literal(v: Any) -> str:
    """A value as the language writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v)}.0"
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return str(v)


def call_text(call: str, shown: list[tuple[str, str]], rank: int) -> str:
    """`conv3x3(64, stride=2)` from the op's name and its shown (argument, text) pairs, in
    `Op.args` order: a constant kernel goes into the name (conv3x3, maxpool3x3, conv5 in 1D)
    where the op takes one there, the first argument is positional, the rest are keywords."""
    cls = lookup(call)
    name = call
    shown = list(shown)
    for i, (arg, text) in enumerate(shown):
        if arg != "k" or not cls.kernel_suffix or rank == 0:
            continue
        parts = [p.strip() for p in text.strip("()").split(",") if p.strip()]
        if all(p.isdigit() for p in parts) and len(parts) in (1, rank):
            name = call + "x".join(parts * (rank if len(parts) == 1 else 1))
            shown.pop(i)
        break
    if not shown:
        return name
    # leading arguments a reader knows by place: fc(1000), embed(50257, 768), dropout(0.2);
    # keywords for the rest (conv3x3(64, stride=2), layernorm(eps=1e-06), gelu(tanh=true))
    by_name = {a.name: (i, a) for i, a in enumerate(cls.args)}
    parts = []
    positional = True
    for k, (arg, text) in enumerate(shown):
        i, a = by_name[arg]
        positional = positional and i == k and a.kind != "bool" and (
            a.default is REQUIRED or a.kind == "channels" or i == 0 and a.kind in ("prob", "ints", "int"))
        parts.append(text if positional else f"{arg}={text}")
    return f"{name}({', '.join(parts)})"
