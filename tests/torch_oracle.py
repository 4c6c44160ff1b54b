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


class ChannelLayerNorm(nn.Module):
    """torchvision's LayerNorm2d, restated: permute to channels-last, nn.LayerNorm(C), back."""

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x):
        order = [0, *range(2, x.dim()), 1]
        back = [0, x.dim() - 1, *range(1, x.dim() - 1)]
        return self.norm(x.permute(*order)).permute(*back)


class ChannelScale(nn.Module):
    """ConvNeXt's layer scale as torchvision's CNBlock holds it: a C x 1 x ... gamma."""

    def __init__(self, channels: int, rank: int, value: float) -> None:
        super().__init__()
        self.layer_scale = nn.Parameter(torch.ones(channels, *(1,) * rank) * value)

    def forward(self, x):
        return self.layer_scale * x


class ChannelSlice(nn.Module):
    """Channels start to stop - 1."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x):
        return x.narrow(1, self.start, self.stop - self.start)


class CenterCrop(nn.Module):
    """Every spatial axis cut to `sizes`, starting at floor((I - O)/2) (archlang's documented
    offset)."""

    def __init__(self, sizes: tuple) -> None:
        super().__init__()
        self.sizes = sizes

    def forward(self, x):
        for axis, size in enumerate(self.sizes, 2):
            x = x.narrow(axis, (x.shape[axis] - size) // 2, size)
        return x


class RowDrop(nn.Module):
    """torchvision.ops.StochasticDepth, restated from its documentation."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        keep = torch.empty(size).bernoulli_(1 - self.p)
        return x * (keep / (1 - self.p) if self.p < 1 else keep)


class ToTokens(nn.Module):
    """N x C x H x W -> N x HW x C, as torchvision's ViT reshapes and permutes its patches."""

    def forward(self, x):
        return x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)


class ToGrid(nn.Module):
    def __init__(self, size) -> None:
        super().__init__()
        self.size = size

    def forward(self, x):
        return x.permute(0, 2, 1).reshape(x.shape[0], x.shape[2], *self.size)


