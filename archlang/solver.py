"""`archlang solve`: every value of a network's holes that meets its constraints.

The constraints are the network's own: every op's rules (a kernel that fits its padded input,
pooling padding at most half the window, groups that divide the channels, sizes >= 1, ...),
its shape assertions, its output declaration and its budgets. Each hole ranges over a finite,
documented domain (`Domains`); within them the search is exact: it finds every solution and
only solutions (tests compare it with brute-force enumeration).

Method: depth-first search over lowering itself. Lowering runs with the values chosen so far
and stops at the first hole it needs (lower/holes.py). At an op call, the solver tries every
combination of that call's holes on the op's own rules, without lowering again, and groups
the combinations that give the same output type: everything after the call sees only that
type, so one lowering per group decides them all (a budget still tells them apart: each
member carries its own parameter and MAC counts, and the budgets are checked per member).
A grouped hole that lowering meets a second time (a block body called twice, a repeat) was
not equivalent after all: its group is split and tried member by member. A hole needed
elsewhere (arithmetic, a condition, a repeat count) is tried value by value.

Ranking encodes the field's conventions: smaller strides first, then smaller padding, odd
kernels before even ones, smaller kernels, smaller dilations; widths (channels, fc sizes)
and repeat counts larger first (the most a budget allows), any other number smaller first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator

from .analysis import totals
from .analysis.budgets import check_names, met
from .errors import ArchError, Note, ShapeError, Span
from .ir import TensorType
from .lower import lower_network
from .lower.holes import Assignment, CallSite, HoleKey, NeedChoice, SplitGroup, key_of
from .lower.assertions import AssertionFailed, shape_matches
from .ops import GLOBAL, OpError
from .records import record

__all__ = ["Domains", "Hole", "Solved", "solve", "brute_force", "filled_text", "NoSolution", "DEFAULT_LIMIT"]

DEFAULT_LIMIT = 1_000  # solutions listed before the search stops (the count then says "at least")


@record
class Domains:
    """The values a hole may take, by what it stands for (I: the largest spatial size of the
    op's input, 1 for a flat one):
    - kernel `k`: 1 to I + 2; stride, dilation: 1 to I; padding: 0 to K' - 1 (K' = D(K - 1) + 1,
      so that every output unit sees an input unit);
    - groups: 1 to the input's channels; other sizes (crop, upsample factors): 1 (or 0 where
      the argument allows it) to I; on a token sequence (attention's heads, a grid's sides)
      I is the larger of its length and its width;
    - channels and widths, and a hole inside arithmetic: 1 to max_width;
    - repeat counts (`block * ?`): 0 to max_repeat."""

    max_width: int = 1024
    max_repeat: int = 16
    # the search gives up (an error, never a hang) beyond this many tries: each value tried
    # on an op's rules is one (about 15 us), each lowering of the network ten (about as long)
    max_tries: int = 200_000

    def for_site(self, site: CallSite, arg: str) -> range:
        kind = site.arg_kind(arg)
        # a sequence's other integers (heads, a grid's sides, a token's index) are bounded by
        # its length and its width
        size = max(site.x.tokens, site.x.channels) if site.x.tokens else max(site.x.spatial, default=1)
        if kind == "channels":
            return range(1, self.max_width + 1)
        if arg == "k":
            return range(1, size + 3)
        if arg == "groups":
            return range(1, site.x.channels + 1)
        if arg == "pad":
            return range(0, size + 2)  # cut to K' - 1 per combination
        low = 0 if kind in ("int0", "ints0") else 1
        return range(low, max(size, low) + 1)

    def for_purpose(self, purpose: str) -> range:
        return range(0, self.max_repeat + 1) if purpose == "repeat" else range(1, self.max_width + 1)


@record
class Hole:
    key: HoleKey
    name: str  # `?k`, or `?` for an unnamed one
    line: int
    column: int
    argument: str  # the argument it stands for (`stride`), `repeat`, or `number`
    wide: bool = False  # a width or a repeat count: ranked larger first

    @property
    def label(self) -> str:
        """How tables and JSON name it: `k` for `?k`, `line:col` for `?`."""
        return self.name[1:] if self.name != "?" else f"{self.line}:{self.column}"


@dataclass
class Solved:
    network: str
    holes: list[Hole]
    solutions: list[dict[HoleKey, int]]  # ranked, best first
    complete: bool  # false where the limit cut the search
    lowerings: int  # how often the network was lowered

    def as_json(self) -> dict:
        return {
            "network": self.network,
            "holes": [{"name": h.label, "line": h.line, "column": h.column, "argument": h.argument} for h in self.holes],
            "count": len(self.solutions),
            "complete": self.complete,
            "solutions": [{h.label: s[h.key] for h in self.holes if h.key in s} for s in self.solutions],
        }


class NoSolution(ArchError):
    """No assignment of the holes meets the constraints (or, for `check`, more than one does)."""

    kind = "solve"


@dataclass
class _Member:
    values: dict[HoleKey, int]
    params: int
    macs: int


@dataclass
class _Group:
    members: list[_Member]


@dataclass
class _State:
    values: dict[HoleKey, int]
    groups: list[_Group] = field(default_factory=list)

    def grouped(self) -> frozenset[HoleKey]:
        return frozenset(k for g in self.groups if len(g.members) > 1 for k in g.members[0].values)


class _Failures:
    """What stopped the search where it got furthest, to explain an empty answer."""

    def __init__(self) -> None:
        self.best: tuple | None = None
        self.error: ArchError | None = None
        self.shapes: dict[Span, set[TensorType]] = {}
        self.figures: dict[Span, tuple[int, int]] = {}  # per budget: the least and the most figure seen

    def add(self, progress: int, err: ArchError) -> None:
        if isinstance(err, AssertionFailed):
            self.shapes.setdefault(err.span, set()).add(err.got)
        span = err.span
        rank = (progress, isinstance(err, (AssertionFailed, NoSolution)), span.line if span else 0, span.col if span else 0)
        if self.best is None or rank > self.best:
            self.best, self.error = rank, err

    def budget(self, span: Span, figure: int) -> None:
        low, high = self.figures.get(span, (figure, figure))
        self.figures[span] = (min(low, figure), max(high, figure))


class _OutOfTries(Exception):
    """The search used Domains.max_tries."""


class _Tries:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise _OutOfTries


def _gave_up(name: str, spec, domains: Domains, failures: _Failures) -> NoSolution:
    """The search ran out of tries without a solution: what stopped it where it got furthest."""
    tried = f"network {name}: {domains.max_tries:,} tries of its holes' values found no solution, and more remain"
    narrow = ("narrow the search: assert the shapes you expect right after the layers with holes, or "
              "lower --max-width / --max-repeat")
    err = failures.error
    if err is None:
        return NoSolution(tried, spec.name_span, hint=narrow)
    return NoSolution(f"{tried}; the furthest they got ends with: {err.message}", err.span,
                      notes=list(err.notes), detail=err.detail, hint=err.hint or narrow)


def solve(program, name: str | None = None, limit: int | None = DEFAULT_LIMIT, domains: Domains = Domains()) -> Solved:
    """Every assignment of the holes of network `name` that meets its constraints (at most
    `limit` of them; None: no limit). NoSolution when there is none, located at the
    constraint that could not be met."""
    name = program.network_name(name)
    spec = program.defs.networks[name]
    check_names(spec.budgets)
    holes: dict[HoleKey, Hole] = {}
    solutions: list[dict[HoleKey, int]] = []
    failures = _Failures()
    stack = [_State({})]
    lowerings = 0
    tries = _Tries(domains.max_tries)
    complete = True
    while stack:
        state = stack.pop()
        assignment = Assignment(dict(state.values), state.grouped())
        lowerings += 1
        try:
            tries.take(10)
            try:
                graph = lower_network(spec, program.defs, program.limits, assignment)
            except NeedChoice as need:
                stack.extend(reversed(list(_branches(need, state, domains, holes, failures, tries))))
                continue
        except _OutOfTries:
            if solutions:
                complete = False
                break
            raise _gave_up(name, spec, domains, failures) from None
        except SplitGroup as split:
            stack.extend(reversed(list(_split(state, split.key))))
            continue
        except ArchError as err:
            failures.add(len(state.values), err)
            continue
        if not assignment.requested:
            raise ArchError(f"network {name} has no holes", spec.name_span, hint="archlang check analyses it as it is")
        params, macs = totals(graph)
        for values in _expand(state, params, macs, spec.budgets, failures):
            if limit is not None and len(solutions) >= limit:
                complete, stack = False, []  # one more than the limit: there are more
                break
            solutions.append(values)
    if not solutions:
        raise _no_solution(name, spec, failures)
    order = [h for h in sorted(holes.values(), key=lambda h: (h.line, h.column))]
    solutions.sort(key=lambda s: _preference(s, order))
    return Solved(name, order, solutions, complete, lowerings)


def brute_force(program, name: str | None = None, domains: Domains = Domains()) -> list[dict[HoleKey, int]]:
    """Every solution by exhaustive enumeration, for tests and benchmarks: one hole at a
    time, each value of its domain lowered on its own, no grouping. The same domains as
    `solve` (the padding rule needs the op, so the last hole of a call is tried on it)."""
    name = program.network_name(name)
    spec = program.defs.networks[name]
    found: list[dict[HoleKey, int]] = []
    stack: list[dict[HoleKey, int]] = [{}]
    while stack:
        values = stack.pop()
        try:
            graph = lower_network(spec, program.defs, program.limits, Assignment(dict(values)))
        except NeedChoice as need:
            if need.site is None:
                stack.extend({**values, need.hole.key: v} for v in domains.for_purpose(need.purpose))
                continue
            open_ = sorted(need.site.holes(), key=lambda h: h[1] == "pad")  # the padding last
            hole, arg = open_[0]
            padded = any(a == "pad" for a, _ in need.site.slots())
            for v in domains.for_site(need.site, arg):
                if len(open_) == 1 and padded:  # the padding rule, on the op the last value makes
                    try:
                        op, _ = need.site.build({hole.key: v})
                    except OpError:
                        continue
                    if not _pad_sees_input(op):
                        continue
                stack.append({**values, hole.key: v})
            continue
        except ArchError:
            continue
        params, macs = totals(graph)
        figures = {"params": params, "macs": macs}
        if all(met(b.op, figures[b.quantity], b.value) for b in spec.budgets):
            found.append(values)
    return found


def _branches(need: NeedChoice, state: _State, domains: Domains, holes: dict[HoleKey, Hole],
              failures: _Failures, tries: _Tries) -> Iterator[_State]:
    """The states to try next: one per group of equivalent values of the call's holes, or
    one per value of a hole needed without a call."""
    if need.site is None:
        h = need.hole
        holes.setdefault(h.key, _hole(h, need.purpose, need.purpose == "repeat"))
        values = domains.for_purpose(need.purpose)
        for v in (reversed(values) if need.purpose == "repeat" else values):  # the preferred first
            yield _State({**state.values, h.key: v}, list(state.groups))
        return
    site = need.site
    open_ = site.holes()
    for h, arg in open_:
        holes.setdefault(h.key, _hole(h, arg, site.arg_kind(arg) == "channels"))
    ranges = [domains.for_site(site, arg) for _, arg in open_]
    if need.target is not None and need.target.dims[0] is not None:
        # a "channels" argument is the op's output channel count (the registry's contract,
        # tests/test_solver.py checks it): an assertion right after the call fixes it
        ranges = [range(need.target.dims[0], need.target.dims[0] + 1) if site.arg_kind(arg) == "channels"
                  and need.target.dims[0] in r else r for r, (_, arg) in zip(ranges, open_)]
    named = [i for i, (h, _) in enumerate(open_) if not h.key.startswith("?@")]
    groups: dict[tuple, list[_Member]] = {}
    refused: OpError | None = None
    missed: set[TensorType] = set()
    overpadded = False
    padded = any(arg == "pad" for arg, _ in site.slots())
    pad_cap = _pad_cap(site)
    for combo in itertools.product(*ranges):
        tries.take()
        values = {h.key: v for (h, _), v in zip(open_, combo)}
        if pad_cap is not None and not pad_cap(values):
            overpadded = True
            continue
        try:
            op, out = site.build(values)
        except OpError as err:
            refused = refused or err
            continue
        if padded and not _pad_sees_input(op):
            overpadded = True
            continue
        if need.target is not None and not shape_matches(out, need.target):
            missed.add(out)  # the assertion right after the call would refuse it
            continue
        key = (out, tuple(combo[i] for i in named))
        groups.setdefault(key, []).append(_Member(values, op.param_count(), op.macs((site.x,), out)))
    if not groups:
        progress = len(state.values) + len(open_)
        if missed:
            failures.add(progress, AssertionFailed(
                f"the shape here is not {need.target.text()}", need.target.span, got=min(missed, key=str),
                expected=need.target, notes=[Note(f"the holes of {site.name} here", site.span)]))
            failures.shapes.setdefault(need.target.span, set()).update(missed)
        elif refused is not None:
            failures.add(progress, ShapeError(refused.message, site.span, hint=refused.hint, detail=refused.detail))
        elif overpadded:
            failures.add(progress, ShapeError(
                f"every value of the holes of {site.name} here pads by the (dilated) kernel or more", site.span,
                hint="solve keeps padding at most D(K - 1), so that every output unit sees an input unit"))
    # the preferred values first, so that a search the limit cuts keeps them
    local = [Hole(h.key, "", 0, 0, arg, site.arg_kind(arg) == "channels") for h, arg in open_]
    for members in groups.values():
        members.sort(key=lambda m: _preference(m.values, local))
    for members in sorted(groups.values(), key=lambda ms: _preference(ms[0].values, local)):
        yield _State({**state.values, **members[0].values}, [*state.groups, _Group(members)])


def _pad_cap(site: CallSite):
    """A quick test of `pad <= D(K - 1)` on the holes' values before building, where the
    padding is a hole and the kernel and dilation are single numbers; None where it cannot
    tell (building the op then decides)."""
    slots = dict(site.slots())
    if "pad" not in slots:
        return None

    def getter(arg: str, default):
        if arg in slots:
            key = slots[arg]
            return lambda values: values[key]
        value = site.given(arg)  # a conv5x5-style name gives k too
        value = default if value is None else value
        return (lambda values: value) if isinstance(value, int) else None

    k, d, p = getter("k", None), getter("dilation", 1), slots["pad"]
    if k is None or d is None:
        return None
    return lambda values: values[p] <= d(values) * (k(values) - 1)


def _pad_sees_input(op) -> bool:
    """Every output unit sees an input unit: padding at most K' - 1 on each axis."""
    window = op.window()
    if window is None or window is GLOBAL:
        return True
    return all(p <= d * (k - 1) for k, p, d in zip(window.kernel, window.padding, window.dilation))


