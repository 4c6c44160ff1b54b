"""Parameter and MAC counts per node, from each op's own rules.

Parameters follow torch's convention: trainable tensors only (batch norm's weight and bias
count, its running statistics do not). MACs are multiply-accumulates of convolutions and
fully connected layers only, the convention behind torchvision's published GFLOPS.
"""

from __future__ import annotations

from ..ir import Graph

__all__ = ["param_counts", "mac_counts", "totals"]


def param_counts(graph: Graph) -> dict[str, int]:
    counted: dict[int, int] = {}  # by op: nodes made from one call written again share their op
    out = {}
    for n in graph.nodes:
        count = counted.get(id(n.op))
        if count is None:
            count = counted[id(n.op)] = n.op.param_count()
        out[n.name] = count
    return out


def mac_counts(graph: Graph) -> dict[str, int]:
    # by op and the input and output types, as param_counts: (ids: the graph keeps them alive)
    counted: dict[tuple, int] = {}
    types = {}
    out = {}
    for n in graph.nodes:
        inputs = n.inputs
        types[n.name] = n.type
        key = (id(n.op), id(n.type), *[id(types[i]) for i in inputs])
        macs = counted.get(key)
        if macs is None:
            macs = counted[key] = n.op.macs(tuple([types[i] for i in inputs]), n.type)
        out[n.name] = macs
    return out


def totals(graph: Graph) -> tuple[int, int]:
    """(parameters, MACs) of the whole graph."""
    return sum(param_counts(graph).values()), sum(mac_counts(graph).values())
