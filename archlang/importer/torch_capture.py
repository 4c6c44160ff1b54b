"""Import from PyTorch: an nn.Module -> a FlatGraph, captured with torch.fx.

torch.fx traces the forward symbolically (proxies, no tensor is computed), so nothing runs on
real data and a forward whose control flow depends on tensor values fails in the capture step,
which says so. Each call of a leaf module, function or tensor method becomes an archlang layer
(`Layer`) with its arguments read from the module's attributes; the weights come from the
module's own tensors, in the op's state order. Containers (Sequential, ModuleList, a user's
block classes) are walked through and leave their names on the layers (`layer1.0.conv1`)."""

from __future__ import annotations

import operator

from ..ir import TensorType
from .flat import FlatGraph, ModelImportError, Unsupported
from .torch_attention import attention_layer, attention_regions
from .torch_modules import (LEAVES, channels_last_layer, module_layer, pair, read_classes, recurrent_layer,
                            recurrent_part, unread_class)

__all__ = ["capture_torch"]


_ARITHMETIC = {operator.add: operator.add, operator.sub: operator.sub, operator.mul: operator.mul,
               operator.floordiv: operator.floordiv, operator.neg: operator.neg}


def _arg(args, kwargs, k: int, name: str, default=None):
    return args[k] if len(args) > k else kwargs.get(name, default)


def _index(fg: FlatGraph, out: str, x: str, index, where: str) -> str | None:
    """x[...]: a channel slice, a centred crop, or one token of a sequence."""
    t = fg.types[x]
    index = index if isinstance(index, tuple) else (index,)
    full = slice(None)
    if Ellipsis in index:  # x[..., a:b, c:d]: the leading axes whole
        k = index.index(Ellipsis)
        index = index[:k] + (full,) * (len(t.shape) + 1 - (len(index) - 1)) + index[k + 1:]
    if t.is_sequence and len(index) == 2 and index[0] == full and isinstance(index[1], int):
        fg.add(out, "token", [x], where=where, index=index[1] % t.tokens)
        return None
    if any(not isinstance(i, slice) or i.step not in (None, 1) for i in index) or index[:1] != (full,):
        return "an index other than a slice of channels, a crop or a token"
    if len(index) == 2 and not t.tokens:
        start, stop = index[1].start or 0, t.channels if index[1].stop is None else index[1].stop
        fg.add(out, "slice", [x], where=where, start=start, stop=stop)
        return None
    if len(index) == t.rank + 2 and index[1] == full:
        sizes = []
        for axis, i in zip(t.spatial, index[2:]):
            start, stop = i.start or 0, axis if i.stop is None else i.stop
            if start != (axis - (stop - start)) // 2:
                return "a crop that is not centred"
            sizes.append(stop - start)
        fg.add(out, "crop", [x], where=where, size=tuple(sizes))
        return None
    return "an index other than a slice of channels, a crop or a token"