def _split(state: _State, key: HoleKey) -> Iterator[_State]:
    """The state with the group holding `key` tried member by member."""
    index = next(i for i, g in enumerate(state.groups) if key in g.members[0].values)
    group = state.groups[index]
    for member in group.members:
        groups = [*state.groups[:index], _Group([member]), *state.groups[index + 1:]]
        yield _State({**state.values, **member.values}, groups)


def _expand(state: _State, params: int, macs: int, budgets, failures: _Failures) -> Iterator[dict[HoleKey, int]]:
    """Every member combination of the state's groups whose totals meet the budgets (the
    lowering used each group's first member). A budget that even the most favourable
    combination misses rules them all out at once."""
    firsts = [g.members[0] for g in state.groups]
    base = {"params": params - sum(f.params for f in firsts), "macs": macs - sum(f.macs for f in firsts)}
    for b in budgets:
        figures = [[getattr(m, b.quantity) for m in g.members] for g in state.groups]
        low = base[b.quantity] + sum(min(f) for f in figures)
        high = base[b.quantity] + sum(max(f) for f in figures)
        if b.op in ("<", "<=") and not met(b.op, low, b.value):
            failures.budget(b.span, low)
            return
        if b.op in (">", ">=") and not met(b.op, high, b.value):
            failures.budget(b.span, high)
            return
    for combo in itertools.product(*(g.members for g in state.groups)):
        figures = {"params": base["params"] + sum(m.params for m in combo),
                   "macs": base["macs"] + sum(m.macs for m in combo)}
        missed = next((b for b in budgets if not met(b.op, figures[b.quantity], b.value)), None)
        if missed is not None:
            failures.budget(missed.span, figures[missed.quantity])
            continue
        values = dict(state.values)
        for member in combo:
            values.update(member.values)
        yield values


