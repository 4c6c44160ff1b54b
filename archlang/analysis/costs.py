"""Parameter and MAC counts per node, from each op's own rules.

Parameters follow torch's convention: trainable tensors only (batch norm's weight and bias
count, its running statistics do not). MACs are multiply-accumulates of convolutions and
fully connected layers only, the convention behind torchvision's published GFLOPS.
"""

from __future__ import annotations

from ..ir import Graph
from .walk import walk

__all__ = ["param_counts", "mac_counts", "totals"]


def param_counts(graph: Graph) -> dict[str, int]:
    return {node.name: params for node, params, _, _ in walk(graph)}


def mac_counts(graph: Graph) -> dict[str, int]:
    return {node.name: macs for node, _, macs, _ in walk(graph)}


def totals(graph: Graph) -> tuple[int, int]:
    """(parameters, MACs) of the whole graph."""
    params = macs = 0
    for _, p, m, _ in walk(graph):
        params += p
        macs += m
    return params, macs
