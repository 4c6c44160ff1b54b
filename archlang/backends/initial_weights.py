"""Backend helper: an IR graph -> its state (every layer's declared tensors) and initial
weights drawn with numpy, without torch.

Each op declares its tensors (`Op.tensors`: names, shapes, buffers, as torch's state_dict
holds them) and how each starts (`Op.init`, framework-neutral `Init` rules). The torch
builder maps the same rules to torch.nn.init (`torch_module.init_module`); here they are
drawn with numpy, so ONNX export needs no torch. Both follow the same distributions; the
values differ (two random generators).

Reproducibility: one `numpy.random.Generator(PCG64(seed))` per network, the seed taken
modulo 2**64 (so the command's range of torch seeds, -2**63 to 2**64 - 1, is accepted);
tensors are drawn in graph order, within a layer in the order of its `tensors()`, normal
ones as float32 `standard_normal` times the std, uniform ones as float32 `random` scaled to
[-b, b). Same graph, seed and numpy version: the same arrays, bit for bit, on any machine
(PCG64 and these draws do not depend on the platform; numpy's policy, NEP 19, allows a
Generator's streams to change between its feature releases). `seed=None` draws fresh entropy.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..ir import Graph
from ..ops.base import Init, StateTensor

__all__ = ["state_tensors", "draw_weights"]


def state_tensors(graph: Graph) -> dict[str, StateTensor]:
    """Every declared tensor of the graph by its state_dict key (`<layer>.<tensor>`), in graph
    order: what a module built from the graph holds, and what ONNX export writes from."""
    return {f"{node.name}.{t.name}": t for node in graph.layers for t in node.op.tensors()}


def _draw(rule: Init, tensor: StateTensor, shapes: Mapping[str, tuple[int, ...]], rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(tensor.dtype)
    if rule.rule == "zeros":
        return np.zeros(tensor.shape, dtype)
    if rule.rule == "ones":
        return np.ones(tensor.shape, dtype)
    if rule.rule == "constant":
        return np.full(tensor.shape, rule.value, dtype)
    scale = dtype.type(rule.scale(shapes))
    if rule.rule in ("kaiming_normal", "normal"):
        out = rng.standard_normal(tensor.shape, dtype=dtype)
        out *= scale
        return out
    # U(-b, b) as b * (2u - 1), u in [0, 1), in place: a 2.5 GB weight is not copied
    out = rng.random(tensor.shape, dtype=dtype)
    out *= 2 * scale
    out -= scale
    return out


def draw_weights(graph: Graph, seed: int | None = None) -> dict[str, np.ndarray]:
    """The graph's initial state (state_dict key -> array) by its ops' rules, drawn with numpy."""
    rng = np.random.Generator(np.random.PCG64(None if seed is None else seed % 2**64))
    weights: dict[str, np.ndarray] = {}
    for node in graph.layers:
        tensors = node.op.tensors()
        if not tensors:
            continue
        rules = {rule.tensor: rule for rule in node.op.init_rules()}
        shapes = {t.name: t.shape for t in tensors}
        for attr, other, name in node.op.ties():  # a tied weight's shape, for its bias's bound
            shapes[attr] = next(t.shape for t in graph.node(other).op.tensors() if t.name == name)
        for t in tensors:
            rule = rules.get(t.name)
            if rule is None:  # a registry bug: every declared tensor has a rule
                raise AssertionError(f"{node.op.name} declares the tensor '{t.name}' but no rule for it")
            weights[f"{node.name}.{t.name}"] = _draw(rule, t, shapes, rng)
    return weights