class ClassTokenFirst(nn.Module):
    """ViT's class token, held as torchvision holds it: 1 x 1 x D."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionTable(nn.Module):
    """x + the first L rows of a learned positions x D table (torchvision holds it 1 x L x D)."""

    def __init__(self, positions: int, dim: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.zeros(1, positions, dim))

    def forward(self, x):
        return x + self.pos_embedding[:, : x.shape[1]]


class SelfAttentionMHA(nn.Module):
    """nn.MultiheadAttention over a sequence with itself, batch first, as torchvision's ViT
    calls it; causal: a mask of -inf above the diagonal."""

    def __init__(self, dim: int, heads: int, causal: bool, bias: bool, dropout: float) -> None:
        super().__init__()
        self.causal = causal
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x):
        mask = None
        if self.causal:
            n = x.shape[1]
            mask = torch.triu(torch.full((n, n), float("-inf")), 1)
        return self.attn(x, x, x, need_weights=False, attn_mask=mask)[0]


class SeparateQKV(nn.Module):
    """Attention as BERT writes it: query, key and value Linear layers, softmax(QK^T/sqrt(d))V
    per head computed by hand (a -inf mask above the diagonal when causal), an output Linear."""

    def __init__(self, dim: int, heads: int, causal: bool, bias: bool) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.query, self.key, self.value = (nn.Linear(dim, dim, bias=bias) for _ in range(3))
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x):
        n, length, dim = x.shape
        split = lambda t: t.view(n, length, self.heads, dim // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / (dim // self.heads) ** 0.5
        if self.causal:
            scores = scores + torch.triu(torch.full((length, length), float("-inf")), 1)
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, length, dim)
        return self.out(y)


class Pick(nn.Module):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, x):
        return x[:, self.index]


class Recurrent(nn.Module):
    """nn.LSTM or nn.GRU as a user writes it, batch first: the output sequence, or the last
    layer's final hidden state (h_n; both directions' side by side)."""

    def __init__(self, kind: str, input_size: int, hidden: int, layers: int, bidirectional: bool, last: bool) -> None:
        super().__init__()
        self.last, self.bidirectional = last, bidirectional
        self.rnn = getattr(nn, kind)(input_size, hidden, layers, batch_first=True, bidirectional=bidirectional)

    def forward(self, x):
        out, h = self.rnn(x)
        if isinstance(h, tuple):  # the LSTM's (h_n, c_n)
            h = h[0]
        if not self.last:
            return out
        return torch.cat([h[-2], h[-1]], dim=1) if self.bidirectional else h[-1]


class TokenMean(nn.Module):
    def forward(self, x):
        return x.mean(dim=1)


_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def oracle(op, x_shape):
    """The torch module a user would write for this op, from torch's own documentation."""
    r = len(x_shape) - 1
    name = op.name
    if name in ("tokens", "grid", "embed", "posembed", "clstoken", "attention", "token", "meantokens", "lstm", "gru"):
        fields = {f: getattr(op, f) for f in op.__dataclass_fields__}
        if name in ("lstm", "gru"):
            fields["c"] = fields["hidden"]
        return _sequence_module(name, fields, x_shape)
    if name in ("conv", "dwconv"):
        return _rank_nd("Conv", r)(op.in_channels, op.out_channels, op.kernel_size, op.stride, op.padding,
                                   op.dilation, op.groups, op.bias)
    if name == "convtranspose":
        return _rank_nd("ConvTranspose", r)(op.in_channels, op.out_channels, op.kernel_size, op.stride, op.padding,
                                            op.output_padding, op.groups, op.bias, op.dilation)
    if name == "maxpool":
        return _rank_nd("MaxPool", r)(op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode)
    if name == "avgpool":
        return _rank_nd("AvgPool", r)(op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode,
                                      count_include_pad=op.count_include_pad)
    if name == "upsample":
        mode = _LINEAR_MODES[r] if op.linear else "nearest"
        return nn.Upsample(size=op.output_size, mode=mode, align_corners=op.align_corners if op.linear else None)
    if name == "layernorm2d":
        return ChannelLayerNorm(op.num_channels, op.eps)
    if name == "layerscale":
        return ChannelScale(op.num_channels, r, op.init_value)
    if name == "stochasticdepth":
        return RowDrop(op.p, "batch" if op.batch else "row")
    if name == "crop":
        return CenterCrop(op.sizes)
    if name == "slice":
        return ChannelSlice(op.start, op.stop)
    if name == "shuffle":
        return nn.ChannelShuffle(op.groups)
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
    if name == "logsoftmax":
        return nn.LogSoftmax(dim=1)
    simple = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
              "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid}
    return simple[name]()


def _sequence_module(name: str, a: dict, shape: tuple) -> nn.Module:
    """The sequence ops, from what docs/language.md says of them (`shape`: the input's, [L, D]
    for a sequence, [L] for token indices, [C, *spatial] for a map)."""
    if name == "tokens":
        return ToTokens()
    if name == "grid":
        h = a.get("h", a.get("size", (0,))[0] if "size" in a else 0)
        size = a["size"] if "size" in a else (h, a.get("w") or h)
        return ToGrid(size)
    if name == "embed":
        return nn.Embedding(a["vocab"], a.get("c", a.get("dim")))
    if name == "posembed":
        return PositionTable(a.get("positions") or shape[0], shape[-1])
    if name == "clstoken":
        return ClassTokenFirst(shape[-1])
    if name == "attention":
        if a.get("separate", False):
            return SeparateQKV(shape[-1], a["heads"], a.get("causal", False), a.get("bias", True))
        return SelfAttentionMHA(shape[-1], a["heads"], a.get("causal", False), a.get("bias", True), a.get("dropout", 0.0))
    if name == "token":
        return Pick(a.get("index", 0))
    if name in ("lstm", "gru"):
        return Recurrent(name.upper(), shape[-1], a["c"], a.get("layers", 1), a.get("bidirectional", False),
                         a.get("last", False))
    return TokenMean()




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
        elif node.op.name == "mul":
            out = inputs[0]
            for other in inputs[1:]:
                out = out * other
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
        if self.kind == "mul":  # broadcasting, as torch's * does
            out = outs[0]
            for other in outs[1:]:
                out = out * other
            return out
        return torch.cat(outs, dim=1) if self.kind == "concat" else sum(outs[1:], outs[0])


