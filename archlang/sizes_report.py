"""What `archlang sizes` finds (sizes.py): per spatial axis the valid input sizes, the
smallest, and the first layer that fails just below each valid run, as records; the valid
sizes as the shortest honest text (`16, 32, 48, ... 4096: multiples of 16`); and the terminal
report."""

from __future__ import annotations

from .records import record

__all__ = ["Failure", "Axis", "Sizes", "progression_text", "print_sizes"]

SHOWN_FAILURES = 4  # "first layer that fails" lines per axis; the rest are counted


@record
class Failure:
    """An invalid size just below a valid one, and the first layer that fails there."""

    size: int
    layer: str  # a node's name, or `line:column` of an assertion
    message: str

    def __str__(self) -> str:
        return f"{self.size}: {self.layer} ({self.message})"


@record
class Axis:
    axis: int  # 1 for the first spatial axis
    valid: tuple[int, ...]
    summary: str
    smallest: int | None
    failures: tuple[Failure, ...]  # for every invalid size just below a valid one, ascending

    def to_dict(self) -> dict:
        return {"valid": list(self.valid), "summary": self.summary, "smallest": self.smallest}


@record
class Sizes:
    network: str
    header: str  # the input shapes as written (`3x?x?`)
    max: int
    axes: tuple[Axis, ...]

    def to_dict(self) -> dict:
        return {"network": self.network, "max": self.max, "axes": [a.to_dict() for a in self.axes]}


# -- progressions: valid sizes as the shortest honest text


def _runs(values: list[int]) -> list[tuple[int, int, int]]:
    """The sizes as arithmetic runs (first, step, count), by first size: from the smallest size
    not yet covered, the step (to one of the next 16 sizes) that covers the most sizes in a
    row, where that is at least three."""
    left = sorted(set(values))
    remaining = set(left)
    runs = []
    for i, first in enumerate(left):
        if first not in remaining:
            continue
        best = (1, 1)  # (count, step)
        later = []
        for v in left[i + 1:]:
            if v in remaining:
                later.append(v)
                if len(later) == 16:
                    break
        for nxt in later:
            step = nxt - first
            count = 1
            while first + count * step in remaining:
                count += 1
            if count > best[0]:
                best = (count, step)
        count, step = best if best[0] >= 3 else (1, 1)  # two sizes read better as two sizes
        for k in range(count):
            remaining.discard(first + k * step)
        runs.append((first, step, count))
    return runs


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _run_text(first: int, step: int, count: int) -> str:
    last = first + (count - 1) * step
    if count == 1:
        return str(first)
    if step == 1:
        return f"{first} to {last}: every size"
    terms = ", ".join(str(first + k * step) for k in range(min(count, 3)))
    body = terms if count <= 3 else f"{terms}, ... {last}" if count > 4 else f"{terms}, {last}"
    if first % step == 0:
        what = f"multiples of {step}" + ("" if first == step else f" from {first}")
    else:
        what = f"every {_ordinal(step)} size from {first}"
    return f"{body}: {what}"


def progression_text(valid) -> str:
    """`16, 32, 48, ... 4096: multiples of 16`; `32 to 4096: every size`; several runs joined
    by `; `; `none` for no size."""
    if not valid:
        return "none"
    runs = _runs(list(valid))
    singles = [str(f) for f, _, c in runs if c == 1]
    if len(singles) == len(runs):
        return ", ".join(singles)
    parts: list[str] = []
    pending: list[str] = []
    for f, s, c in runs:
        if c == 1:
            pending.append(str(f))
            continue
        if pending:
            parts.append(", ".join(pending))
            pending = []
        parts.append(_run_text(f, s, c))
    if pending:
        parts.append(", ".join(pending))
    return "; ".join(parts)


def print_sizes(result: Sizes, file=None) -> None:
    """`archlang sizes`'s report: per axis the progression, the smallest size, and the first
    layer that fails at the invalid sizes just below valid ones (a few, the rest counted);
    bold in a terminal, plain text in a pipe."""
    import os
    import sys

    from rich.console import Console
    from rich.markup import escape

    file = file or sys.stdout
    console = Console(file=file, force_terminal=False, no_color=not file.isatty() or "NO_COLOR" in os.environ,
                      width=max(100, Console(file=file).width), highlight=False, soft_wrap=True)
    console.print(f"[bold]{result.network}[/]  {escape(result.header)}  sizes 1 to {result.max:,}")
    if not result.axes:
        console.print("  no spatial axes to size: the inputs are vectors or token sequences")
    for axis in result.axes:
        console.print(f"  axis {axis.axis}  {escape(axis.summary)}")
        console.print(f"          smallest {axis.smallest if axis.smallest is not None else 'none'}")
        for failure in axis.failures[:SHOWN_FAILURES]:
            console.print(f"          {escape(str(failure))}")
        if len(axis.failures) > SHOWN_FAILURES:
            console.print(f"          ... {len(axis.failures) - SHOWN_FAILURES:,} more invalid sizes just below valid ones")
