"""Independent torch readings of archlang, for tests. They share no code with archlang's
backends, so the two can disagree.

- `from_spec`: the torch module a user would write by hand for a layer *as written in a spec*
  (`conv5(4, stride=2, pad=1, dilation=2)`), from torch's documentation and archlang's
  documented defaults (docs/language.md), restated here: a wrong default in an op's `make`
  (which resolves the IR's fields) makes the two disagree.
- `execute`: an IR graph run node by node, each node's module built from its resolved fields
  (for oracles that need the graph: FlopCounterMode's MACs, gradients for receptive fields).
"""

from __future__ import annotations

import torch
from torch import nn

from archlang import syntax as S
from archlang.ir import Graph
from archlang.parser import parse_module


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


# ---------------------------------------------------------------- from what the spec says


def _literal(e: S.Expr):
    if isinstance(e, S.Num):
        return e.value
    if isinstance(e, S.Bool):
        return e.value
    if isinstance(e, S.Neg):
        return -_literal(e.operand)
    if isinstance(e, S.Tuple):
        return tuple(_literal(i) for i in e.items)
    raise ValueError(f"the oracle reads literals only, not {e}")


def _per_axis(value, rank: int) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value,) * rank


class _Merge(nn.Module):
    def __init__(self, kind: str, branches: list[nn.Module]) -> None:
        super().__init__()
        self.kind = kind
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        return torch.cat(outs, dim=1) if self.kind == "concat" else sum(outs[1:], outs[0])


# archlang's documented arguments, in order, with their defaults (docs/language.md)
SIGNATURES = {
    "conv": ("c", "k", "stride", "pad", "dilation", "groups", "bias"),
    "maxpool": ("k", "stride", "pad"), "avgpool": ("k", "stride", "pad"),
    "adaptiveavgpool": ("size",), "fc": ("c", "bias"), "linear": ("c", "bias"),
    "dropout": ("p",), "bn": ("eps", "momentum"), "batchnorm": ("eps", "momentum"),
    "lrn": ("size", "alpha", "beta", "k"), "layernorm": ("eps",), "groupnorm": ("groups", "eps"),
    "leakyrelu": ("slope",), "elu": ("alpha",),
}


def _call(e: S.Expr, shape: tuple) -> tuple[nn.Module, tuple]:
    """(module, output shape without the batch) for one written layer."""
    import re

    if isinstance(e, S.Chain):
        mods = []
        for item in e.items:
            m, shape = _call(item, shape)
            mods.append(m)
        return nn.Sequential(*mods), shape
    name, args, kwargs = (e.id, [], {}) if isinstance(e, S.Name) else (e.func, e.args, e.kwargs)
    if name in ("add", "concat"):
        branches = [_call(b, shape) for b in args[0].branches]
        out = branches[0][1]
        if name == "concat":
            out = (sum(b[1][0] for b in branches), *out[1:])
        return _Merge(name, [b[0] for b in branches]), out
    m = re.fullmatch(r"([a-z]+?)(\d+(?:x\d+)*)", name)
    base, suffix = (m.group(1), tuple(int(v) for v in m.group(2).split("x"))) if m and m.group(1) in (
        "conv", "maxpool", "avgpool") else (name, None)
    a = dict(zip(SIGNATURES.get(base, ()), (_literal(x) for x in args)))
    a.update({k.name: _literal(k.value) for k in kwargs})
    if suffix is not None:
        a["k"] = suffix[0] if len(suffix) == 1 else suffix
    c, r = shape[0], len(shape) - 1
    module = _module(base, a, c, r, shape)
    with torch.no_grad():
        out = module.eval()(torch.zeros(2, *shape)).shape[1:]
    return module, tuple(out)


def _module(base: str, a: dict, c: int, r: int, shape: tuple) -> nn.Module:
    nd = lambda stem: getattr(nn, f"{stem}{max(r, 1)}d")
    if base == "conv":
        k = _per_axis(a["k"], r)
        d = _per_axis(a.get("dilation", 1), r)
        pad = _per_axis(a["pad"], r) if "pad" in a else tuple(di * (ki // 2) for ki, di in zip(k, d))
        return nd("Conv")(c, a.get("c", c), k, stride=_per_axis(a.get("stride", 1), r), padding=pad, dilation=d,
                          groups=a.get("groups", 1), bias=a.get("bias", True))
    if base in ("maxpool", "avgpool"):
        k = _per_axis(a.get("k", 2), r)
        stride = _per_axis(a["stride"], r) if "stride" in a else k
        cls = nd("MaxPool" if base == "maxpool" else "AvgPool")
        return cls(k, stride, _per_axis(a.get("pad", 0), r))
    if base in ("globalavgpool", "globalmaxpool"):
        return nd("AdaptiveAvgPool" if base == "globalavgpool" else "AdaptiveMaxPool")(1)
    if base == "adaptiveavgpool":
        return nd("AdaptiveAvgPool")(a["size"])
    if base in ("fc", "linear"):
        return nn.Linear(c, a["c"], bias=a.get("bias", True))
    if base == "flatten":
        return nn.Flatten()
    if base == "identity":
        return nn.Identity()
    if base == "dropout":
        return nn.Dropout(a.get("p", 0.5))
    if base in ("bn", "batchnorm"):
        return nd("BatchNorm")(c, eps=a.get("eps", 1e-5), momentum=a.get("momentum", 0.1))
    if base == "lrn":
        return nn.LocalResponseNorm(a.get("size", 5), alpha=a.get("alpha", 1e-4), beta=a.get("beta", 0.75),
                                    k=a.get("k", 2.0))
    if base == "layernorm":
        return nn.LayerNorm(shape, eps=a.get("eps", 1e-5))
    if base == "groupnorm":
        return nn.GroupNorm(a["groups"], c, eps=a.get("eps", 1e-5))
    if base == "leakyrelu":
        return nn.LeakyReLU(a.get("slope", 0.01))
    if base == "elu":
        return nn.ELU(a.get("alpha", 1.0))
    if base == "softmax":
        return nn.Softmax(dim=1)
    simple = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid,
              "tanh": nn.Tanh}
    return simple[base]()


def from_spec(text: str, shape: str) -> nn.Module:
    """The module a user would write by hand for the layer `text` on an input of `shape`."""
    (network,) = parse_module(f"network n : {shape} = {text}").items
    module, _ = _call(network.body, network.shape.dims)
    return module
