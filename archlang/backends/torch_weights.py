"""Backends, torch: copy weights between torch modules of the same architecture, matched by
order and shape.

A torchvision-style checkpoint names its tensors `layer1.0.conv1.weight`; a spec-built module
names them `bottleneck1.cbn1.conv1.weight`. Names differ, so tensors are paired by position,
by the first of two rules that pairs every tensor:

1. In state_dict order, with equal shapes.
2. A module's own tensors after its submodules': both sides are reordered so that, at every
   level, tensors registered directly on a module (torchvision's CNBlock `layer_scale`) come
   after all its submodules' tensors, as archlang registers them. Shapes must be equal, or be
   a weight O x I and a convolution weight O x I x 1 (x 1 (x 1)): the same elements, reshaped
   (torchvision's ConvNeXt applies as Linear layers what archlang's 1x1 convolutions do), or
   the same sizes behind leading 1s (ViT's class token 1 x 1 x D and position table 1 x L x D,
   archlang's D and L x D). Nothing else is reshaped.

3. Named roles, then rules 1 and 2 for the rest: a transformer's class token and position
   table are registered where the reference's author put them (torchvision's ViT holds
   `class_token` on the model itself, before its patch convolution), not where the
   computation uses them. A tensor whose name says its role pairs with the other side's
   tensor of that role, in order: the class token (`class_token`, `cls_token`; archlang's
   `clstoken<N>.weight`) and the position table (`pos_embedding`, `pos_embed`,
   `position_embeddings.weight`; archlang's `posembed<N>.weight`), with leading 1s dropped.
   Every other tensor pairs by rule 1, or else rule 2.

Nothing is silent: when no rule pairs every tensor, the error names the first pair that
differs under rule 1. Everything is checked before anything is copied (shapes, the kind of
each dtype, and that no tensor is on the meta device): a mismatch leaves the module untouched.
"""

from __future__ import annotations

import re
from typing import Mapping, TypeVar, cast

import torch
from torch import nn

from ..errors import ArchError
from ..ir import sizes_text

__all__ = ["WeightsError", "load_weights"]

T = TypeVar("T")
Pair = tuple[str, torch.Tensor, str, object]  # our name and tensor, the source's name and value
TensorPair = tuple[str, torch.Tensor, str, torch.Tensor]

SAME = "the source must be the same architecture, with its tensors in the same order"


class WeightsError(ArchError):
    kind = "weights"


def _shape(t: object) -> str:
    if not isinstance(t, torch.Tensor):
        return type(t).__name__
    return sizes_text(tuple(t.shape)) if t.dim() else "scalar"


def _child_first(items: list[tuple[str, T]]) -> list[tuple[str, T]]:
    """Rule 2's order: each module's own tensors (a leaf name, no dot) after every tensor of
    its submodules, at every level; otherwise the order is kept."""
    own: list[tuple[str, T]] = []
    children: dict[str, list[tuple[str, T]]] = {}
    for key, value in items:
        child, dot, rest = key.partition(".")
        if dot:
            children.setdefault(child, []).append((rest, value))
        else:
            own.append((key, value))
    nested = [(f"{child}.{rest}", value) for child, inner in children.items() for rest, value in _child_first(inner)]
    return nested + own


def _reshapes(mine: torch.Tensor, tensor: torch.Tensor) -> bool:
    """A weight O x I against a convolution weight O x I x 1, x 1 x 1 or x 1 x 1 x 1; or the
    same sizes with leading 1s (a 1 x 1 x D class token against a D vector)."""
    short, long = sorted((tuple(mine.shape), tuple(tensor.shape)), key=len)
    if short and len(long) > len(short) and long[len(long) - len(short):] == short and \
            set(long[:len(long) - len(short)]) == {1}:
        return True
    return len(short) == 2 and 3 <= len(long) <= 5 and long[:2] == short and set(long[2:]) == {1}


def _fits(mine: torch.Tensor, tensor: object, reshape: bool) -> bool:
    return isinstance(tensor, torch.Tensor) and (
        mine.shape == tensor.shape or reshape and _reshapes(mine, tensor))


def _first_mismatch(pairs: list[Pair], reshape: bool) -> int | None:
    return next((i for i, (_, mine, _, tensor) in enumerate(pairs) if not _fits(mine, tensor, reshape)), None)


