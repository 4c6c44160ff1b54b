"""Parameter and MAC counts per node, from each op's own rules.

Parameters follow torch's convention: trainable tensors only (batch norm's weight and bias
count, its running statistics do not). MACs are multiply-accumulates of convolutions and
fully connected layers only, the convention behind torchvision's published GFLOPS.
"""

from __future__ import annotations

from ..ir import Graph

__all__ = ["param_counts", "mac_counts", "totals"]


def param_counts(graph: Graph) -> dict[str, int]:
    return {n.name: n.op.param_count() for n in graph.nodes}


def mac_counts(graph: Graph) -> dict[str, int]:
    return {n.name: n.op.macs(graph.input_types(n), n.type) for n in graph.nodes}


def totals(graph: Graph) -> tuple[int, int]:
    """(parameters, MACs) of the whole graph."""
    return sum(param_counts(graph).values()), sum(mac_counts(graph).values())