# archlang's documented arguments, in order, with their defaults (docs/language.md)
SIGNATURES = {
    "conv": ("c", "k", "stride", "pad", "dilation", "groups", "bias"),
    "dwconv": ("c", "k", "stride", "pad", "dilation", "bias"),
    "convtranspose": ("c", "k", "stride", "pad", "output_padding", "dilation", "groups", "bias"),
    "deconv": ("c", "k", "stride", "pad", "output_padding", "dilation", "groups", "bias"),
    "upsample": ("scale", "size", "linear", "align_corners"),
    "maxpool": ("k", "stride", "pad", "ceil_mode"), "avgpool": ("k", "stride", "pad", "ceil_mode", "count_include_pad"),
    "layernorm2d": ("eps",), "layerscale": ("init",), "stochasticdepth": ("p", "batch"), "crop": ("size",),
    "slice": ("start", "stop"), "shuffle": ("groups",),
    "adaptiveavgpool": ("size",), "fc": ("c", "bias"), "linear": ("c", "bias"),
    "dropout": ("p",), "bn": ("eps", "momentum"), "batchnorm": ("eps", "momentum"),
    "lrn": ("size", "alpha", "beta", "k"), "layernorm": ("eps",), "groupnorm": ("groups", "eps"),
    "leakyrelu": ("slope",), "elu": ("alpha",), "gelu": ("tanh",),
    "grid": ("h", "w"), "embed": ("vocab", "c"), "posembed": ("positions",),
    "attention": ("heads", "causal", "bias", "dropout", "separate"), "token": ("index",),
    "lstm": ("c", "layers", "bidirectional", "last"), "gru": ("c", "layers", "bidirectional", "last"),
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
    if name in ("add", "concat", "mul"):
        branches = [_call(b, shape) for b in args[0].branches]
        out = branches[0][1]
        if name == "concat":
            out = (sum(b[1][0] for b in branches), *out[1:])
        if name == "mul":
            out = tuple(max(sizes) for sizes in zip(*(b[1] for b in branches)))
        return _Merge(name, [b[0] for b in branches]), out
    m = re.fullmatch(r"([a-z]+?)(\d+(?:x\d+)*)", name)
    base, suffix = (m.group(1), tuple(int(v) for v in m.group(2).split("x"))) if m and m.group(1) in (
        "conv", "dwconv", "convtranspose", "deconv", "maxpool", "avgpool") else (name, None)
    a = dict(zip(SIGNATURES.get(base, ()), (_literal(x) for x in args)))
    a.update({k.name: _literal(k.value) for k in kwargs})
    if suffix is not None:
        a["k"] = suffix[0] if len(suffix) == 1 else suffix
    layout = _LAYOUT.get(id(shape), "map")
    if base in ("tokens", "grid", "embed", "posembed", "clstoken", "attention", "token", "meantokens", "lstm", "gru"):
        module = _sequence_module(base, a, shape)
    elif layout != "map":
        module = _sequence_layer(base, a, shape)
    else:
        c, r = shape[0], len(shape) - 1
        module = _module(base, a, c, r, shape)
    x = torch.zeros(2, *shape, dtype=torch.long) if layout == "ids" else torch.zeros(2, *shape)
    with torch.no_grad():
        out = tuple(module.eval()(x).shape[1:])
    ends = ("grid", "token", "meantokens", "flatten")  # a sequence in, a map or vector out
    new_layout = "seq" if base in ("tokens", "embed") or (layout == "seq" and base not in ends and not (
        base in ("lstm", "gru") and a.get("last", False))) else "map"
    out = _Shape(out)
    _LAYOUT[id(out)] = new_layout
    return module, out


class _Shape(tuple):
    """A shape the layout table can key (a tuple subclass: its id is stable while it lives)."""


_LAYOUT: dict[int, str] = {}  # id of a shape tuple -> "map", "seq" or "ids"



def _sequence_layer(base: str, a: dict, shape: tuple) -> nn.Module:
    """A per-token layer on a sequence [L, D]: what torch does on the last axis."""
    d = shape[-1]
    if base in ("fc", "linear"):
        return nn.Linear(d, a["c"], bias=a.get("bias", True))
    if base == "layernorm":
        return nn.LayerNorm(d, eps=a.get("eps", 1e-5))
    if base == "softmax":
        return nn.Softmax(dim=-1)
    if base == "logsoftmax":
        return nn.LogSoftmax(dim=-1)
    if base == "gelu":
        return nn.GELU(approximate="tanh" if a.get("tanh", False) else "none")
    return _module(base, a, d, 0, shape)


def _module(base: str, a: dict, c: int, r: int, shape: tuple) -> nn.Module:
    nd = lambda stem: getattr(nn, f"{stem}{max(r, 1)}d")
    if base == "conv":
        k = _per_axis(a["k"], r)
        d = _per_axis(a.get("dilation", 1), r)
        pad = _per_axis(a["pad"], r) if "pad" in a else tuple(di * (ki // 2) for ki, di in zip(k, d))
        return nd("Conv")(c, a.get("c", c), k, stride=_per_axis(a.get("stride", 1), r), padding=pad, dilation=d,
                          groups=a.get("groups", 1), bias=a.get("bias", True))
    if base == "dwconv":  # conv with one group per input channel; c a multiple of C
        k = _per_axis(a["k"], r)
        d = _per_axis(a.get("dilation", 1), r)
        pad = _per_axis(a["pad"], r) if "pad" in a else tuple(di * (ki // 2) for ki, di in zip(k, d))
        return nd("Conv")(c, a.get("c", c), k, stride=_per_axis(a.get("stride", 1), r), padding=pad, dilation=d,
                          groups=c, bias=a.get("bias", True))
    if base in ("convtranspose", "deconv"):
        return nd("ConvTranspose")(c, a.get("c", c), _per_axis(a["k"], r), stride=_per_axis(a.get("stride", 1), r),
                                   padding=_per_axis(a.get("pad", 0), r),
                                   output_padding=_per_axis(a.get("output_padding", 0), r),
                                   groups=a.get("groups", 1), bias=a.get("bias", True),
                                   dilation=_per_axis(a.get("dilation", 1), r))
    if base == "upsample":
        mode = _LINEAR_MODES[r] if a.get("linear", False) else "nearest"
        corners = a.get("align_corners", False) if mode != "nearest" else None
        if "scale" in a:
            return nn.Upsample(scale_factor=tuple(float(f) for f in _per_axis(a["scale"], r)), mode=mode,
                               align_corners=corners)
        return nn.Upsample(size=_per_axis(a["size"], r), mode=mode, align_corners=corners)
    if base in ("maxpool", "avgpool"):
        k = _per_axis(a.get("k", 2), r)
        stride = _per_axis(a["stride"], r) if "stride" in a else k
        pad = _per_axis(a.get("pad", 0), r)
        if base == "maxpool":
            return nd("MaxPool")(k, stride, pad, ceil_mode=a.get("ceil_mode", False))
        return nd("AvgPool")(k, stride, pad, ceil_mode=a.get("ceil_mode", False),
                             count_include_pad=a.get("count_include_pad", True))
    if base == "layernorm2d":
        return ChannelLayerNorm(c, eps=a.get("eps", 1e-5))
    if base == "layerscale":
        return ChannelScale(c, r, a.get("init", 1e-6))
    if base == "stochasticdepth":
        return RowDrop(a["p"], "batch" if a.get("batch", False) else "row")
    if base == "crop":
        return CenterCrop(_per_axis(a["size"], r))
    if base == "slice":
        return ChannelSlice(a["start"], a["stop"])
    if base == "shuffle":
        return nn.ChannelShuffle(a["groups"])
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
    if base == "logsoftmax":
        return nn.LogSoftmax(dim=1)
    simple = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid,
              "tanh": nn.Tanh, "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid}
    return simple[base]()


def from_spec(text: str, shape: str) -> nn.Module:
    """The module a user would write by hand for the layer `text` on an input of `shape`."""
    (network,) = parse_module(f"network n : {shape} = {text}").items
    dims = _Shape(network.shape.dims)
    _LAYOUT[id(dims)] = network.shape.layout
    module, _ = _call(network.body, dims)
    return module
