"""Receptive fields as Araujo, Norris & Sim define them (Distill, 2019), per spatial axis, in
exact rational arithmetic.

For a window with kernel K, stride S, padding P and dilation D (K' = D(K - 1) + 1), from the
layer's input field (r, j, s) to its output field:
    r' = r + (K' - 1) * j        size: input units one output unit sees
    j' = j * S                   jump: input units between neighbouring output units
    s' = s + ((K' - 1)/2 - P) * j   start: centre of the first output unit's field
Output unit u's field is the interval of input coordinates centred at s + u*j, r - 1 wide.
The input has r = 1, j = 1, s = 0 (unit i is centred at i).

Resampling layers (upsample, convtranspose, adaptive pooling to a size the input is not a
multiple of) move less than one, or a fractional number of, input units per output unit:
their windows (ops/base.Window) have rational strides, paddings and extents, so r, j and s
are `fractions.Fraction`s (ints where whole) and the recurrences stay exactly these. Through
a resampling window the interval is the tightest one that moves by j' per output unit and
holds every input unit each output unit depends on; because every field's ends move
monotonically with u, the composition of such intervals still holds them all, so through
several layers the field is an upper bound (exact for integer windows, as before). A
fractional size r covers at most floor(r) input units (`ReceptiveField.units`): nearest
upsampling by 2 gives r = 3/2, one input unit per output unit, and j = 1/2.

Resampling chains can make denominators grow without limit while the values stay moderate
(alternating pools and resizes to sizes with other prime factors); where a denominator passes
2^64 the field is rounded outward to multiples of 2^-128: jump and start to the nearest, the
size up by the most that moves any of the layer's O output units' centres (O * 2^-128), so it
still holds them, the cost per layer stays constant, and realistic networks stay exact.

Pointwise ops keep the field;
flatten, fc and global pooling make it global (None here); a token sequence keeps the field
it had (in tokens for a sequence input; a ViT's patch tokens keep their 16x16 pixels) until
attention, which mixes every token, makes it global; at a merge it is the largest over
the branches, axis by axis. A field whose size or jump passes BEYOND_ANY_INPUT (2^62, far past
the largest input a spec can have) sees every input whole: it is global too, so the numbers
stay bounded however the strides multiply (`maxpool(k=1, stride=2147483647) * 40`).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Union

from ..ir import Graph, TensorType
from ..ops import GLOBAL
from ..records import record

__all__ = ["ReceptiveField", "receptive_fields", "input_field", "through", "widest", "BEYOND_ANY_INPUT", "Rational"]

BEYOND_ANY_INPUT = 2**62
_EXACT_DENOMINATOR = 2**64  # beyond this, fields are rounded outward to the grid below
_GRID = 2**128

Rational = Union[int, Fraction]  # an int where the value is whole


@record
class ReceptiveField:
    """Per spatial axis: size, jump and start, exact (str() of a Fraction is `1/2`)."""

    size: tuple[Rational, ...]
    jump: tuple[Rational, ...]
    start: tuple[Rational, ...]

    @property
    def units(self) -> tuple[int, ...]:
        """The most input units one output unit's field covers, per axis: floor(size) (the
        size itself where it is whole)."""
        return tuple(math.floor(r) for r in self.size)

    def to_dict(self) -> dict:
        """JSON numbers: ints where whole, else the nearest float (tables print `1/2`)."""
        return {"size": [_num(r) for r in self.size], "jump": [_num(j) for j in self.jump],
                "start": [_num(s) for s in self.start]}

    def json(self) -> str:
        """`to_dict` as compact JSON text (`json_text`), written directly: a network's rows hold
        one field each."""
        size, jump, start = self.size, self.jump, self.start
        if set(map(type, size + jump + start)) == _WHOLE:  # most fields: a list of ints prints as JSON
            return f'{{"size": {list(size)}, "jump": {list(jump)}, "start": {list(start)}}}'
        parts = (", ".join([str(x) if type(x) is int else repr(_num(x)) for x in values])  # (json writes repr)
                 for values in (self.size, self.jump, self.start))
        return '{{"size": [{}], "jump": [{}], "start": [{}]}}'.format(*parts)


_WHOLE = {int}


def _num(x: Rational) -> int | float:
    return int(x) if x == int(x) else float(x)


def _exact(x: Rational) -> Rational:
    """A whole Fraction as an int, so integer fields print and serialise as before."""
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


def _bounded(r: Rational, j: Rational, s: Rational, units: int) -> tuple[Rational, Rational, Rational]:
    """(r, j, s), or where a denominator passes _EXACT_DENOMINATOR, rounded outward to
    multiples of 1/_GRID: centre s + u*j moves by at most (1 + (units - 1))/(2 * _GRID) for
    u < units, so the size grows by twice that (and up to the grid)."""
    if max(Fraction(x).denominator for x in (r, j, s)) <= _EXACT_DENOMINATOR:
        return r, j, s
    jump = Fraction(round(j * _GRID), _GRID)
    start = Fraction(round(s * _GRID), _GRID)
    size = Fraction(math.ceil((r + Fraction(units, _GRID)) * _GRID), _GRID)
    return _exact(size), _exact(jump), _exact(start)


def _step(r: Rational, j: Rational, s: Rational, k: Rational, st: Rational, p: Rational, d: int,
          units: int) -> tuple[Rational, Rational, Rational]:
    """One axis through one window: the recurrences above (integers stay in integer arithmetic:
    most layers of most networks)."""
    keff = d * (k - 1) + 1
    if type(r) is int and type(j) is int and type(keff) is int and type(st) is int and type(p) is int:
        twice = (keff - 1 - 2 * p) * j  # twice the start's move
        if type(s) is int and twice % 2 == 0:
            return r + (keff - 1) * j, j * st, s + twice // 2
        return r + (keff - 1) * j, j * st, _exact(s + Fraction(twice, 2))
    return _bounded(_exact(r + (keff - 1) * j), _exact(j * st), _exact(s + (Fraction(keff - 1) / 2 - p) * j), units)


def receptive_fields(graph: Graph) -> dict[str, ReceptiveField | None]:
    """None where the field is global or the tensor has no spatial axis."""
    from .walk import walk

    return {node.name: field for node, _, _, field in walk(graph)}


def input_field(t: TensorType) -> ReceptiveField | None:
    """An input's field: one unit, per spatial axis (a sequence: one axis, in tokens)."""
    rank = 1 if t.tokens else t.rank
    return ReceptiveField((1,) * rank, (1,) * rank, (0,) * rank) if rank else None