_ROLES = {
    "class token": re.compile(r"(?:^|\.)(?:class_token|cls_token|clstoken\d*\.weight)$"),
    "position table": re.compile(r"(?:^|\.)(?:pos_embedding|pos_embed|position_embeddings\.weight|posembed\d*\.weight)$"),
}


def _role(name: str) -> str | None:
    return next((role for role, pattern in _ROLES.items() if pattern.search(name)), None)


def _by_roles(ours: Mapping[str, torch.Tensor], theirs: Mapping[str, object]) -> list[Pair] | None:
    """Rule 3: tensors with a named role paired by role, the others by rule 1 or 2; None
    where it does not pair every tensor."""
    roles = [[(k, v) for k, v in side.items() if _role(k) == role] for role in _ROLES for side in (ours, theirs)]
    if not any(roles) or any(len(roles[i]) != len(roles[i + 1]) for i in range(0, len(roles), 2)):
        return None
    paired = [(name, mine, other, tensor) for i in range(0, len(roles), 2)
              for (name, mine), (other, tensor) in zip(roles[i], roles[i + 1])]
    if _first_mismatch(paired, reshape=True) is not None:
        return None
    rest_ours = {k: v for k, v in ours.items() if _role(k) is None}
    rest_theirs = {k: v for k, v in theirs.items() if _role(k) is None}
    rest = _by_rules_1_2(rest_ours, rest_theirs)
    return None if rest is None else paired + rest


def _by_rules_1_2(ours: Mapping[str, torch.Tensor], theirs: Mapping[str, object]) -> list[Pair] | None:
    if len(ours) != len(theirs):
        return None
    by_order = [(name, mine, other, tensor) for (name, mine), (other, tensor) in zip(ours.items(), theirs.items())]
    if _first_mismatch(by_order, reshape=False) is None:
        return by_order
    child_first = [(name, mine, other, tensor) for (name, mine), (other, tensor)
                   in zip(_child_first(list(ours.items())), _child_first(list(theirs.items())))]
    return child_first if _first_mismatch(child_first, reshape=True) is None else None


def _pair(ours: Mapping[str, torch.Tensor], theirs: Mapping[str, object]) -> list[TensorPair]:
    """The pairs of the first rule that pairs every tensor, or the error of rule 1."""
    by_order = [(name, mine, other, tensor) for (name, mine), (other, tensor) in zip(ours.items(), theirs.items())]
    pairs = _by_rules_1_2(ours, theirs)
    if pairs is None:
        pairs = _by_roles(ours, theirs)
    if pairs is not None:
        return cast(list[TensorPair], pairs)
    tried = (f"{SAME} (each module's own tensors after its submodules' was tried too, "
             "with O x I weights as O x I x 1 x 1 convolutions and leading 1s dropped, and class tokens and "
             "position tables paired by name)")
    i = _first_mismatch(by_order, reshape=False)
    if i is not None:
        name, mine, other, tensor = by_order[i]
        raise WeightsError(
            f"tensor {i + 1} differs: {name} is {_shape(mine)} here, {other} is {_shape(tensor)} in the source",
            hint=tried,
        )
    longer, which = (list(ours), "this module") if len(ours) > len(theirs) else (list(theirs), "the source")
    raise WeightsError(
        f"this module has {len(ours)} tensors and the source {len(theirs)}; "
        f"the first without a partner is {longer[len(by_order)]} in {which}",
        hint=SAME,
    )


def load_weights(module: nn.Module, source: nn.Module | Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy every parameter and buffer of `source` (a module or a state_dict) into `module`,
    paired by the module docstring's rules; returns `module`."""
    theirs = source.state_dict() if isinstance(source, nn.Module) else dict(source)
    ours = module.state_dict()
    pairs = _pair(ours, theirs)
    for i, (name, mine, other, tensor) in enumerate(pairs):
        if tensor.is_meta or mine.is_meta:
            where = "the source's" if tensor.is_meta else "this module's"
            raise WeightsError(
                f"{where} tensor {other if tensor.is_meta else name} is on the meta device and holds no values",
                hint="build or load the weights on a real device first",
            )
        if tensor.is_complex() or mine.is_floating_point() != tensor.is_floating_point():
            raise WeightsError(
                f"tensor {i + 1} differs in kind: {name} is {mine.dtype} here, {other} is {tensor.dtype} in the source",
                hint="weights must be real floating point (and counters integers); a cast would change them",
            )
    with torch.no_grad():
        for _, mine, _, tensor in pairs:
            mine.copy_(tensor.reshape(mine.shape))
    return module
