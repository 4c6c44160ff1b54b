"""An independent torch reading of an IR graph, for tests: each node becomes the torch module
a user would write by hand from torch's documentation, and the graph is run node by node.
It shares no code with archlang's backends, so the two can disagree.
"""

from __future__ import annotations

import torch
from torch import nn

from archlang.ir import Graph


def _rank_nd(name: str, rank: int):
    return getattr(nn, f"{name}{max(rank, 1)}d")


def oracle(op, x_shape):
    """The torch module a user would write for this op, from torch's own documentation."""
    r = len(x_shape) - 1
    name = op.name
    if name == "conv":
        return _rank_nd("Conv", r)(op.in_channels, op.out_channels, op.kernel_size, op.stride, op.padding,
                                   op.dilation, op.groups, op.bias)
    if name in ("maxpool", "avgpool"):
        return _rank_nd("MaxPool" if name == "maxpool" else "AvgPool", r)(op.kernel_size, op.stride, op.padding)
    if name == "globalavgpool":
        return _rank_nd("AdaptiveAvgPool", r)(1)
    if name == "globalmaxpool":
        return _rank_nd("AdaptiveMaxPool", r)(1)
    if name == "adaptiveavgpool":
        return _rank_nd("AdaptiveAvgPool", r)(op.output_size)
    if name == "fc":
        return nn.Linear(op.in_features, op.out_features, op.bias)
    if name == "flatten":
        return nn.Flatten()
    if name == "bn":
        return _rank_nd("BatchNorm", r)(op.num_features, op.eps, op.momentum)
    if name == "lrn":
        return nn.LocalResponseNorm(op.size, op.alpha, op.beta, op.k)
    if name == "layernorm":
        return nn.LayerNorm(op.normalized_shape, op.eps)
    if name == "groupnorm":
        return nn.GroupNorm(op.groups, op.num_channels, op.eps)
    if name == "dropout":
        return nn.Dropout(op.p)
    if name == "leakyrelu":
        return nn.LeakyReLU(op.slope)
    if name == "elu":
        return nn.ELU(op.alpha)
    if name == "softmax":
        return nn.Softmax(dim=1)
    simple = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    return simple[name]()




def execute(graph: Graph, x: torch.Tensor, modules: dict | None = None):
    """Run the graph on x; returns (values by node name, modules by node name)."""
    values = {"input": x}
    modules = {} if modules is None else modules
    for node in graph.layers:
        inputs = [values[i] for i in node.inputs]
        if node.op.name == "add":
            out = sum(inputs[1:], inputs[0])
        elif node.op.name == "concat":
            out = torch.cat(inputs, dim=1)
        else:
            if node.name not in modules:
                modules[node.name] = oracle(node.op, tuple(inputs[0].shape[1:]))
            out = modules[node.name](inputs[0])
        values[node.name] = out
    return values, modules
