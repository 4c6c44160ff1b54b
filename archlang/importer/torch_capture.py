"""Import from PyTorch: an nn.Module -> a FlatGraph, captured with torch.fx.

torch.fx traces the forward symbolically (proxies, no tensor is computed), so nothing runs on
real data and a forward whose control flow depends on tensor values fails in the capture step,
which says so. Each call of a leaf module, function or tensor method becomes an archlang layer
(`Layer`) with its arguments read from the module's attributes; the weights come from the
module's own tensors, in the op's state order. Containers (Sequential, ModuleList, a user's
block classes) are walked through and leave their names on the layers (`layer1.0.conv1`)."""

from __future__ import annotations

import operator
from typing import Any

from ..ir import TensorType
from .flat import FlatGraph, ModelImportError, Unsupported

__all__ = ["capture_torch"]


def _pair(v) -> tuple[int, ...] | int:
    return tuple(v) if isinstance(v, (tuple, list)) else v


def _module_call(fg: FlatGraph, out: str, m, x: str, where: str) -> str | None:
    """The layer for one leaf module, or the reason it has none."""
    import torch.nn as nn

    t = fg.types[x]
    kind = type(m).__name__
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        if m.padding_mode != "zeros":
            return f"padding_mode={m.padding_mode!r}"
        pad = m.padding
        if pad == "valid":
            pad = 0
        elif pad == "same":
            return "padding='same'"
        fg.add(out, "conv", [x], where=where, weights=_tensors(m, "weight", "bias"), c=m.out_channels,
               k=tuple(m.kernel_size), stride=tuple(m.stride), pad=tuple(pad), dilation=tuple(m.dilation),
               groups=m.groups, bias=m.bias is not None)
    elif isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        fg.add(out, "convtranspose", [x], where=where, weights=_tensors(m, "weight", "bias"), c=m.out_channels,
               k=tuple(m.kernel_size), stride=tuple(m.stride), pad=tuple(m.padding),
               output_padding=tuple(m.output_padding), dilation=tuple(m.dilation), groups=m.groups,
               bias=m.bias is not None)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        if not m.affine or not m.track_running_stats or m.momentum is None:
            return "batch norm without affine weights, running statistics or a momentum"
        fg.add(out, "bn", [x], where=where, eps=float(m.eps), momentum=float(m.momentum),
               weights=_tensors(m, "weight", "bias", "running_mean", "running_var", "num_batches_tracked"))
    elif isinstance(m, nn.Linear):
        fg.add(out, "fc", [x], where=where, weights=_tensors(m, "weight", "bias"), c=m.out_features,
               bias=m.bias is not None)
    elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        if _pair(m.dilation) not in (1, (1,) * t.rank) or m.return_indices:
            return "dilated max pooling or pooling that returns indices"
        fg.add(out, "maxpool", [x], where=where, k=_pair(m.kernel_size), stride=_pair(m.stride),
               pad=_pair(m.padding), ceil_mode=bool(m.ceil_mode))
    elif isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        if getattr(m, "divisor_override", None):
            return "divisor_override"
        fg.add(out, "avgpool", [x], where=where, k=_pair(m.kernel_size), stride=_pair(m.stride),
               pad=_pair(m.padding), ceil_mode=bool(m.ceil_mode), count_include_pad=bool(m.count_include_pad))
    elif isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                        nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        size = _pair(m.output_size)
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
        fg.add(out, "groupnorm", [x], where=where, weights=_tensors(m, "weight", "bias"), groups=m.num_groups,
               eps=float(m.eps))
    elif isinstance(m, nn.LayerNorm):
        if not m.elementwise_affine or m.bias is None:
            return "layer norm without affine weights"
        fg.add(out, "layernorm", [x], where=where, weights=_tensors(m, "weight", "bias"), eps=float(m.eps))
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
        fg.add(out, "upsample", [x], where=where, scale=scale, size=_pair(m.size) if m.size is not None else None,
               linear=modes[m.mode], align_corners=bool(m.align_corners) if modes[m.mode] else None)
    elif kind in _ACTIVATIONS:
        call, extra = _ACTIVATIONS[kind](m, t)
        if call is None:
            return extra
        fg.add(out, call, [x], where=where, **extra)
    else:
        return f"the module class {kind}"
    return None


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


def _tensors(m, *names: str) -> tuple[Any, ...]:
    return tuple(getattr(m, n, None) for n in names)