def _hole(ref, argument: str, wide: bool) -> Hole:
    name = "?" if ref.key.startswith("?@") else ref.key
    return Hole(ref.key, name, ref.span.line, ref.span.col, argument, wide)


_SMALLER_FIRST = ("stride", "pad", "k", "dilation")


def _preference(values: dict[HoleKey, int], holes: list[Hole]) -> tuple:
    def total(arg: str) -> int:
        return sum(values.get(h.key, 0) for h in holes if h.argument == arg)

    even_kernels = sum(1 for h in holes if h.argument == "k" and values.get(h.key, 1) % 2 == 0)
    wide = tuple(-values.get(h.key, 0) for h in holes if h.wide)
    rest = tuple(values.get(h.key, 0) for h in holes if h.argument not in _SMALLER_FIRST and not h.wide)
    return (total("stride"), total("pad"), even_kernels, total("k"), total("dilation"), wide, rest)


def _no_solution(name: str, spec, failures: _Failures) -> ArchError:
    if failures.figures:
        span, figures = max(failures.figures.items(), key=lambda kv: (kv[0].line, kv[0].col))
        budget = next(b for b in spec.budgets if b.span == span)
        near = figures[0] if budget.op in ("<", "<=") else figures[1] if budget.op in (">", ">=") else \
            min(figures, key=lambda f: abs(f - budget.value))
        return NoSolution(
            f"no values of the holes meet the budget {budget.span.text}: the nearest {budget.quantity} they give is {near:,}",
            span, hint="widen the holes' ranges (--max-width, --max-repeat), or relax the budget",
        )
    err = failures.error
    if isinstance(err, AssertionFailed) and err.span in failures.shapes:
        seen = sorted(failures.shapes[err.span], key=lambda t: _distance(t, err.expected))
        shown = ", ".join(str(t) for t in seen[:4]) + (f" and {len(seen) - 4} more" if len(seen) > 4 else "")
        return NoSolution(
            f"no values of the holes give {err.expected.text()} here; the shapes they give are {shown}",
            err.span,
            notes=[Note(f"{n.message}", n.span) for n in err.notes],
            hint="check the layers before the assertion, or widen the holes' ranges (--max-width, --max-repeat)",
        )
    if err is None:
        return NoSolution(f"network {name}: no values of its holes lower", spec.span)
    return NoSolution(
        f"no values of the holes work: the furthest the search got ends with: {err.message}",
        err.span, notes=list(err.notes), detail=err.detail, hint=err.hint,
    )