def _function_call(fg: FlatGraph, node, value, where: str, pending: dict, consts: dict, params: dict,
                   last: set) -> str | None:
    """The layer for a call_function or call_method node, or the reason it has none."""
    import torch
    import torch.nn.functional as F

    target = node.target

    def resolve(a):  # a value computed from sizes (x.shape[-1]) is a number here
        if isinstance(a, (tuple, list)):
            return type(a)(resolve(x) for x in a)
        if isinstance(a, slice):
            return slice(resolve(a.start), resolve(a.stop), resolve(a.step))
        return consts[a.name] if hasattr(a, "op") and a.name in consts else a

    args = [resolve(a) for a in node.args]
    kwargs = {k: resolve(v) for k, v in node.kwargs.items()}
    tensors = [a for a in args if hasattr(a, "op")]
    out = node.name
    ins = [value(a) for a in tensors]
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    if target in _ARITHMETIC and not tensors:
        consts[out] = _ARITHMETIC[target](*args)  # sizes: (h // p) * (w // p)
        return ""
    elif target is operator.getitem and node.args[0].name in fg.recurrent:
        return recurrent_part(fg, out, node.args[0].name, args[1], where)
    elif (target is torch.cat or target is torch.concat) and len(args[0]) == 2 and \
            all(getattr(a, "name", None) in fg.recurrent for a in args[0]):
        # torch.cat([h[-2], h[-1]], 1): a bidirectional layer's last states, both directions
        parts = [fg.recurrent[a.name] for a in args[0]]
        if [p[0] for p in parts] != ["state", "state"] or parts[0][1] is not parts[1][1] \
                or [p[3] for p in parts] != [-2, -1] or not parts[0][1].bidirectional:
            return "a concatenation of recurrent states other than both directions' last"
        return recurrent_layer(fg, out, parts[0][1], parts[0][2], True, where)
    elif name == "expand" and node.args and getattr(node.args[0], "name", None) in params:
        params[out] = params[node.args[0].name]  # the class token, one per sample
        return ""
    elif (target is torch.cat or target is torch.concat) and len(args[0]) == 2 and \
            getattr(args[0][0], "name", None) in params and _arg(args, kwargs, 1, "dim") == 1:
        token = params[args[0][0].name]
        fg.add(out, "clstoken", [value(args[0][1])], where=where)
        fg.layers[-1].weights = (token.reshape(-1),)
    elif target in (operator.mul, torch.mul) and len(node.args) == 2 and \
            any(getattr(a, "name", None) in params for a in node.args):
        scale = next(params[a.name] for a in node.args if getattr(a, "name", None) in params)
        x = next(value(a) for a in node.args if getattr(a, "name", None) not in params)
        t = fg.types[x]
        if tuple(scale.shape) != (t.channels, *(1,) * t.rank) or t.tokens:
            return "a multiplication by a parameter that is not one factor per channel"
        flat = scale.detach().reshape(-1)
        init = float(flat[0]) if flat.device.type != "meta" and bool((flat == flat[0]).all()) else None
        fg.add(out, "layerscale", [x], where=where, init=init)  # ConvNeXt's layer scale
        fg.layers[-1].weights = (scale,)
    elif target in (operator.add, torch.add) and len(node.args) == 2 and \
            any(getattr(a, "name", None) in params for a in node.args):
        table = next(params[a.name] for a in node.args if getattr(a, "name", None) in params)
        x = next(value(a) for a in node.args if getattr(a, "name", None) not in params)
        if table.dim() != 3 or table.shape[0] != 1 or not fg.types[x].is_sequence:
            return "an addition of a parameter that is not a position table"
        fg.add(out, "posembed", [x], where=where, positions=int(table.shape[1]))
        fg.layers[-1].weights = (table.reshape(table.shape[1:]),)
    elif target in (operator.add, operator.iadd, torch.add) or name in ("add", "add_") and node.op == "call_method":
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
    elif node.op == "call_method" and name == "flatten" and _arg(args, kwargs, 1, "start_dim") == 2:
        pending[out] = ("flatten2", ins[0])  # x.flatten(2).transpose(1, 2): a map's positions as tokens
    elif target is torch.flatten or name == "flatten" and node.op == "call_method":
        start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
        end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
        if start != 1 or end != -1:
            return f"flatten from dim {start} to {end}"
        fg.add(out, "flatten", ins[:1], where=where)
    elif node.op == "call_method" and name in ("view", "reshape") and ins and len(args) == 6 \
            and fg.types[ins[0]].rank == 2 and args[4:] == [*fg.types[ins[0]].spatial] \
            and args[2] * args[3] == fg.types[ins[0]].channels:
        pending[out] = ("grouped", ins[0], args[2])  # x.view(n, g, c // g, h, w): a shuffle begins
    elif node.op == "call_method" and name in ("view", "reshape") and ins and len(args) == 4 \
            and fg.types[ins[0]].rank and args[2] == fg.types[ins[0]].channels \
            and args[3] == fg.types[ins[0]].numel // fg.types[ins[0]].channels:
        pending[out] = ("flatten2", ins[0])  # x.reshape(n, c, h * w): positions in a row
    elif name == "transpose" and ins and ins[0] in pending and pending[ins[0]][0] == "grouped" \
            and sorted(args[1:3]) == [1, 2]:
        pending[out] = ("swapped", *pending.pop(ins[0])[1:])
    elif name == "contiguous" and ins and ins[0] in pending:
        pending[out] = pending.pop(ins[0])
    elif node.op == "call_method" and name in ("view", "reshape") and ins and ins[0] in pending \
            and pending[ins[0]][0] == "swapped":
        _, x, groups = pending.pop(ins[0])
        fg.add(out, "shuffle", [x], where=where, groups=groups)
    elif name == "chunk" and ins and _arg(args, kwargs, 2, "dim", 0) == 1:
        n, c = _arg(args, kwargs, 1, "chunks"), fg.types[ins[0]].channels
        if c % n:
            return f"a chunk of {c} channels into {n}"
        consts[out] = tuple(("chunk", ins[0], k * c // n, (k + 1) * c // n) for k in range(n))
        return ""
    elif target is operator.getitem and isinstance(args[0], tuple) and args[0] and \
            isinstance(args[0][0], tuple) and args[0][0][0] == "chunk":
        _, x, start, stop = args[0][args[1]]
        fg.add(out, "slice", [x], where=where, start=start, stop=stop)
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
            fg.add(out, "adaptiveavgpool", ins[:1], where=where, size=pair(size))
    elif target in (F.max_pool1d, F.max_pool2d, F.max_pool3d):
        k = args[1] if len(args) > 1 else kwargs["kernel_size"]
        stride = args[2] if len(args) > 2 else kwargs.get("stride")
        fg.add(out, "maxpool", ins[:1], where=where, k=pair(k), stride=pair(stride) if stride else None,
               pad=pair(args[3] if len(args) > 3 else kwargs.get("padding", 0)),
               ceil_mode=bool(kwargs.get("ceil_mode", False)))
    elif target in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d):
        k = args[1] if len(args) > 1 else kwargs["kernel_size"]
        stride = args[2] if len(args) > 2 else kwargs.get("stride")
        fg.add(out, "avgpool", ins[:1], where=where, k=pair(k), stride=pair(stride) if stride else None,
               pad=pair(args[3] if len(args) > 3 else kwargs.get("padding", 0)),
               ceil_mode=bool(kwargs.get("ceil_mode", False)),
               count_include_pad=bool(kwargs.get("count_include_pad", True)))
    elif target in (F.softmax, F.log_softmax, torch.softmax, torch.log_softmax):
        dim = _arg(args, kwargs, 1, "dim")
        t = fg.types[ins[0]]
        call = "softmax" if "log" not in name else "logsoftmax"
        if not (dim == 1 and not t.tokens or dim in (-1, 2) and t.is_sequence or dim == -1 and t.rank == 0):
            return f"{call} over dim {dim}"
        fg.add(out, call, ins[:1], where=where)
    elif name == "permute" and ins:
        dims = tuple(args[1]) if len(args) == 2 and isinstance(args[1], (tuple, list)) else tuple(args[1:])
        dims = tuple(d % len(dims) for d in dims) if all(isinstance(d, int) for d in dims) else dims
        rank = fg.types[ins[0]].rank if ins[0] in fg.types else 0
        held_last = node.args[0].name in last
        if ins[0] in pending and pending[ins[0]][0] == "flatten2" and dims == (0, 2, 1):
            fg.add(out, "tokens", [pending.pop(ins[0])[1]], where=where)  # x.reshape(n, c, h * w).permute(0, 2, 1)
        elif rank == 1 and dims == (0, 2, 1) and not held_last:
            fg.add(out, "tokens", ins[:1], where=where)  # N x C x L -> N x L x C: L tokens
        elif rank and dims == (0, *range(2, rank + 2), 1) and not held_last:
            fg.same(out, ins[0])  # channels last: the map keeps its type, its readers know
            last.add(out)
        elif rank and dims == (0, rank + 1, *range(1, rank + 1)) and held_last:
            fg.same(out, ins[0])
        else:
            return f"a permutation {list(dims)}"
    elif target is F.interpolate:
        mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
        modes = {"nearest": False, "linear": True, "bilinear": True, "trilinear": True}
        size, scale = _arg(args, kwargs, 1, "size"), _arg(args, kwargs, 2, "scale_factor")
        if mode not in modes or scale is not None and any(float(v) != int(v) for v in (
                scale if isinstance(scale, (tuple, list)) else (scale,))):
            return f"interpolation {mode!r} or by a fractional scale"
        fg.add(out, "upsample", ins[:1], where=where, size=pair(size) if size is not None else None,
               scale=pair(int(scale) if not isinstance(scale, (tuple, list)) else tuple(int(v) for v in scale))
               if scale is not None else None, linear=modes[mode],
               align_corners=bool(kwargs.get("align_corners") or False) if modes[mode] else None)
    elif target is getattr and len(args) == 2 and args[1] in ("device", "dtype"):
        consts[out] = None  # where a tensor lives: nothing to import
        return ""
    elif target is torch.arange and not tensors:
        consts[out] = ("arange", *args)  # positions 0 .. L-1: what a learned position table reads
        return ""
    elif target is getattr and len(args) == 2 and args[1] == "training":
        return ""  # the module's training flag, which stochastic depth reads
    elif target is getattr and len(args) == 2 and args[1] == "shape" and ins:
        consts[out] = (-1, *fg.types[ins[0]].shape)  # sizes known from the types (the batch: -1)
        return ""
    elif node.op == "call_method" and name == "size" and ins:
        sizes = (-1, *fg.types[ins[0]].shape)
        consts[out] = sizes if len(args) == 1 else sizes[args[1]]
        return ""
    elif target is operator.getitem and not tensors and isinstance(args[0], (tuple, list)):
        consts[out] = args[0][args[1]]
        return ""
    elif node.op == "call_method" and name == "permute" and ins and tuple(args[1:]) == (0, 2, 1) \
            and fg.types[ins[0]].rank == 1:
        fg.add(out, "tokens", ins[:1], where=where)  # N x C x L -> N x L x C: L tokens
    elif name == "stochastic_depth":
        p = args[1] if len(args) > 1 else kwargs.get("p")
        mode = args[2] if len(args) > 2 else kwargs.get("mode", kwargs.get("batch", False))
        fg.add(out, "stochasticdepth", ins[:1], where=where, p=float(p), batch=mode in (True, "batch"))
    elif target is operator.getitem and tensors and ins[0] in fg.pairs:
        if args[1] != 0:
            return "" if args[1] == 1 else "an element of attention's result other than the output"
        fg.same(out, ins[0])  # (output, attention weights)[0]
    elif target is operator.getitem and tensors:
        return _index(fg, out, ins[0], args[1], where)
    elif node.op == "call_method" and name == "transpose" and ins and ins[0] in pending \
            and sorted(args[1:3]) == [1, 2] and pending[ins[0]][0] == "flatten2":
        fg.add(out, "tokens", [pending.pop(ins[0])[1]], where=where)
    elif node.op == "call_method" and name == "transpose" and sorted(args[1:3]) == [1, 2] \
            and fg.types[ins[0]].is_sequence:
        pending[out] = ("channels_first", ins[0])  # x.transpose(1, 2).unflatten(2, (h, w)): tokens as a map
    elif node.op == "call_method" and name == "unflatten" and ins and ins[0] in pending and args[1] == 2:
        h, w = args[2]
        fg.add(out, "grid", [pending.pop(ins[0])[1]], where=where, h=h, w=w)
    elif node.op == "call_method" and name == "mean" and fg.types[ins[0]].is_sequence and tuple(args[1:]) == (1,) \
            and not kwargs:
        fg.add(out, "meantokens", ins[:1], where=where)
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
    from ..ops.other import stochastic_depth

    read = read_classes()

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            # archlang's own layers are layers, not code to trace; so is a subclass of a torch.nn
            # layer that only changes its constructor (torchvision's Conv3DSimple)
            return type(m).__name__ in LEAVES or isinstance(m, read) or super().is_leaf_module(m, qualname)

    sizes = [(1, *t.shape) for t in input_shapes.values()]  # the batch as 1: only where sizes must be numbers

    def known(proxy) -> torch.Size | None:
        nodes = [n for n in proxy.tracer.graph.nodes if n.op == "placeholder"]
        return torch.Size(sizes[nodes.index(proxy.node)]) if proxy.node.op == "placeholder" else None

    class SizedProxy(fx.Proxy):
        def __getattr__(self, k):
            if k == "shape" and known(self) is not None:
                return known(self)
            return super().__getattr__(k)

    class SizedTracer(Tracer):
        """The inputs' sizes as numbers (`x.shape[1]` is 512): for a forward that indexes with a
        size (`position_ids[:, :x.shape[1]]`), which plain symbolic tracing cannot follow."""

        def proxy(self, node):
            return SizedProxy(node, self)

        def create_proxy(self, kind, target, args, kwargs, *rest, **more):
            if kind == "call_method" and target == "size" and isinstance(args[0], fx.Proxy) \
                    and known(args[0]) is not None and (len(args) == 1 or isinstance(args[1], int)):
                return known(args[0]) if len(args) == 1 else known(args[0])[args[1]]
            return super().create_proxy(kind, target, args, kwargs, *rest, **more)

    try:
        try:
            graph = Tracer(autowrap_functions=(stochastic_depth,)).trace(module)
        except TypeError:  # sizes used as numbers: trace again with the inputs' sizes known
            graph = SizedTracer(autowrap_functions=(stochastic_depth,)).trace(module)
        traced = fx.GraphModule(module, graph)
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
    pending: dict[str, tuple[str, str]] = {}  # the first half of a two-call pattern, by its value
    consts: dict[str, object] = {}  # values computed from sizes, not tensors
    params: dict[str, object] = {}  # parameters the forward reads itself (ViT's class token)
    last: set[str] = set()  # maps held channels last (ConvNeXt's permuted blocks), typed channels first
    nodes = list(traced.graph.nodes)
    counted = 0

    def value(n) -> str:
        return fg.value(n.name)

    regions = attention_regions(traced)
    inside = {id(n) for r in regions.values() for n in r["nodes"]}
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
        if node.op == "get_attr":  # a tensor read as data (a class token, a position table): its readers say
            try:
                params[node.name] = traced.get_parameter(node.target)
            except AttributeError:
                value_ = getattr(traced, node.target, None)
                if isinstance(value_, torch.Tensor) and not value_.is_floating_point() and value_.dim() <= 2:
                    # integers an embedding reads: positions (BERT's position_ids[:, :L]), checked where known
                    count = value_.shape[-1]
                    if value_.device.type == "meta" or torch.equal(value_.reshape(-1), torch.arange(count)):
                        consts[node.name] = ("arange", 0, count)
            continue
        counted += 1
        if missing:
            # after an unreadable node its users cannot be typed: list what else is unsupported
            kind = unread_class(traced, node)
            if kind:
                missing.append(Unsupported(_where(node), kind, f"the module class {kind}"))
            continue
        where = _where(node)
        if id(node) in inside:  # part of an attention written out in forward: its output projection makes it
            continue
        try:
            if node.name in regions:
                reason = attention_layer(fg, node.name, regions[node.name], value(regions[node.name]["x"]), where)
                kind = "attention"
            elif node.op == "call_module" and _positions(consts.get(getattr(node.args[0], "name", ""))):
                m = traced.get_submodule(node.target)  # wpe(arange(0, L)): a position table, added next
                if type(m).__name__ != "Embedding":
                    reason, kind = "a layer of positions other than an embedding", type(m).__name__
                else:
                    params[node.name] = m.weight[None]
                    reason, kind = "", "Embedding"
            elif node.op == "call_module":
                m = traced.get_submodule(node.target)
                x = value(node.args[0])
                if node.args[0].name in last:
                    reason = channels_last_layer(fg, node.name, m, x, where)
                    if reason is None:
                        last.add(node.name)
                else:
                    reason = module_layer(fg, node.name, m, x, where, node)
                if reason is None and fg.layers and fg.layers[-1].name == node.name:
                    layer = fg.layers[-1]
                    layer.source = node.target
                    layer.weights = tuple(getattr(m, t.name, None) for t in layer.op.tensors()) or None
                    for t in layer.weights or ():
                        fg.owners.setdefault(id(t), layer.name)
                kind = type(m).__name__
            else:
                before = len(fg.layers)
                reason = _function_call(fg, node, value, where, pending, consts, params, last)
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
        raise fg.unsupported_error(
            missing, counted, readable or 0, "operation",
            hint="archlang reads torch.nn's layers (convolutions, norms, activations, pooling, Linear, Flatten, "
            "Dropout, Upsample, Embedding, MultiheadAttention), archlang's own, and +, *, torch.cat, slicing and "
            "reshapes in forward; write other computations as one of these")
    for layer in fg.layers:
        if layer.weights is not None:
            layer.weights = tuple(w.detach() if w is not None and isinstance(w, torch.Tensor) else w
                                  for w in layer.weights)
    return fg


def _positions(value) -> bool:
    """torch.arange(0, L) or (L): the positions of a sequence."""
    return isinstance(value, tuple) and value[:1] == ("arange",) and list(value[1:-1] if len(value) > 2 else []) in ([0], [])


def _where(node) -> str:
    return node.target if node.op == "call_module" else node.name
