"""Import from ONNX, the sequence rules: token sequences and what works on them.

An ONNX file does not say whether an N x L x D input is a 1D map or a sequence: it is read
as a map unless the import is told (`--input-shape [197]x768`); integer inputs are token ids.
What archlang's exporter and torch's write for sequence layers is recognised:
- constants computed from constants (a weight transposed, Q, K and V weights concatenated)
  are folded first (`fold_constants`), so that the rules see weights;
- attention (`attention_regions`): a projection to 3 x D features, the heads split, a softmax
  of scaled products (with a causal mask built from positions: Range, Greater/Less, Where,
  Trilu), the heads merged and a D x D projection; everything between the two projections
  reads only what the region computes, so the region is one archlang attention layer;
- an embedding (Gather of a weight by ids), a position table added (whole, or its first L
  rows by a Slice), a class token (Expand of a weight concatenated before the tokens), one
  token (Gather on axis 1), the mean over tokens (ReduceMean on axis 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .flat import FlatGraph
from .onnx_layers import attrs, source

__all__ = ["SequenceRules"]


def _reorder(rows, order, hidden: int):
    """Gate blocks of `hidden` rows from ONNX's order to torch's."""
    return np.concatenate([rows[g * hidden:(g + 1) * hidden] for g in order])

_FOLDABLE = {"Transpose", "Concat", "Identity", "Unsqueeze", "Squeeze", "Reshape", "Cast", "Gather", "Slice"}
_TIME_FIRST = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity"}  # a sequence laid out for a cell
_SHAPING = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Concat", "Gather", "Slice", "Identity"}
# ONNX's gate order -> torch's: LSTM i o f c -> i f c o; GRU z r h -> r z h
_GATES = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2)}
# what computes sizes, scales (1 / sqrt(D / H)) and masks from a value's shape
_SIZES = {"Shape", "Squeeze", "Unsqueeze", "Gather", "Range", "Cast", "Slice", "Concat", "Sub", "Add", "Mul", "Div",
          "Sqrt", "Reciprocal", "Pow", "Expand", "ConstantOfShape", "Reshape"}
_MASKING = {"Range", "Greater", "Less", "Where", "Trilu", "GreaterOrEqual", "LessOrEqual", "IsInf", "Equal"}


class SequenceRules:
    """Sequence rules of `onnx_reader._Reader` (see there for its state)."""

    fg: FlatGraph
    consts: dict[str, Any]

    def fold_constants(self) -> None:
        """Nodes whose inputs are all constants become constants (and are not read as layers)."""
        from onnx import numpy_helper

        for node in self.model.graph.node:
            if node.op_type == "Constant" and "value" in attrs(node):  # torch writes sizes so
                self.consts[node.output[0]] = numpy_helper.to_array(attrs(node)["value"])
                self.skip.add(id(node))
                continue
            values = [self.consts.get(i) for i in node.input if i]
            if node.op_type not in _FOLDABLE or not values or any(v is None for v in values):
                continue
            a = attrs(node)
            try:
                if node.op_type == "Transpose":
                    out = np.transpose(values[0], a.get("perm"))
                elif node.op_type == "Concat":
                    out = np.concatenate(values, axis=a.get("axis", 0))
                elif node.op_type in ("Identity", "Cast"):
                    out = values[0]
                elif node.op_type == "Gather":  # archlang orders a recurrent layer's gates so
                    out = np.take(values[0], values[1].astype(np.int64), axis=a.get("axis", 0))
                elif node.op_type == "Slice":  # torch orders them by slicing and concatenating
                    starts, ends = values[1], values[2]
                    axes = values[3] if len(values) > 3 else range(len(starts))
                    index = [slice(None)] * values[0].ndim
                    for ax, b, e in zip(axes, starts, ends):
                        index[int(ax)] = slice(int(b), int(min(e, values[0].shape[int(ax)])))
                    out = values[0][tuple(index)]
                elif node.op_type == "Reshape":
                    shape = [int(s) if s != 0 else values[0].shape[k] for k, s in enumerate(values[1])]
                    out = values[0].reshape(shape)
                elif node.op_type == "Unsqueeze":
                    axes = a.get("axes", values[1] if len(values) > 1 else None)
                    out = np.expand_dims(values[0], tuple(int(x) for x in np.atleast_1d(axes)))
                else:  # Squeeze
                    axes = a.get("axes", values[1] if len(values) > 1 else None)
                    out = np.squeeze(values[0], None if axes is None else tuple(int(x) for x in np.atleast_1d(axes)))
            except (ValueError, TypeError, IndexError):
                continue
            self.consts[node.output[0]] = out
            self.skip.add(id(node))
            if node.op_type in ("Transpose", "Identity", "Cast"):  # the same weight, seen another way
                self.origins[node.output[0]] = self.origins.get(node.input[0], node.input[0])
            if node.op_type == "Concat":  # Q, K and V weights kept apart in the model
                self.parts[node.output[0]] = list(node.input)
            elif node.input[0] in self.parts:
                self.parts[node.output[0]] = self.parts[node.input[0]]

    # -- attention ------------------------------------------------------------------------
    def attention_regions(self) -> None:
        """Find each attention from its softmax: back to its input projections (Q, K, V at once:
        D -> 3D; or apart: three D -> D), forward to its output projection (D -> D)."""
        for node in self.model.graph.node:
            if node.op_type != "Softmax" or id(node) in self.skip:
                continue
            starts = self._projections_before(node)
            if not starts:
                continue
            dim = self.consts[starts[0].input[1]].shape[0]
            region = self._region(starts, dim)
            if region is not None:
                self.attention[id(region["last"])] = region
                self.rename[id(region["last"])] = "Attention"
                self.skip.update(id(n) for n in region["nodes"] if n is not region["last"])

    # -- recurrent layers -----------------------------------------------------------------
    def recurrent_regions(self) -> None:
        """Each stack of LSTM or GRU nodes, from the sequence it reads (tokens first, after a
        Transpose to time first) to the value it gives (every step's output, or the last hidden
        state): one archlang lstm or gru layer."""
        cells = [n for n in self.model.graph.node if n.op_type in _GATES]
        done: set[int] = set()
        for first in cells:
            if id(first) in done:
                continue
            stack = [first]
            while True:  # the next layer reads this one's output through shaping nodes only
                nxt = self._through_shaping(stack[-1].output[0], lambda n: n.op_type == first.op_type)
                if nxt is None:
                    break
                stack.append(nxt)
            done.update(id(n) for n in stack)
            source_value = self._back_through_shaping(first.input[0])
            last = stack[-1]
            out_y = self._final_shaping(last.output[0]) if last.output[0] else None
            out_h = self._final_shaping(last.output[1]) if len(last.output) > 1 and last.output[1] else None
            dead = [c for c in (out_y, out_h) if c and self._dead(c[-1].output[0])]
            out_y, out_h = (None if out_y in dead else out_y), (None if out_h in dead else out_h)
            end = out_y or out_h
            if source_value is None or end is None or out_y and out_h:
                continue
            self.skip.update(id(n) for c in dead for n in c)
            region = {"x": source_value, "cells": stack, "last": end[-1], "final": end is out_h, "kind": first.op_type}
            self.recurrent[id(end[-1])] = region
            self.rename[id(end[-1])] = "Recurrent"
            between = self._between(source_value, stack, end)
            self.skip.update(id(n) for n in between if n is not end[-1])

    def _dead(self, value: str) -> bool:
        """Read by nothing and not an output (what an exporter computes and leaves)."""
        return not self._users_of(value) and value not in {o.name for o in self.model.graph.output}

    def _users_of(self, value: str) -> list:
        return self.users.get(value, [])

    def _through_shaping(self, value: str, stop) -> Any:
        """The first node meeting `stop` reached from `value` through shaping nodes only."""
        frontier = [value]
        for _ in range(8):
            nxt = []
            for v in frontier:
                for u in self._users_of(v):
                    if stop(u):
                        return u
                    if u.op_type in _SHAPING:
                        nxt.extend(u.output)
            frontier = nxt
        return None

    def _back_through_shaping(self, value: str) -> str | None:
        """The value a cell's steps come from: back through the shaping that puts time first."""
        for _ in range(4):
            p = self.producer.get(value)
            if p is None or p.op_type not in _TIME_FIRST:
                return value
            value = p.input[0]
        return value

    def _final_shaping(self, value: str) -> list | None:
        """The chain of shaping nodes after a cell's output that nothing else reads, up to where a
        layer reads it (or the graph's output): its nodes, the last one giving the value."""
        chain = []
        outputs = {o.name for o in self.model.graph.output}
        while True:
            users = self._users_of(value)
            if len(users) == 2 and all(u.op_type == "Gather" and self.consts.get(u.input[1]) is not None for u in users):
                joins = {id(j): j for u in users for j in self._users_of(u.output[0])}
                if len(joins) == 1 and next(iter(joins.values())).op_type == "Concat":  # cat(h[-2], h[-1])
                    join = next(iter(joins.values()))
                    chain += [*users, join]
                    value = join.output[0]
                    continue
            if value in outputs or len(users) != 1 or users[0].op_type not in _SHAPING or users[0].op_type in _GATES:
                return chain or None
            if users[0].op_type == "Gather" and self.consts.get(users[0].input[1]) is None:
                return chain or None
            chain.append(users[0])
            value = users[0].output[0]

    def _between(self, x: str, cells: list, end: list) -> list:
        """Every node from the input's shaping to the end, the weights' preparation included."""
        nodes = list(cells) + list(end)
        for cell in cells:
            v = cell.input[0]
            while v != x and self.producer.get(v):
                p = self.producer[v]
                if p.op_type not in _TIME_FIRST or p in nodes:
                    break
                nodes.append(p)
                v = p.input[0]
            for extra in cell.output[1:]:
                for u in self._users_of(extra):
                    if u.op_type in _SHAPING and u not in end:
                        nodes.append(u)
            # initial states built from the batch size (torch: zeros of N x H), and step counts
            stack = [i for i in cell.input[4:] if i]
            while stack:
                p = self.producer.get(stack.pop())
                if p is not None and p not in nodes and p.op_type in _SIZES | {"Shape"}:
                    nodes.append(p)
                    stack.extend(i for i in p.input if i and p.op_type != "Shape")
        return nodes

    def op_Recurrent(self, node, a):
        r = self.recurrent[id(node)]
        x = self.fg.value(r["x"])
        t = self.fg.types[x]
        first = r["cells"][0]
        cell = attrs(first)
        hidden = int(cell["hidden_size"])
        direction = cell.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if not t.is_sequence or direction == "reverse" or r["kind"] == "GRU" and not cell.get("linear_before_reset"):
            return "a recurrent layer archlang has no form for (reverse only, or a GRU resetting before its product)"
        dirs = 2 if direction == "bidirectional" else 1
        weights = []
        order = _GATES[r["kind"]]
        for cell_node in r["cells"]:
            W, R = self.consts.get(cell_node.input[1]), self.consts.get(cell_node.input[2])
            B = self.consts.get(cell_node.input[3]) if len(cell_node.input) > 3 and cell_node.input[3] else None
            if W is None or R is None or B is None:
                return "a recurrent layer whose weights are computed, or without a bias"
            for d in range(dirs):
                gates = len(order)
                weights += [_reorder(W[d], order, hidden), _reorder(R[d], order, hidden),
                            _reorder(B[d][:gates * hidden], order, hidden), _reorder(B[d][gates * hidden:], order, hidden)]
        call = "lstm" if r["kind"] == "LSTM" else "gru"
        self.fg.add(node.output[0], call, [x], where=first.name, source=source(first, []), c=hidden,
                    layers=len(r["cells"]), bidirectional=dirs == 2, last=r["final"])
        self.fg.layers[-1].weights = tuple(weights)

    def expand_shapes(self) -> None:
        """An Expand of a constant (a class token, one per sample) reads its shape from the batch
        size however the exporter computes it (torch: Shape, ConstantOfShape, Equal, Where...):
        those nodes feed nothing else, and are not layers."""
        for node in self.model.graph.node:
            if node.op_type != "Expand" or self.consts.get(node.input[0]) is None:
                continue
            dropped = {id(node)}
            stack = [node.input[1]]
            while stack:
                p = self.producer.get(stack.pop())
                if p is None or id(p) in self.skip or self.consts.get(p.input[0] if p.input else "") is not None \
                        and p.op_type == "Expand":
                    continue
                if all(id(u) in dropped for o in p.output for u in self.users.get(o, [])):
                    self.skip.add(id(p))
                    dropped.add(id(p))
                    stack.extend(i for i in p.input if i)

    def _projections_before(self, softmax) -> list:
        """The MatMuls by constant weights that the softmax's scores come from, all reading one
        value: one D x 3D, or three D x D (Q, K, V); empty where it is not so."""
        found, seen, stack = [], set(), [softmax]
        while stack:
            node = stack.pop()
            if node.op_type == "Shape":  # a size (for a mask), not the values the scores come from
                continue
            for i in node.input:
                p = self.producer.get(i)
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                w = self.consts.get(p.input[1]) if p.op_type == "MatMul" and len(p.input) > 1 else None
                if w is not None and w.ndim == 2:
                    found.append(p)
                elif len(seen) < 64:
                    stack.append(p)
        if len({p.input[0] for p in found}) != 1:
            return []
        shapes = sorted(self.consts[p.input[1]].shape for p in found)
        d = shapes[0][0]
        if shapes == [(d, 3 * d)] or shapes == [(d, d)] * 2:  # Q and K feed the scores; V joins after
            return found
        return []

    def _region(self, starts: list, dim: int) -> dict | None:
        """The nodes from the Q, K, V projections to the D x D output projection (and its bias),
        if everything in between is read only inside; None where it is not attention."""
        x = starts[0].input[0]
        if len(starts) == 2:  # Q and K apart: V is the other D x D projection of x
            v = [u for u in self.users.get(x, []) if u.op_type == "MatMul" and u not in starts
                 and self.consts.get(u.input[1]) is not None and self.consts[u.input[1]].shape == (dim, dim)]
            if len(v) != 1:
                return None
            starts = [*sorted(starts, key=self._position), v[0]]
        start = starts[0]
        inside, frontier, last = list(starts), list(starts), None
        seen = {id(s) for s in starts}
        while frontier:
            node = frontier.pop()
            for out in node.output:
                for user in self.users.get(out, []):
                    if id(user) in seen:
                        continue
                    w = self.consts.get(user.input[1]) if user.op_type == "MatMul" and len(user.input) > 1 else None
                    if w is not None and w.shape == (dim, dim):
                        last = user  # the output projection: the region ends here
                        seen.add(id(user))
                        continue
                    seen.add(id(user))
                    inside.append(user)
                    frontier.append(user)
                    if len(inside) > 64:
                        return None
        if last is None:
            return None
        bias_add = None
        users = self.users.get(last.output[0], [])
        if len(users) == 1 and users[0].op_type == "Add" and any(
                self.consts.get(i) is not None and self.consts[i].shape == (dim,) for i in users[0].input):
            bias_add = users[0]
        # nodes feeding the region from outside it: only x, and sizes computed from x's shape
        # (the positions of a causal mask), which become part of the region
        produced = {o for n in inside for o in n.output}
        k = 0
        while k < len(inside):
            if inside[k].op_type == "Shape":  # reads only a size, of whatever value
                k += 1
                continue
            for i in inside[k].input:
                if not i or i in produced or i in self.consts or i == x:
                    continue
                p = self.producer.get(i)
                if p is None or p.op_type not in _SIZES | _MASKING or len(inside) > 64:
                    return None
                inside.append(p)
                produced.update(p.output)
            k += 1
        ops = [n.op_type for n in inside]
        if "Softmax" not in ops:
            return None
        heads = self._heads(inside, dim)
        if heads is None:
            return None
        if len(starts) == 3:  # apart: weights and biases stacked as one, Q, K, V in order
            w_in = np.concatenate([self.consts[s.input[1]] for s in starts], axis=1)
            biases = [self._bias_of(s, dim) for s in starts]
            qkv_bias = None if any(b is None for b in biases) else np.concatenate(biases)
            separate = True
        else:
            w_in = self.consts[start.input[1]]
            qkv_bias = self._bias_of(start, 3 * dim)
            separate = len(self.parts.get(start.input[1], ())) == 3
        nodes = inside + [last] + ([bias_add] if bias_add is not None else [])
        return {"x": x, "dim": dim, "heads": heads, "causal": any(op in _MASKING for op in ops), "nodes": nodes,
                "separate": separate,
                "last": bias_add if bias_add is not None else last, "w_in": w_in,
                "b_in": qkv_bias, "w_out": self.consts[last.input[1]],
                "b_out": None if bias_add is None else next(self.consts[i] for i in bias_add.input
                                                           if self.consts.get(i) is not None),
                "first": start}

    def _position(self, node) -> int:
        return next(k for k, n in enumerate(self.model.graph.node) if n is node)

    def _bias_of(self, projection, width: int):
        """The constant added right after a projection, if any."""
        for user in self.users.get(projection.output[0], []):
            if user.op_type == "Add":
                for i in user.input:
                    c = self.consts.get(i)
                    if c is not None and c.shape == (width,):
                        return c
        return None

    def _heads(self, inside, dim: int) -> int | None:
        """The number of heads: from the Reshape that splits the features into heads
        (N x L x 3 x H x D/H, or N x L x H x D/H for Q, K and V apart)."""
        for n in inside:
            if n.op_type != "Reshape":
                continue
            shape = self._partial_shape(n.input[1])
            if not shape or len(shape) not in (4, 5) or len(shape) == 5 and shape[2] != 3:
                continue
            heads, width = shape[-2], shape[-1]  # the width per head may be computed (D // H)
            if isinstance(heads, int) and heads > 0 and dim % heads == 0 and width in (None, dim // heads):
                return heads
        return None

    def _partial_shape(self, name: str) -> list | None:
        """A reshape's target as far as it is constant: torch computes N and L from the input's
        shape (None here) and writes 3, H and D/H as constants."""
        c = self.consts.get(name)
        if c is not None:
            return [int(v) for v in np.atleast_1d(c)]
        p = self.producer.get(name)
        if p is None or p.op_type != "Concat":
            return None
        out = []
        for i in p.input:
            c = self.consts.get(i)
            out.extend([int(v) for v in np.atleast_1d(c)] if c is not None else [None])
        return out

    def op_Attention(self, node, a):
        r = self.attention[id(node)]
        x = self.fg.value(r["x"])
        t = self.fg.types[x]
        if not t.is_sequence or t.channels != r["dim"]:
            return "attention on a value that is not a sequence of its width (give --input-shape [L]xD)"
        bias = r["b_in"] is not None and r["b_out"] is not None
        self.fg.add(node.output[0], "attention", [x], where=r["first"].name, source=source(r["first"], []),
                    heads=r["heads"], causal=r["causal"], bias=bias, separate=r["separate"])
        w_in = r["w_in"].T  # archlang's in_proj_weight is 3D x D, as torch's
        ins = list(np.split(w_in, 3)) if r["separate"] else [w_in]
        b_ins = list(np.split(r["b_in"], 3)) if bias and r["separate"] else [r["b_in"]]
        pairs = [t for w, b in zip(ins, b_ins) for t in ((w, b) if bias else (w,))]
        weights = [*pairs, r["w_out"].T, r["b_out"]] if bias else [*pairs, r["w_out"].T]
        self.fg.layers[-1].weights = tuple(weights)

    # -- between maps and sequences --------------------------------------------------------
    def op_Tokens(self, node, a):
        reshape = self.tokens[id(node)]
        x = self.fg.value(reshape.input[0])
        t = self.fg.types[x]
        target = self.shape_value(reshape.input[1])
        if t.tokens or not t.rank or target is None or len(target) != 3 or target[1] != t.channels \
                or target[2] not in (-1, t.numel // t.channels):
            return "a reshape and transpose that is not a map's positions as tokens"
        self.fg.add(node.output[0], "tokens", [x], where=node.name, source=source(node, []))

    def op_Grid(self, node, a):
        x = self.fg.value(self.grids[id(node)])
        t = self.fg.types[x]
        shape = self.shape_value(node.input[1])
        if not t.is_sequence or shape is None or len(shape) != 4 or shape[1] != t.channels:
            return "a transpose and reshape that is not a sequence laid out as a map"
        self.fg.add(node.output[0], "grid", [x], where=node.name, source=source(node, []), h=int(shape[2]),
                    w=int(shape[3]))

    # -- embeddings, positions, class token, one token, the mean --------------------------
    def op_Gather(self, node, a):
        table = self.consts.get(node.input[0])
        if table is not None and self.x(node, 1) in self.fg.types and self.fg.types[self.x(node, 1)].ids:
            if a.get("axis", 0) != 0 or table.ndim != 2:
                return "a gather of an embedding table on another axis"
            self.fg.add(node.output[0], "embed", [self.x(node, 1)], where=node.name, source=source(node, [node.input[0]]),
                        weights=(table,), vocab=int(table.shape[0]), c=int(table.shape[1]))
            self.owners[self.origins.get(node.input[0], node.input[0])] = node.output[0]
            return None
        if node.input[0] in self.fg.types or self.fg.value(node.input[0]) in self.fg.types:
            t = self.fg.types[self.x(node)]
            index = self.consts.get(node.input[1])
            if t.is_sequence and a.get("axis", 0) == 1 and index is not None and index.ndim == 0:
                self.add(node, "token", index=int(index) % t.tokens)
                return None
            return "a gather of data other than one token"
        return self.shape_gather(node, a)

    def op_ReduceMean(self, node, a):
        t = self.fg.types[self.x(node)]
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.const(node.input[1])
        axes = [int(v) for v in np.atleast_1d(axes)] if axes is not None else []
        if t.is_sequence and [v % 3 for v in axes] == [1] and not a.get("keepdims", 1):
            self.add(node, "meantokens")
            return None
        return self.spatial_mean(node, a, t, axes)
