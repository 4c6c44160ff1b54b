"""Budgets: `where params <= 5M, macs <= 600M` after a network's chain, bounds on its totals.

A budget names a quantity (QUANTITIES), a comparison (< <= > >= ==) and a whole number
(`5M` is 5,000,000: k, M and G are decimal). `check_names` refuses an unknown quantity or
comparison before the network is lowered; `check_budgets` compares the analysed totals and
raises at the first budget that is not met, with the figure and by how much it misses.
"""

from __future__ import annotations

from .. import syntax as S
from ..errors import ArchError, ArgumentError, Note, suggest

__all__ = ["QUANTITIES", "BudgetError", "check_names", "check_budgets", "met"]

# quantity -> what it counts, for messages and docs
QUANTITIES = {
    "params": "trainable parameters",
    "macs": "multiply-accumulates of the convolutions and fc layers (torchvision's convention)",
}
COMPARISONS = ("<", "<=", ">", ">=", "==")


class BudgetError(ArchError):
    kind = "budget"


def check_names(budgets: tuple[S.Budget, ...]) -> None:
    for b in budgets:
        if b.quantity not in QUANTITIES:
            close = suggest(b.quantity, QUANTITIES)
            extra = " (archlang counts multiply-accumulates: FLOPs are usually 2 x macs)" if b.quantity.lower() in (
                "flops", "flop", "mflops", "gflops") else ""
            raise ArgumentError(
                f"a budget on '{b.quantity}', which archlang does not count{extra}",
                b.quantity_span,
                hint=(f"did you mean '{close}'? " if close else "") + "budgets bound: " + ", ".join(QUANTITIES),
            )
        if b.op not in COMPARISONS:
            raise ArgumentError(
                f"a budget compares with {', '.join(COMPARISONS)}, not '{b.op}'", b.op_span,
                hint=f"for example: where {b.quantity} <= {b.value:,}",
            )


def met(op: str, figure: int, bound: int) -> bool:
    return {"<": figure < bound, "<=": figure <= bound, ">": figure > bound, ">=": figure >= bound,
            "==": figure == bound}[op]


def check_budgets(budgets: tuple[S.Budget, ...], totals: dict[str, int], name: str) -> None:
    """BudgetError at the first budget that `totals` (quantity -> figure) does not meet."""
    for b in budgets:
        figure = totals[b.quantity]
        if met(b.op, figure, b.value):
            continue
        written = " ".join(b.span.text.split()) if b.span.line == b.span.end_line else f"{b.quantity} {b.op} {b.value:,}"
        # the nearest figure that would meet it
        limit = {"<": b.value - 1, "<=": b.value, ">": b.value + 1, ">=": b.value, "==": b.value}[b.op]
        over = figure > limit
        miss = f"{figure - limit:,} over" if over else f"{limit - figure:,} short of"
        raise BudgetError(
            f"{name} has {figure:,} {b.quantity}: {miss} the budget {written}",
            b.span,
            notes=[Note(f"{b.quantity}: {QUANTITIES[b.quantity]}")],
            hint=f"make the network {'smaller' if over else 'larger'} (archlang check shows each layer's share)",
        )
