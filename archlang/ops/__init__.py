"""The op registry: one module per op family; importing this package registers them all."""

from . import activation, attention, channels, conv, crop, linear, merge, norm, other, pool, recurrent, resample, sequence, transposed  # noqa: F401  (registers)
from .base import GLOBAL, REGISTRY, Arg, Family, Op, OpError, Window, canonical_ops, lookup, split_suffix

__all__ = ["GLOBAL", "REGISTRY", "Arg", "Family", "Op", "OpError", "Window", "canonical_ops", "lookup", "split_suffix"]