def _distance(t: TensorType, shape) -> tuple:
    dims = t.shape
    if len(dims) != len(shape.dims):
        return (1, 0)
    return (0, sum(abs(d - w) for d, w in zip(dims, shape.dims) if w is not None))


def filled_text(program, solved: Solved, values: dict[HoleKey, int]) -> str:
    """The program's own spec text with `values` written in place of its holes (every `?k`
    of a named one), every other character as it was. An ArchError where a hole to fill
    lies in a file the spec uses."""
    from pathlib import Path

    source = program.module.source
    edits: list[tuple[int, int, str]] = []
    for hole in _holes_in(program.module):
        key = key_of(hole.name, hole.span)
        if key in values:
            start = source._starts[hole.span.line - 1] + hole.span.col - 1
            end = source._starts[hole.span.end_line - 1] + hole.span.end_col - 1
            edits.append((start, end, str(values[key])))
    own = {key_of(h.name, h.span) for h in _holes_in(program.module)}
    for h in solved.holes:
        if h.key in values and h.key not in own:
            raise ArchError(f"the hole {h.label} lies in a file this spec uses; -o writes only {source.name}",
                            hint="fill it in by hand there, or move the block that holds it into this file")
    text = source.text
    for start, end, value in sorted(edits, reverse=True):
        text = text[:start] + value + text[end:]
    try:  # a byte-order mark, which parsing drops, stays
        if Path(source.name).read_text(encoding="utf-8").startswith("\ufeff"):
            text = "\ufeff" + text
    except (OSError, ValueError):
        pass
    return text


def _holes_in(node) -> Iterator:
    """Every S.Hole in a syntax tree, in no particular order."""
    from dataclasses import fields, is_dataclass

    from . import syntax as S

    if isinstance(node, S.Hole):
        yield node
        return
    if isinstance(node, (tuple, list)):
        for item in node:
            yield from _holes_in(item)
    elif is_dataclass(node) and not isinstance(node, type):
        for f in fields(node):
            if f.name not in ("span", "source", "name_span", "func_span", "op_span", "quantity_span"):
                yield from _holes_in(getattr(node, f.name))
