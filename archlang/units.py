"""Numbers for people: SI prefixes, as parameter and MAC totals and memory sizes are quoted."""

from __future__ import annotations

__all__ = ["si", "bytes_text"]

_PREFIXES = ((10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))


def si(n: int | float, fmt: str = ".2f", sep: str = " ", unit: str = "") -> str:
    """`n` with the largest SI prefix it reaches: si(1234567) -> '1.23 M', si(n, '.3g', '')
    -> '1.23M', si(8.04e12, '.1f', unit='B') -> '8.0 TB'; below 1000, the number itself."""
    for value, prefix in _PREFIXES:
        if n >= value:
            return f"{n / value:{fmt}}{sep}{prefix}{unit}"
    return f"{n}{sep}{unit}" if unit else str(n)


def bytes_text(n: int) -> str:
    """Bytes as memory is quoted, in binary units: 97.5 MiB, 784 KiB (three figures); below a KiB, the count (512 B)."""
    for shift, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift:
            value = n / (1 << shift)
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    return f"{n} B"
