"""Import from PyTorch: attention written out in a forward, as nanoGPT's CausalSelfAttention
(a Linear to 3 x D, split into Q, K and V, heads, torch's scaled_dot_product_attention) or Hugging
Face's BertSelfAttention (three Linears D -> D, heads, matmul, scale, softmax, dropout, matmul)
writes it, followed by a Linear D -> D. The nodes between the projections compute nothing else,
so the whole is archlang's attention: the first Linear's weight (or the three stacked) as its
in_proj, the last one's as its out_proj, a dropout on the weights as its dropout.
"""

from __future__ import annotations

import operator

from .flat import FlatGraph

__all__ = ["attention_regions", "attention_layer"]

_PLUMBING = {"split", "view", "reshape", "transpose", "contiguous", "permute", "chunk", "unflatten", "flatten"}
_MIXING = {"matmul", "truediv", "mul", "div", "softmax", "masked_fill", "scaled_dot_product_attention", "__matmul__"}


def _name(node) -> str:
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")


def _is_size(node) -> bool:
    """A size computed in forward (x.shape, x.size(1), and arithmetic on them)."""
    if node.op == "call_method" and node.target == "size":
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",):
        return True
    return node.op == "call_function" and node.target in (operator.getitem, operator.floordiv, operator.mul,
                                                          operator.truediv) and \
        any(hasattr(a, "op") and _is_size(a) for a in node.args) and \
        all(not hasattr(a, "op") or _is_size(a) for a in node.args)


def _step(node) -> bool:
    """A node attention is made of: reshapes, products, the scale, the softmax."""
    if node.op == "call_method":
        return node.target in _PLUMBING or node.target in _MIXING
    if node.op == "call_function":
        return node.target is operator.getitem or _name(node) in _PLUMBING | _MIXING
    return False


def _is_anchor(node) -> bool:
    return node.op in ("call_function", "call_method") and _name(node) in ("scaled_dot_product_attention", "softmax")


def attention_regions(traced) -> dict[str, dict]:
    """{the output Linear's node name: the region} for each attention written out in forward."""
    from torch import nn

    def linear(node):
        if node.op != "call_module":
            return None
        m = traced.get_submodule(node.target)
        return m if isinstance(m, nn.Linear) else None

    def dropout(node):
        return node.op == "call_module" and isinstance(traced.get_submodule(node.target), nn.Dropout)

    regions = {}
    for anchor in traced.graph.nodes:
        if not _is_anchor(anchor):
            continue
        # forward: to the output projection, through the product with V, reshapes and a dropout
        out, last = anchor, None
        for _ in range(16):
            users = list(out.users)
            if len(users) != 1:
                break
            (u,) = users
            if linear(u) is not None:
                last = u
                break
            if not (_step(u) or dropout(u)):
                break
            out = u
        if last is None:
            continue
        # backward from what the output projection reads: everything back to the input projections
        inside, projections, drop, heads = set(), [], [], set()
        stack, ok = [last.args[0]], True
        while stack and ok:
            n = stack.pop()
            if not hasattr(n, "op") or n in inside or n in projections:
                continue
            if linear(n) is not None:
                projections.append(n)
                continue
            if _is_size(n):
                inside.add(n)
                continue
            if not (_step(n) or dropout(n)) or len(inside) > 64:
                ok = False
                break
            inside.add(n)
            if dropout(n):
                drop.append(traced.get_submodule(n.target).p)
            if n.op == "call_method" and n.target == "view" and len(n.args) == 5:
                heads.add(n.args[3])  # x.view(n, length, heads, width // heads)
            stack.extend(a for a in n.args if hasattr(a, "op"))
            stack.extend(a for v in n.args if isinstance(v, (list, tuple)) for a in v if hasattr(a, "op"))
        if not ok or len(heads) != 1 or not isinstance(next(iter(heads)), int) or anchor not in inside:
            continue
        order = {n: k for k, n in enumerate(traced.graph.nodes)}
        projections.sort(key=order.get)
        mods = [linear(p) for p in projections]
        if len({p.args[0] for p in projections}) != 1:
            continue
        dim = mods[0].in_features
        if not ([(m.in_features, m.out_features) for m in mods] == [(dim, 3 * dim)] or
                [(m.in_features, m.out_features) for m in mods] == [(dim, dim)] * 3):
            continue
        w_out = linear(last)
        if (w_out.in_features, w_out.out_features) != (dim, dim):
            continue
        if any(user not in inside and user is not last for n in inside for user in n.users if not _is_size(n)) \
                or any(user not in inside for p in projections for user in p.users):
            continue
        causal = bool(anchor.kwargs.get("is_causal", False)) or any(_name(n) == "masked_fill" for n in inside)
        regions[last.name] = {"x": projections[0].args[0], "nodes": inside | set(projections), "heads": next(iter(heads)),
                              "causal": causal, "w_in": mods, "w_out": w_out, "dropout": drop[0] if drop else 0.0}
    return regions


def attention_layer(fg: FlatGraph, out: str, region: dict, x: str, where: str) -> str | None:
    w_in, w_out = region["w_in"], region["w_out"]
    bias = all(m.bias is not None for m in w_in)
    if bias != (w_out.bias is not None) or any((m.bias is not None) != bias for m in w_in):
        return "attention with a bias on some projections only"
    separate = len(w_in) == 3
    fg.add(out, "attention", [x], where=where, heads=region["heads"], causal=region["causal"], bias=bias,
           dropout=float(region["dropout"]), separate=separate)
    tensors = {"out_proj_weight": w_out.weight, "out_proj_bias": w_out.bias}
    if separate:
        for p, m in zip("qkv", w_in):
            tensors[f"{p}_proj_weight"], tensors[f"{p}_proj_bias"] = m.weight, m.bias
    else:
        tensors["in_proj_weight"], tensors["in_proj_bias"] = w_in[0].weight, w_in[0].bias
    layer = fg.layers[-1]
    layer.weights = tuple(tensors[t.name] for t in layer.op.tensors())
    return None
