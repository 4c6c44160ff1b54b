"""Copy weights between torch modules of the same architecture, matched by order and shape.

A torchvision-style checkpoint names its tensors `layer1.0.conv1.weight`; a spec-built module
names them `bottleneck1.cbn1.conv1.weight`. The order of parameters and buffers is the same
whenever the architectures are, so tensors are paired by position and checked by shape.
Everything is checked before anything is copied (shapes, the kind of each dtype, and that
no tensor is on the meta device): a mismatch leaves the module untouched.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..errors import ArchError
from ..ir import sizes_text

__all__ = ["WeightsError", "load_weights"]


class WeightsError(ArchError):
    kind = "weights"


def _shape(t: torch.Tensor) -> str:
    return sizes_text(tuple(t.shape)) if t.dim() else "scalar"


def load_weights(module: nn.Module, source: nn.Module | Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy every parameter and buffer of `source` (a module or a state_dict) into `module`."""
    theirs = source.state_dict() if isinstance(source, nn.Module) else dict(source)
    ours = module.state_dict()
    pairs = list(zip(ours.items(), theirs.items()))
    for i, ((name, mine), (other, tensor)) in enumerate(pairs):
        if not isinstance(tensor, torch.Tensor) or mine.shape != tensor.shape:
            shape = _shape(tensor) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise WeightsError(
                f"tensor {i + 1} differs: {name} is {_shape(mine)} here, {other} is {shape} in the source",
                hint="the source must be the same architecture, with its tensors in the same order",
            )
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
    if len(ours) != len(theirs):
        longer, which = (list(ours), "this module") if len(ours) > len(theirs) else (list(theirs), "the source")
        raise WeightsError(
            f"this module has {len(ours)} tensors and the source {len(theirs)}; "
            f"the first without a partner is {longer[len(pairs)]} in {which}",
            hint="the source must be the same architecture, with its tensors in the same order",
        )
    with torch.no_grad():
        for (_, mine), (_, tensor) in pairs:
            mine.copy_(tensor)
    return module
