"""Import from PyTorch, the module rules: how each leaf module a forward calls becomes
archlang layers (torch.nn's layers, archlang's own, torchvision's LayerNorm2d and
StochasticDepth, nn.MultiheadAttention as self-attention), with its attributes read as the
op's arguments and its tensors as the layer's weights (`torch_capture` fills them in by the
op's state names). Modules on a map held channels last (ConvNeXt's blocks) have rules of
their own (`channels_last_layer`).
"""

from __future__ import annotations

from .flat import FlatGraph

__all__ = ["module_layer", "channels_last_layer", "pair", "LEAVES", "read_classes", "unread_class", "recurrent_part",
           "recurrent_layer"]


def pair(v) -> tuple[int, ...] | int:
    return tuple(v) if isinstance(v, (tuple, list)) else v


def channels_last_layer(fg: FlatGraph, out: str, m, x: str, where: str) -> str | None:
    """A module on a map held channels last (x.permute(0, 2, 3, 1)): LayerNorm over the channels
    is layernorm2d, Linear is a 1x1 convolution, activations act as they would; the map keeps
    its channels-first type, and the permute back is the value itself."""
    from torch import nn

    t = fg.types[x]
    if isinstance(m, nn.LayerNorm) and tuple(m.normalized_shape) == (t.channels,) and m.elementwise_affine:
        fg.add(out, "layernorm2d", [x], where=where, eps=float(m.eps))
    elif isinstance(m, nn.Linear):
        fg.add(out, "conv", [x], where=where, c=m.out_features, k=1, bias=m.bias is not None)
        layer = fg.layers[-1]  # O x I -> O x I x 1 x 1
        layer.weights = (m.weight.reshape(*m.weight.shape, *(1,) * t.rank), m.bias)
        return None
    elif type(m).__name__ in _ACTIVATIONS and type(m).__name__ not in ("Softmax", "LogSoftmax"):
        call, extra = _ACTIVATIONS[type(m).__name__](m, t)
        fg.add(out, call, [x], where=where, **extra)
    elif isinstance(m, (nn.Dropout, nn.Identity)):
        fg.same(out, x) if isinstance(m, nn.Identity) else fg.add(out, "dropout", [x], where=where, p=float(m.p))
    else:
        return f"{type(m).__name__} on a map held channels last"
    return None


def module_layer(fg: FlatGraph, out: str, m, x: str, where: str, node=None) -> str | None:
    """The layer for one leaf module, or the reason it has none."""
    import torch.nn as nn

    t = fg.types[x]
    kind = type(m).__name__
    own = _own_module(fg, out, m, x, where)
    if own is not None:
        return own or None
    if isinstance(m, (nn.LSTM, nn.GRU)):
        if not m.batch_first or not t.is_sequence or m.proj_size if isinstance(m, nn.LSTM) else False:
            return "a recurrent layer on time-first data, or with projections"
        fg.recurrent[out] = ("output", m, x)  # (output, h_n) or (output, (h_n, c_n)): read by [i] below
        return None
    if isinstance(m, nn.MultiheadAttention):
        return _multihead(fg, out, m, x, where, node)
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        if m.padding_mode != "zeros":
            return f"padding_mode={m.padding_mode!r}"
        pad = m.padding
        if pad == "valid":
            pad = 0
        elif pad == "same":
            return "padding='same'"
        fg.add(out, "conv", [x], where=where, c=m.out_channels,
               k=tuple(m.kernel_size), stride=tuple(m.stride), pad=tuple(pad), dilation=tuple(m.dilation),
               groups=m.groups, bias=m.bias is not None)
    elif isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        fg.add(out, "convtranspose", [x], where=where, c=m.out_channels,
               k=tuple(m.kernel_size), stride=tuple(m.stride), pad=tuple(m.padding),
               output_padding=tuple(m.output_padding), dilation=tuple(m.dilation), groups=m.groups,
               bias=m.bias is not None)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        if not m.affine or not m.track_running_stats or m.momentum is None:
            return "batch norm without affine weights, running statistics or a momentum"
        fg.add(out, "bn", [x], where=where, eps=float(m.eps), momentum=float(m.momentum),)
    elif isinstance(m, nn.Linear):
        owner = fg.owners.get(id(m.weight))
        tie = None
        if owner is not None:  # the weight of an earlier layer (GPT-2's output layer and its embedding)
            from ..ops.args import LayerOf

            tie = LayerOf(owner, next(l.op for l in fg.layers if l.name == owner))
        fg.add(out, "fc", [x], where=where, c=m.out_features, bias=m.bias is not None, tie=tie)
    elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        if pair(m.dilation) not in (1, (1,) * t.rank) or m.return_indices:
            return "dilated max pooling or pooling that returns indices"
        fg.add(out, "maxpool", [x], where=where, k=pair(m.kernel_size), stride=pair(m.stride),
               pad=pair(m.padding), ceil_mode=bool(m.ceil_mode))
    elif isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        if getattr(m, "divisor_override", None):
            return "divisor_override"
        fg.add(out, "avgpool", [x], where=where, k=pair(m.kernel_size), stride=pair(m.stride),
               pad=pair(m.padding), ceil_mode=bool(m.ceil_mode), count_include_pad=bool(m.count_include_pad))
    elif isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                        nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        size = pair(m.output_size)
        sizes = size if isinstance(size, tuple) else (size,) * t.rank
        if None in sizes:
            return "an adaptive pool that keeps an axis (output_size None)"
        if all(s == 1 for s in sizes):
            fg.add(out, "globalavgpool" if "Avg" in kind else "globalmaxpool", [x], where=where)
        elif "Avg" in kind:
            fg.add(out, "adaptiveavgpool", [x], where=where, size=size)
        else:
            return "adaptive max pooling to a size other than 1"
    elif isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            return f"flatten from dim {m.start_dim} to {m.end_dim}"
        fg.add(out, "flatten", [x], where=where)
    elif isinstance(m, nn.Dropout):
        fg.add(out, "dropout", [x], where=where, p=float(m.p))
    elif isinstance(m, nn.Identity):
        fg.same(out, x)
    elif isinstance(m, nn.LocalResponseNorm):
        fg.add(out, "lrn", [x], where=where, size=m.size, alpha=float(m.alpha), beta=float(m.beta), k=float(m.k))
    elif isinstance(m, nn.GroupNorm):
        if not m.affine:
            return "group norm without affine weights"
        fg.add(out, "groupnorm", [x], where=where, groups=m.num_groups,
               eps=float(m.eps))
    elif isinstance(m, nn.LayerNorm):
        if not m.elementwise_affine or m.bias is None:
            return "layer norm without affine weights"
        fg.add(out, "layernorm", [x], where=where, eps=float(m.eps))
    elif isinstance(m, nn.Upsample):
        modes = {"nearest": False, "linear": True, "bilinear": True, "trilinear": True}
        if m.mode not in modes:
            return f"mode={m.mode!r}"
        scale = m.scale_factor
        if scale is not None:
            scales = scale if isinstance(scale, tuple) else (scale,)
            if any(float(s) != int(s) for s in scales):
                return "a fractional scale factor"
            scale = tuple(int(s) for s in scales) if isinstance(scale, tuple) else int(scale)
        fg.add(out, "upsample", [x], where=where, scale=scale, size=pair(m.size) if m.size is not None else None,
               linear=modes[m.mode], align_corners=bool(m.align_corners) if modes[m.mode] else None)
    elif kind in _ACTIVATIONS:
        call, extra = _ACTIVATIONS[kind](m, t)
        if call is None:
            return extra
        fg.add(out, call, [x], where=where, **extra)
    else:
        return f"the module class {kind}"
    return None


