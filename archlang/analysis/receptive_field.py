"""Receptive fields as Araujo, Norris & Sim define them (Distill, 2019), per spatial axis.

For a window with kernel K, stride S, padding P and dilation D (K' = D(K - 1) + 1), from the
layer's input field (r, j, s) to its output field:
    r' = r + (K' - 1) * j        size: input units one output unit sees
    j' = j * S                   jump: input units between neighbouring output units
    s' = s + ((K' - 1)/2 - P) * j   start: centre of the first output unit's field
The input has r = 1, j = 1, s = 0 (unit i is centred at i). Pointwise ops keep the field;
flatten, fc and global pooling make it global (None here); at a merge it is the largest over
the branches, axis by axis. A field whose size or jump passes BEYOND_ANY_INPUT (2^62, far past
the largest input a spec can have) sees every input whole: it is global too, so the numbers
stay bounded however the strides multiply (`maxpool(k=1, stride=2147483647) * 40`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph
from ..ops import GLOBAL

__all__ = ["ReceptiveField", "receptive_fields", "BEYOND_ANY_INPUT"]

BEYOND_ANY_INPUT = 2**62


@dataclass(frozen=True)
class ReceptiveField:
    size: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"size": list(self.size), "jump": list(self.jump), "start": [_num(s) for s in self.start]}


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def receptive_fields(graph: Graph) -> dict[str, ReceptiveField | None]:
    """None where the field is global or the tensor has no spatial axis."""
    out: dict[str, ReceptiveField | None] = {}
    for node in graph.nodes:
        if not node.inputs:
            rank = node.type.rank
            out[node.name] = ReceptiveField((1,) * rank, (1,) * rank, (0.0,) * rank) if rank else None
            continue
        fields = [out[i] for i in node.inputs]
        if any(f is None for f in fields):
            out[node.name] = None
            continue
        field = fields[0]
        if len(fields) > 1:
            size, jump, start = [], [], []
            for axis in range(len(field.size)):
                widest = max(fields, key=lambda f: f.size[axis])
                size.append(widest.size[axis])
                jump.append(max(f.jump[axis] for f in fields))
                start.append(widest.start[axis])
            field = ReceptiveField(tuple(size), tuple(jump), tuple(start))
        window = node.op.window()
        if window is GLOBAL or node.type.rank == 0:
            out[node.name] = None
        elif window is None:
            out[node.name] = field
        else:
            size, jump, start = [], [], []
            for r, j, s, k, st, p, d in zip(
                field.size, field.jump, field.start, window.kernel, window.stride, window.padding, window.dilation
            ):
                keff = d * (k - 1) + 1
                size.append(r + (keff - 1) * j)
                jump.append(j * st)
                start.append(s + ((keff - 1) / 2 - p) * j)
            beyond = max(*size, *jump) > BEYOND_ANY_INPUT
            out[node.name] = None if beyond else ReceptiveField(tuple(size), tuple(jump), tuple(start))
    return out