def through(field: ReceptiveField, window, t: TensorType) -> ReceptiveField | None:
    """The field after a layer with this window (`Op.window_on`) whose output is `t`."""
    if window is GLOBAL or not (t.spatial or t.tokens):
        return None
    if window is None:  # pointwise; or a map laid out from tokens (grid) whose field has other axes: unknown
        rank = len(t.spatial)
        return None if rank and len(field.size) != rank else field
    size, jump, start = [], [], []
    for r, j, s, k, st, p, d, units in zip(field.size, field.jump, field.start, window.kernel, window.stride,
                                           window.padding, window.dilation, t.spatial):
        r, j, s = _step(r, j, s, k, st, p, d, units)
        size.append(r)
        jump.append(j)
        start.append(s)
    if max(*size, *jump) > BEYOND_ANY_INPUT or len(size) != len(t.spatial):
        return None
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def widest(fields: list[ReceptiveField]) -> ReceptiveField:
    """At a merge: per axis, the largest field over the branches (with its start), and the
    largest jump."""
    size, jump, start = [], [], []
    for axis in range(len(fields[0].size)):
        largest = max(fields, key=lambda f: f.size[axis])
        size.append(largest.size[axis])
        jump.append(max(f.jump[axis] for f in fields))
        start.append(largest.start[axis])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))
