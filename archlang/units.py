"""Numbers for people: SI prefixes, as parameter and MAC totals and memory sizes are quoted."""

from __future__ import annotations

__all__ = ["si"]

_PREFIXES = ((10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))


def si(n: int | float, fmt: str = ".2f", sep: str = " ", unit: str = "") -> str:
    """`n` with the largest SI prefix it reaches: si(1234567) -> '1.23 M', si(n, '.3g', '')
    -> '1.23M', si(8.04e12, '.1f', unit='B') -> '8.0 TB'; below 1000, the number itself."""
    for value, prefix in _PREFIXES:
        if n >= value:
            return f"{n / value:{fmt}}{sep}{prefix}{unit}"
    return f"{n}{sep}{unit}" if unit else str(n)
