"""Copy weights between torch modules of the same architecture, matched by order and shape.

A torchvision-style checkpoint names its tensors `layer1.0.conv1.weight`; a spec-built module
names them `bottleneck1.cbn1.conv1.weight`. The order of parameters and buffers is the same
whenever the architectures are, so tensors are paired by position and checked by shape.
Everything is checked before anything is copied: a mismatch leaves the module untouched.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..errors import ArchError

__all__ = ["WeightsError", "load_weights"]


class WeightsError(ArchError):
    kind = "weights"


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) if t.dim() else "scalar"


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