def _own_module(fg: FlatGraph, out: str, m, x: str, where: str) -> str | None:
    """archlang's own module classes (what torch.nn lacks) and torch.nn's sequence modules:
    "" when read, a reason when not, None when `m` is none of them."""
    from torch import nn

    from ..ops import modules as own

    if isinstance(m, own.LayerNorm2d) or isinstance(m, nn.LayerNorm) and type(m).__name__ == "LayerNorm2d":
        # archlang's, and torchvision's of the same name and meaning (ConvNeXt)
        fg.add(out, "layernorm2d", [x], where=where, eps=float(m.eps))
    elif type(m).__name__ == "StochasticDepth" and hasattr(m, "p") and getattr(m, "mode", "row") in ("row", "batch"):
        fg.add(out, "stochasticdepth", [x], where=where, p=float(m.p), batch=m.mode == "batch")  # torchvision's
    elif isinstance(m, own.LayerScale):
        fg.add(out, "layerscale", [x], where=where, init=float(m.init_value))
    elif isinstance(m, own.SelfAttention):
        fg.add(out, "attention", [x], where=where, heads=m.heads, causal=bool(m.causal),
               bias=m.out_proj_bias is not None, dropout=float(m.dropout), separate=bool(m.separate))
    elif isinstance(m, own.PositionEmbedding):
        fg.add(out, "posembed", [x], where=where, positions=int(m.weight.shape[0]))
    elif isinstance(m, own.ClassToken):
        fg.add(out, "clstoken", [x], where=where)
    elif isinstance(m, (own.SequenceLSTM, own.SequenceGRU)):
        fg.add(out, "lstm" if isinstance(m, own.SequenceLSTM) else "gru", [x], where=where, c=m.hidden_size,
               layers=m.num_layers, bidirectional=bool(m.bidirectional), last=bool(m.last))
    elif isinstance(m, nn.Embedding):
        if m.padding_idx is not None or m.max_norm is not None:
            return "an embedding with padding_idx or max_norm"
        fg.add(out, "embed", [x], where=where, vocab=m.num_embeddings, c=m.embedding_dim)
    elif isinstance(m, nn.ChannelShuffle):
        fg.add(out, "shuffle", [x], where=where, groups=m.groups)
    else:
        return None
    return ""


