"""Holes during lowering: the protocol between the evaluator and `archlang solve`.

A hole (`?`, `?k`) is one unknown whole number: an unnamed one per place in the text, a named
one per name in a network. Lowering takes an `Assignment` (hole -> value, possibly partial):
- an assigned hole evaluates to its value;
- an unassigned one evaluates to a `HoleRef`, which flows lazily through call arguments
  (a block's parameter, `conv(?, k=?)`) until something needs its value. There lowering
  stops with `NeedChoice`: at an op call (`site`: the op, its other arguments and its input
  type, so the solver can try every value of the call's holes on the op's own rules without
  lowering again), or anywhere else a number is needed (arithmetic, a condition, a repeat
  count: no site, the solver tries the values of the hole's documented range one by one).
Without an Assignment a hole is an `UnsolvedHole` error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ArchError, Span
from ..ir import TensorType
from ..records import record

__all__ = ["HoleKey", "HoleRef", "Assignment", "NeedChoice", "CallSite", "SplitGroup", "UnsolvedHole", "key_of"]

HoleKey = str  # "?k" for a named hole, "?@line:col" for an unnamed one


class UnsolvedHole(ArchError):
    """A `?` met where its value is needed, outside `archlang solve`."""

    kind = "hole"


def key_of(name: str | None, span: Span) -> HoleKey:
    return f"?{name}" if name else f"?@{span.line}:{span.col}"


@record
class HoleRef:
    """An unassigned hole on its way to where its value is needed."""

    key: HoleKey
    span: Span

    def __str__(self) -> str:
        return "?" if self.key.startswith("?@") else self.key


@dataclass
class CallSite:
    """An op call whose arguments hold unassigned holes: everything needed to try values."""

    op: Any  # type[Op]
    name: str  # as written: conv5x5
    positional: list
    keyword: dict[str, Any]
    x: TensorType
    span: Span
    _base: tuple | None = field(default=None, repr=False)  # the other arguments, bound once
    _holes: list | None = field(default=None, repr=False)

    def holes(self) -> list[tuple[HoleRef, str]]:
        """(hole, the argument it stands for), in argument order, each hole once."""
        if self._holes is not None:
            return self._holes
        out: list[tuple[HoleRef, str]] = []
        named = [(self.op.args[i].name if i < len(self.op.args) else str(i), v) for i, v in enumerate(self.positional)]
        for arg, v in named + list(self.keyword.items()):
            if isinstance(v, HoleRef) and all(v.key != h.key for h, _ in out):
                out.append((v, arg))
        self._holes = out
        return out

    def slots(self) -> list[tuple[str, HoleKey]]:
        """(argument, hole) for every argument that is a hole."""
        named = [(self.op.args[i].name, v) for i, v in enumerate(self.positional) if i < len(self.op.args)]
        return [(arg, v.key) for arg, v in named + list(self.keyword.items()) if isinstance(v, HoleRef)]

    def given(self, arg: str):
        """The value the call gives an argument that is not a hole (None where it gives none)."""
        for i, v in enumerate(self.positional):
            if i < len(self.op.args) and self.op.args[i].name == arg:
                return None if isinstance(v, HoleRef) else v
        v = self.keyword.get(arg)
        return None if isinstance(v, HoleRef) else v

    def arg_kind(self, arg: str) -> str:
        return next((a.kind for a in self.op.args if a.name == arg), "int")

    def build(self, values: dict[HoleKey, int]):
        """The op and its output type with these values for the holes (OpError where the
        op's rules refuse them). The other arguments are checked once, then every value of
        a hole only for being a whole number of its argument's kind (the domains give
        nothing else) before the op's own rules."""
        from ..ops.base import Bound, _check_value

        if self._base is None:
            def fill(v):
                return 1 if isinstance(v, HoleRef) else v  # any valid whole number, replaced below

            base = self.op.bind([fill(v) for v in self.positional], {k: fill(v) for k, v in self.keyword.items()})
            specs = {a.name: a for a in self.op.args}
            self._base = (dict(base._values), base._given, [(arg, key, specs[arg]) for arg, key in self.slots()])
        known, given, slots = self._base
        filled = dict(known)
        name = self.op.name
        for arg, key, spec in slots:
            filled[arg] = _check_value(name, spec, values[key])
        self.op.check_input(self.x)
        op = self.op.make(Bound(filled, given), self.x)
        return op, op.infer((self.x,))

class NeedChoice(Exception):
    """Lowering needs the value of an unassigned hole (see the module docstring)."""

    def __init__(self, hole: HoleRef, site: CallSite | None = None, purpose: str = "number", target=None) -> None:
        super().__init__(hole.key)
        self.hole = hole
        self.site = site
        self.purpose = purpose  # "number" or "repeat", for holes needed without a site
        self.target = target  # the S.Shape the call's output must have (an assertion right after it)


class SplitGroup(Exception):
    """A hole that the solver tried as one of a group of equivalent values (the same output
    type) is needed again: its values are not equivalent after all and must be tried apart."""

    def __init__(self, key: HoleKey) -> None:
        super().__init__(key)
        self.key = key


@dataclass
class Assignment:
    """Values for some holes; `grouped` ones stand for several equivalent values."""

    values: dict[HoleKey, int] = field(default_factory=dict)
    grouped: frozenset[HoleKey] = frozenset()
    requested: dict[HoleKey, int] = field(default_factory=dict)  # every hole lowering met, how often

    def value(self, key: HoleKey, span: Span) -> int | HoleRef:
        """Its value, or a HoleRef; SplitGroup where a grouped hole is met a second time (its
        first meeting is the call that grouped it: lowering runs in the same order each time)."""
        seen = self.requested.get(key, 0)
        self.requested[key] = seen + 1
        if key not in self.values:
            return HoleRef(key, span)
        if key in self.grouped and seen:
            raise SplitGroup(key)
        return self.values[key]