def _function_call(fg: FlatGraph, node, value, where: str) -> str | None:
    """The layer for a call_function or call_method node, or the reason it has none."""
    import torch
    import torch.nn.functional as F

    target = node.target
    args = list(node.args)
    kwargs = dict(node.kwargs)
    tensors = [a for a in args if hasattr(a, "op")]
    out = node.name
    ins = [value(a) for a in tensors]
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    if target in (operator.add, operator.iadd, torch.add) or name in ("add", "add_") and node.op == "call_method":
        if len(tensors) != 2 or kwargs.get("alpha", 1) != 1:
            return "an addition of a constant"
        fg.add(out, "add", ins, where=where)
    elif target in (operator.mul, operator.imul, torch.mul) or name in ("mul", "mul_") and node.op == "call_method":
        if len(tensors) != 2:
            return "a multiplication by a constant"
        fg.add(out, "mul", ins, where=where)
    elif target is torch.cat or target is torch.concat:
        items = args[0] if args else kwargs.get("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if dim != 1:
            return f"concatenation along dim {dim}"
        fg.add(out, "concat", [value(a) for a in items], where=where)
    elif target is torch.flatten or name == "flatten" and node.op == "call_method":
        start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
        end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
        if start != 1 or end != -1:
            return f"flatten from dim {start} to {end}"
        fg.add(out, "flatten", ins[:1], where=where)
    elif node.op == "call_method" and name in ("view", "reshape") and _is_batch_flatten(args[1:]):
        fg.add(out, "flatten", ins[:1], where=where)
    elif node.op == "call_method" and name == "mean" and _spatial_mean(args, kwargs, fg.types[ins[0]]):
        fg.add(out + "_pool", "globalavgpool", ins[:1], where=where)
        fg.add(out, "flatten", [out + "_pool"], where=where)
    elif target in (torch.relu, F.relu) or name in ("relu", "relu_") and node.op == "call_method":
        fg.add(out, "relu", ins[:1], where=where)
    elif target in (torch.sigmoid, F.sigmoid) or name == "sigmoid" and node.op == "call_method":
        fg.add(out, "sigmoid", ins[:1], where=where)
    elif target in (torch.tanh, F.tanh):
        fg.add(out, "tanh", ins[:1], where=where)
    elif target in (F.relu6, F.silu, F.hardswish, F.hardsigmoid):
        fg.add(out, name.rstrip("_"), ins[:1], where=where)
    elif target is F.gelu:
        fg.add(out, "gelu", ins[:1], where=where, tanh=kwargs.get("approximate", "none") == "tanh")
    elif target is F.dropout:
        fg.add(out, "dropout", ins[:1], where=where, p=float(args[1] if len(args) > 1 else kwargs.get("p", 0.5)))
    elif target in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d):
        size = args[1] if len(args) > 1 else kwargs.get("output_size")
        sizes = size if isinstance(size, (tuple, list)) else (size,)
        if all(s == 1 for s in sizes):
            fg.add(out, "globalavgpool", ins[:1], where=where)
        else:
            fg.add(out, "adaptiveavgpool", ins[:1], where=where, size=_pair(size))
    elif target in (F.max_pool1d, F.max_pool2d, F.max_pool3d):
        k = args[1] if len(args) > 1 else kwargs["kernel_size"]
        stride = args[2] if len(args) > 2 else kwargs.get("stride")
        fg.add(out, "maxpool", ins[:1], where=where, k=_pair(k), stride=_pair(stride) if stride else None,
               pad=_pair(args[3] if len(args) > 3 else kwargs.get("padding", 0)),
               ceil_mode=bool(kwargs.get("ceil_mode", False)))
    elif target in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d):
        k = args[1] if len(args) > 1 else kwargs["kernel_size"]
        stride = args[2] if len(args) > 2 else kwargs.get("stride")
        fg.add(out, "avgpool", ins[:1], where=where, k=_pair(k), stride=_pair(stride) if stride else None,
               pad=_pair(args[3] if len(args) > 3 else kwargs.get("padding", 0)),
               ceil_mode=bool(kwargs.get("ceil_mode", False)),
               count_include_pad=bool(kwargs.get("count_include_pad", True)))
    elif node.op == "call_method" and name == "size":
        return ""  # read by a view/reshape, handled there
    else:
        return f"{'the method .' if node.op == 'call_method' else ''}{_target_name(target)}"
    return None


def _target_name(target) -> str:
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", "") or ""
    return f"{module}.{getattr(target, '__name__', target)}".lstrip(".")


