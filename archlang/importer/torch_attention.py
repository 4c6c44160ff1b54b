"""Import from PyTorch: attention written out in a forward (nanoGPT's CausalSelfAttention):
a Linear to 3 x D features, split into Q, K and V, each viewed as heads and transposed, torch's
scaled_dot_product_attention, the heads transposed back and merged, and a Linear D -> D. The
nodes between the two Linears compute nothing else, so the whole is archlang's attention, with
the first Linear's weight as its in_proj and the second's as its out_proj.
"""

from __future__ import annotations

from .flat import FlatGraph

__all__ = ["attention_regions"]

_PLUMBING = {"split", "view", "reshape", "transpose", "contiguous", "permute", "chunk", "unflatten", "flatten"}


def _is_sdpa(node) -> bool:
    return node.op == "call_function" and getattr(node.target, "__name__", "") == "scaled_dot_product_attention"


def _plumbing(node) -> bool:
    import operator

    return node.op == "call_method" and node.target in _PLUMBING or node.op == "call_function" and (
        node.target is operator.getitem or getattr(node.target, "__name__", "") in ("split", "transpose", "chunk"))


def attention_regions(traced) -> dict[str, dict]:
    """For each scaled_dot_product_attention between a Linear D -> 3D and a Linear D -> D that
    only reshapes connect to it: {the output Linear's node name: the region}."""
    from torch import nn

    regions = {}
    for sdpa in traced.graph.nodes:
        if not _is_sdpa(sdpa) or sdpa.kwargs.get("attn_mask") is not None or len(sdpa.args) > 3:
            continue
        inside, linears, stack = {sdpa}, set(), [a for a in sdpa.args[:3] if hasattr(a, "op")]
        heads = set()
        while stack:  # back through the reshapes to the input projection
            n = stack.pop()
            if n in inside:
                continue
            if n.op == "call_module" and isinstance(traced.get_submodule(n.target), nn.Linear):
                linears.add(n)
                continue
            if not _plumbing(n):
                linears = set()
                break
            inside.add(n)
            if n.op == "call_method" and n.target == "view" and len(n.args) == 5:
                heads.add(n.args[3])  # x.view(b, t, heads, c // heads)
            if n.args and hasattr(n.args[0], "op"):
                stack.append(n.args[0])  # the data; the other arguments are sizes
        if len(linears) != 1 or len(heads) != 1:
            continue
        (first,) = linears
        w_in = traced.get_submodule(first.target)
        dim = w_in.in_features
        if w_in.out_features != 3 * dim or not isinstance(next(iter(heads)), int):
            continue
        out, last = sdpa, None
        while True:  # forward through the reshapes to the output projection
            users = list(out.users)
            if len(users) != 1:
                break
            (u,) = users
            if u.op == "call_module" and isinstance(traced.get_submodule(u.target), nn.Linear):
                m = traced.get_submodule(u.target)
                last = u if (m.in_features, m.out_features) == (dim, dim) else None
                break
            if not _plumbing(u):
                break
            inside.add(u)
            out = u
        if last is None:
            continue
        # everything inside is read only inside
        if any(user not in inside and user is not last for n in inside - {sdpa} for user in n.users) \
                or any(user not in inside and user is not last for user in first.users):
            continue
        w_out = traced.get_submodule(last.target)
        regions[last.name] = {"x": first.args[0], "first": first, "nodes": inside | {first}, "heads": next(iter(heads)),
                              "causal": bool(sdpa.kwargs.get("is_causal", False)), "w_in": w_in, "w_out": w_out}
    return regions


def attention_layer(fg: FlatGraph, out: str, region: dict, x: str, where: str) -> str | None:
    w_in, w_out = region["w_in"], region["w_out"]
    bias = w_in.bias is not None
    if bias != (w_out.bias is not None):
        return "attention with a bias on one projection only"
    fg.add(out, "attention", [x], where=where, heads=region["heads"], causal=region["causal"], bias=bias)
    tensors = {"in_proj_weight": w_in.weight, "in_proj_bias": w_in.bias, "out_proj_weight": w_out.weight,
               "out_proj_bias": w_out.bias}
    layer = fg.layers[-1]
    layer.weights = tuple(tensors[t.name] for t in layer.op.tensors())
    return None