def _multihead(fg: FlatGraph, out: str, m, x: str, where: str, node) -> str | None:
    """nn.MultiheadAttention as self-attention (query, key and value one sequence, batch first,
    no mask): archlang's attention; its (output, weights) pair is read with [0]."""
    args = list(node.args) + [node.kwargs.get(k) for k in ("key", "value")][len(node.args) - 1:]
    if len({getattr(a, "name", a) for a in args[:3]}) != 1 or not m.batch_first or not m._qkv_same_embed_dim:
        return "attention other than self-attention on batch-first sequences"
    if any(node.kwargs.get(k) is not None for k in ("attn_mask", "key_padding_mask")) or m.bias_k is not None:
        return "attention with a mask or extra key/value biases"
    fg.add(out, "attention", [x], where=where, heads=m.num_heads, bias=m.in_proj_bias is not None,
           dropout=float(m.dropout))
    layer = fg.layers[-1]
    tensors = {"in_proj_weight": m.in_proj_weight, "in_proj_bias": m.in_proj_bias,
               "out_proj_weight": m.out_proj.weight, "out_proj_bias": m.out_proj.bias}
    layer.weights = tuple(tensors[t.name] for t in layer.op.tensors())
    fg.pairs.add(out)  # a tuple: element 0 is the output
    return None


LEAVES = ("LayerNorm2d", "StochasticDepth", "LayerScale", "SelfAttention", "PositionEmbedding", "ClassToken", "SequenceLSTM",
          "SequenceGRU")


def _softmax(call):
    def rule(m, t):
        dim = m.dim
        if dim == 1 and not t.tokens or dim in (-1, 2) and t.is_sequence or dim == -1 and t.rank == 0 and not t.tokens:
            return call, {}
        return None, f"{call} over dim {dim}"
    return rule


_ACTIVATIONS = {
    "ReLU": lambda m, t: ("relu", {}),
    "ReLU6": lambda m, t: ("relu6", {}),
    "Sigmoid": lambda m, t: ("sigmoid", {}),
    "Tanh": lambda m, t: ("tanh", {}),
    "SiLU": lambda m, t: ("silu", {}),
    "Hardswish": lambda m, t: ("hardswish", {}),
    "Hardsigmoid": lambda m, t: ("hardsigmoid", {}),
    "GELU": lambda m, t: ("gelu", {"tanh": m.approximate == "tanh"}),
    "LeakyReLU": lambda m, t: ("leakyrelu", {"slope": float(m.negative_slope)}),
    "ELU": lambda m, t: ("elu", {"alpha": float(m.alpha)}),
    "Softmax": _softmax("softmax"),
    "LogSoftmax": _softmax("logsoftmax"),
}



_READ = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "BatchNorm1d",
         "BatchNorm2d", "BatchNorm3d", "Linear", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d",
         "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
         "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Flatten", "Dropout", "Identity", "LocalResponseNorm", "GroupNorm",
         "LayerNorm", "Upsample", "Embedding", "ChannelShuffle", "MultiheadAttention", *LEAVES, *_ACTIVATIONS)


def read_classes() -> tuple:
    from torch import nn

    return tuple(getattr(nn, name) for name in _READ if hasattr(nn, name))


def unread_class(traced, node) -> str:
    """After an unreadable node its users have no type; a module class archlang never reads is
    still worth reporting."""
    if node.op == "call_module":
        kind = type(traced.get_submodule(node.target)).__name__
        return "" if kind in _READ else kind
    return ""


def recurrent_part(fg: FlatGraph, out: str, of: str, index, where: str) -> str | None:
    """One part of an nn.LSTM or nn.GRU result: the output sequence ([0]) is the layer; the
    final states ([1], for an LSTM [1][0]) and the last layer's ([-1], both directions'
    [-2] and [-1]) are the layer with last=true."""
    part, m, x = fg.recurrent[of][:3]
    if part == "output" and index == 0:
        return recurrent_layer(fg, out, m, x, False, where)
    if part == "output" and index == 1:  # a GRU's h_n; an LSTM's (h_n, c_n)
        fg.recurrent[out] = ("states" if type(m).__name__ == "GRU" else "states_and_cells", m, x)
        return ""
    if part == "states_and_cells" and index in (0, 1):
        if index == 0:
            fg.recurrent[out] = ("states", m, x)
        return ""  # the cell states (c_n): no layer gives them
    if part == "states" and isinstance(index, int):
        dirs = 2 if m.bidirectional else 1
        k = index % (m.num_layers * dirs)
        if k < (m.num_layers - 1) * dirs:
            return "the states of a layer below the last"
        if dirs == 1:
            return recurrent_layer(fg, out, m, x, True, where)
        fg.recurrent[out] = ("state", m, x, index - m.num_layers * dirs if index >= 0 else index)
        return ""
    return "a part of a recurrent layer's result archlang has no layer for"


def recurrent_layer(fg: FlatGraph, out: str, m, x: str, last: bool, where: str) -> None:
    fg.add(out, "lstm" if type(m).__name__ == "LSTM" else "gru", [x], where=where, c=m.hidden_size,
           layers=m.num_layers, bidirectional=bool(m.bidirectional), last=last)
    layer = fg.layers[-1]
    layer.weights = tuple(getattr(m, t.name) for t in layer.op.tensors())
    return None