def _is_batch_flatten(shape: list) -> bool:
    """`x.view(x.size(0), -1)`, `x.reshape(-1, n)`-free batch flattens: (batch, -1)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = list(shape[0])
    if len(shape) != 2 or shape[1] != -1:
        return False
    first = shape[0]
    return hasattr(first, "op") and first.op == "call_method" and first.target == "size" and first.args[1:] in ((0,), ())


def _spatial_mean(args, kwargs, t: TensorType) -> bool:
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    keep = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    return not keep and t.rank > 0 and sorted(d % (t.rank + 2) for d in dims) == list(range(2, t.rank + 2))


def capture_torch(module, input_shapes: dict[str, TensorType], name: str) -> FlatGraph:
    """The module as a FlatGraph; its forward's inputs take `input_shapes` in order."""
    import torch
    from torch import fx

    origin = type(module).__name__
    try:
        traced = fx.symbolic_trace(module)
    except fx.proxy.TraceError as err:
        raise ModelImportError(
            f"{origin}: the forward has data-dependent control flow, which capturing with torch.fx cannot follow: "
            f"{err}",
            hint="write the branch the model takes as separate modules (or an `if` on a constructor argument), "
            "or export the model to ONNX for the inputs you use and import that",
        ) from None
    except Exception as err:  # anything else the forward does that tracing cannot: named as the capture step's
        raise ModelImportError(
            f"{origin}: capturing the forward with torch.fx failed: {type(err).__name__}: {err}",
            hint="the forward must be traceable by torch.fx.symbolic_trace (no tensor-dependent Python)",
        ) from None
    fg = FlatGraph(name, origin)
    fg.classes = {path: type(m).__name__ for path, m in module.named_modules() if path}
    missing: list[Unsupported] = []
    placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(input_shapes):
        raise ModelImportError(
            f"{origin}: the forward takes {len(placeholders)} input{'s' if len(placeholders) != 1 else ''} "
            f"but {len(input_shapes)} shape{'s were' if len(input_shapes) != 1 else ' was'} given",
            hint="give one input shape per argument of forward",
        )
    readable = None
    nodes = list(traced.graph.nodes)
    counted = 0

    def value(n) -> str:
        return fg.value(n.name)

    for node in nodes:
        if node.op == "placeholder":
            shape = input_shapes[list(input_shapes)[placeholders.index(node)]]
            fg.add_input(node.name, shape)
            continue
        if node.op == "output":
            result = node.args[0]
            outs = result if isinstance(result, (tuple, list)) else (result,)
            fg.outputs = [value(o) for o in outs]
            continue
        if node.op == "get_attr":
            missing.append(Unsupported(node.target, "a tensor attribute read in forward"))
            continue
        counted += 1
        if missing:
            # after an unreadable node its users cannot be typed: list what else is unsupported
            kind = _classify(traced, node)
            if kind:
                missing.append(Unsupported(_where(node), kind, f"the module class {kind}"))
            continue
        where = _where(node)
        try:
            if node.op == "call_module":
                m = traced.get_submodule(node.target)
                reason = _module_call(fg, node.name, m, value(node.args[0]), where)
                if reason is None and fg.layers and fg.layers[-1].name == node.name:
                    fg.layers[-1].source = node.target
                kind = type(m).__name__
            else:
                before = len(fg.layers)
                reason = _function_call(fg, node, value, where)
                kind = _target_name(node.target)
                for layer in fg.layers[before:]:
                    layer.source = ""  # a function has no module path: its block is its neighbours'
        except ModelImportError:
            raise
        except (KeyError, IndexError, TypeError, AttributeError) as err:
            reason = f"its arguments ({type(err).__name__}: {err})"
            kind = _target_name(node.target)
        if reason:
            if readable is None:
                readable = counted - 1
            missing.append(Unsupported(where, kind, reason))
    if missing:
        raise fg.unsupported_error(missing, counted, readable or 0, "operation")
    for layer in fg.layers:
        if layer.weights is not None:
            layer.weights = tuple(w.detach() if w is not None and isinstance(w, torch.Tensor) else w
                                  for w in layer.weights)
    return fg


_READ = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "BatchNorm1d",
         "BatchNorm2d", "BatchNorm3d", "Linear", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d",
         "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
         "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Flatten", "Dropout", "Identity", "LocalResponseNorm", "GroupNorm",
         "LayerNorm", "Upsample", *_ACTIVATIONS)


def _classify(traced, node) -> str:
    """After an unreadable node its users have no type; a module class archlang never reads is
    still worth reporting."""
    if node.op == "call_module":
        kind = type(traced.get_submodule(node.target)).__name__
        return "" if kind in _READ else kind
    return ""


def _where(node) -> str:
    return node.target if node.op == "call_module" else node.name
