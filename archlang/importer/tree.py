"""Import, stage 2a: the imported graph as a tree a spec can say, and its repeats.

`to_tree` turns the flat graph into a chain of layers, where a fork and the merge that joins
it (found with dominators) become `Branches` (`add(a | b)`, `concat(...)`, `mul(...)`), and
an add whose other branch is the identity or archlang's default projection becomes
`Residual` (`residual(f)`). `fold_repeats` turns runs of equal pieces into `Repeat` (`* n`).
Items are compared by `skeleton` (ops without their arguments) and `columns` (the argument
values in order), which `blocks` uses to find pieces of the same structure.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..ops.args import LayerOf
from ..ops.base import lookup, split_suffix
from ..parser import KEYWORDS
from ..records import record
from .flat import FlatGraph, Layer
from .spelling import Spelled, literal

__all__ = ["NotATree", "P", "Ref", "Leaf", "Seq", "Branches", "Residual", "Repeat", "Call", "BlockDef",
           "skeleton", "columns", "exact", "size", "sources", "to_tree", "tie_targets", "fold_repeats",
           "children", "chains", "weighted", "text_of", "MAX_WINDOW"]

MAX_WINDOW = 24  # the longest piece of chain compared when looking for repeats and blocks


class NotATree(Exception):
    """The graph has a value read outside the fork that made it (DenseNet's concatenation of
    every earlier output): it is written with named values instead."""


@record
class P:
    """A block parameter in an argument: `c`, or `4*c`."""

    name: str
    factor: int = 1

    def text(self) -> str:
        return self.name if self.factor == 1 else f"{self.factor}*{self.name}"


def text_of(v: Any) -> str:
    return v.text() if isinstance(v, (P, Ref)) else literal(v)


# -- the tree -----------------------------------------------------------------------------

@dataclass(eq=False)
class Leaf:
    call: str
    rank: int
    values: tuple
    drop: tuple
    sources: tuple[str, ...]
    named: str = ""  # `as NAME`: a layer whose weight another shares (`fc(tie=NAME)`)


@record
class Ref:
    """A named value in an argument: `tie=wte`."""

    name: str

    def text(self) -> str:
        return self.name


@dataclass(eq=False)
class Seq:
    items: list


@dataclass(eq=False)
class Branches:
    call: str
    branches: list  # of Seq


@dataclass(eq=False)
class Residual:
    body: Seq
    shortcut: Seq | None  # None: the default rule (identity or conv1x1 -> bn)


@dataclass(eq=False)
class Repeat:
    body: Seq
    count: Any  # int or P


@dataclass(eq=False)
class Call:
    block: "BlockDef"
    values: tuple
    sources: tuple[str, ...]


@dataclass(eq=False)
class BlockDef:
    name: str
    params: list  # of (name, default or None, kind: "channels" or another argument kind)
    body: Seq


def skeleton(item) -> tuple:
    if isinstance(item, Leaf):
        return ("L", item.call, item.rank, item.named)
    if isinstance(item, Seq):
        return tuple(skeleton(i) for i in item.items)
    if isinstance(item, Branches):
        return ("B", item.call, tuple(skeleton(b) for b in item.branches))
    if isinstance(item, Residual):
        return ("R", skeleton(item.body), None if item.shortcut is None else skeleton(item.shortcut))
    if isinstance(item, Repeat):
        return ("N", skeleton(item.body))
    return ("C", id(item.block))


def columns(item) -> list[tuple[Any, bool, str, str, Any]]:
    """The item's argument values in order: (value, droppable, name, kind, the op's default)."""
    if isinstance(item, Leaf):
        args = lookup(item.call).args
        return [(v, d, a.name, a.kind, a.default) for v, d, a in zip(item.values, item.drop, args)]
    if isinstance(item, Seq):
        return [c for i in item.items for c in columns(i)]
    if isinstance(item, Branches):
        return [c for b in item.branches for c in columns(b)]
    if isinstance(item, Residual):
        return columns(item.body) + (columns(item.shortcut) if item.shortcut else [])
    if isinstance(item, Repeat):
        return [(item.count, False, "n", "count", None)] + columns(item.body)
    return [(v, False, p[0], p[2], None) for v, p in zip(item.values, item.block.params)]


def exact(item) -> tuple:
    return (skeleton(item), tuple((c[0], c[1]) for c in columns(item)))


def size(item) -> int:
    """Layers an item stands for, a call counting as one."""
    if isinstance(item, Leaf):
        return 1
    if isinstance(item, Seq):
        return sum(size(i) for i in item.items)
    if isinstance(item, Branches):
        return 1 + sum(size(b) for b in item.branches)
    if isinstance(item, Residual):
        return 1 + size(item.body) + (size(item.shortcut) if item.shortcut else 0)
    if isinstance(item, Repeat):
        return size(item.body)
    return 1


def sources(item) -> list[str]:
    if isinstance(item, (Leaf, Call)):
        return [s for s in item.sources if s]
    if isinstance(item, Seq):
        return [s for i in item.items for s in sources(i)]
    if isinstance(item, Branches):
        return [s for b in item.branches for s in sources(b)]
    if isinstance(item, Residual):
        return sources(item.body) + (sources(item.shortcut) if item.shortcut else [])
    return sources(item.body)


# -- 1. graph -> tree ---------------------------------------------------------------------

def to_tree(fg: FlatGraph, spelled: dict[str, Spelled]) -> Seq:
    if len(fg.inputs) != 1 or len(fg.outputs) != 1:
        raise NotATree("several inputs or outputs")
    (root,) = fg.inputs
    producer = {l.name: l for l in fg.layers}
    order = {root: 0}
    idom: dict[str, str | None] = {root: None}
    depth = {root: 0}

    def lca(a: str, b: str) -> str:
        while a != b:
            if depth[a] < depth[b]:
                a, b = b, a
            a = idom[a]
        return a

    for i, layer in enumerate(fg.layers, 1):
        order[layer.name] = i
        d = layer.inputs[0]
        for x in layer.inputs[1:]:
            d = lca(d, x)
        idom[layer.name] = d
        depth[layer.name] = depth[d] + 1

    def lca_of(values) -> str:
        d = values[0]
        for x in values[1:]:
            d = lca(d, x)
        return d

    used: Counter = Counter()
    tie_names = tie_targets(fg)

    def chain(y: str, base: str) -> Seq:
        items = []
        while y != base:
            layer = producer.get(y)
            if layer is None or order[y] < order[base]:
                raise NotATree(f"{y} is not reached from {base}")
            if used[layer.name]:  # read from two branches: not a tree (and walking on would repeat work)
                raise NotATree(f"{layer.name} is read outside the fork that made it")
            used[layer.name] += 1
            if lookup(layer.call).merge:
                f = lca_of(layer.inputs)
                items.append(_merge(layer, [chain(x, f) for x in layer.inputs], fg, f))
                y = f
            else:
                s = spelled[layer.name]
                values = tuple(Ref(tie_names[v.node]) if isinstance(v, LayerOf) else v for v in s.values)
                items.append(Leaf(layer.call, fg.types[layer.inputs[0]].rank, values, s.droppable,
                                  (layer.source,), tie_names.get(layer.name, "")))
                y = layer.inputs[0]
        return Seq(items[::-1])

    tree = chain(fg.outputs[0], root)
    if len(used) != len(fg.layers) or any(n != 1 for n in used.values()):
        raise NotATree("a value is read outside the fork that made it")
    return tree


def tie_targets(fg: FlatGraph) -> dict[str, str]:
    """Layers whose weight another layer shares -> the value name the spec gives them."""
    out = {}
    for layer in fg.layers:
        tie = layer.kwargs.get("tie")
        if isinstance(tie, LayerOf) and tie.node not in out:
            source = next((l.source for l in fg.layers if l.name == tie.node), "") or tie.node
            name = re.sub(r"[^A-Za-z0-9_]", "_", source.rsplit(".", 1)[-1]) or "tied"
            if name[0].isdigit() or name in KEYWORDS or lookup(name) is not None or split_suffix(name) is not None:
                name = "v_" + name
            out[tie.node] = name
    return out


def _merge(layer: Layer, branches: list[Seq], fg: FlatGraph, fork: str):
    if layer.call == "add" and len(branches) == 2:
        body, other = branches
        if not other.items or _projection(other, fg, fork, layer):
            return Residual(body, None)
        if not body.items or _projection(body, fg, fork, layer):
            return Residual(other, None)
    return Branches(layer.call, branches)


def _projection(seq: Seq, fg: FlatGraph, fork: str, merge: Layer) -> bool:
    """The shortcut archlang's residual inserts: conv1x1(C, stride=s, bias=false) -> bn."""
    if len(seq.items) != 2 or not all(isinstance(i, Leaf) for i in seq.items):
        return False
    conv, bn = seq.items
    if (conv.call, bn.call) != ("conv", "bn"):
        return False
    xt, yt = fg.types[fork], fg.types[merge.name]
    if xt.rank == 0 or xt.rank != yt.rank:
        return False
    strides = tuple(-(-i // o) for i, o in zip(xt.spatial, yt.spatial))
    args = lookup("conv").args
    want = dict(c=yt.channels, k=1, stride=strides[0] if len(set(strides)) == 1 else strides, pad=0, dilation=1,
                groups=1, bias=False)
    got = dict(zip((a.name for a in args), conv.values))
    got = {k: (v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v) for k, v in got.items()}
    bn_args = lookup("bn").args
    return got == want and bn.values == tuple(a.default for a in bn_args)


# -- 2. repeats ---------------------------------------------------------------------------

def fold_repeats(seq: Seq) -> None:
    """Runs of equal pieces -> `Repeat`, inside out."""
    for item in seq.items:
        for inner in children(item):
            fold_repeats(inner)
    items = seq.items
    keys = [exact(i) for i in items]
    n = len(items)

    def run_at(i: int) -> tuple[int, int, int]:
        """(cover, length, copies) of the longest-covering run of equal pieces from i."""
        best = (1, 1, 1)
        for length in range(1, min(MAX_WINDOW, (n - i) // 2) + 1):
            k = 1
            while i + (k + 1) * length <= n and keys[i + k * length:i + (k + 1) * length] == keys[i:i + length]:
                k += 1
            if k >= 2 and k * length > best[0]:
                best = (k * length, length, k)
        return best

    out = []
    i = 0
    while i < n:
        cover, length, k = run_at(i)
        # a run is read from a layer with weights (conv -> relu, twice), not from the
        # activation or pool between copies: start one later where that covers as much
        if k >= 2 and isinstance(items[i], Leaf) and not weighted(items[i]) and i + 1 < n:
            later = run_at(i + 1)
            if later[2] >= 2 and later[0] >= cover - 1:
                out.append(items[i])
                i += 1
                continue
        if k >= 2:
            out.append(Repeat(Seq(items[i:i + length]), k))
            i += k * length
        else:
            out.append(items[i])
            i += 1
    seq.items = out


def children(item) -> list[Seq]:
    if isinstance(item, Branches):
        return list(item.branches)
    if isinstance(item, Residual):
        return [item.body] + ([item.shortcut] if item.shortcut else [])
    if isinstance(item, Repeat):
        return [item.body]
    return []


def chains(seq: Seq, out: list[Seq]) -> list[Seq]:
    out.append(seq)
    for item in seq.items:
        for inner in children(item):
            chains(inner, out)
    return out


def weighted(item) -> bool:
    """A layer with weights, or a piece made of layers (a merge, a residual, a repeat, a call):
    where a person starts a block or a repeat, rather than at the activation or pool between."""
    if isinstance(item, Leaf):
        return item.call in ("conv", "dwconv", "convtranspose", "fc", "embed", "attention", "lstm", "gru")
    return True
