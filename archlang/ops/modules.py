"""archlang's own torch modules, for the layers torch.nn has no class for.

Imported only by the torch backends, through `base.torch_class` (this module imports torch);
each class's source is also copied into generated files (`base.torch_class_source` reads it
as text), so each is written against `torch` and `nn` alone.

LayerNorm2d: nn.LayerNorm over the channel axis of an N x C x ... map, as torchvision's
             LayerNorm2d (ConvNeXt), for any spatial rank: channels last, normalise, back.
LayerScale:  x * weight with one learnable factor per channel, shaped C x 1 x ... x 1 as
             torchvision's ConvNeXt holds its `layer_scale`, starting at `init_value`.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerNorm2d", "LayerScale"]


class LayerNorm2d(nn.LayerNorm):
    """nn.LayerNorm(C) at every position of an N x C x ... map (torchvision's LayerNorm2d)."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class LayerScale(nn.Module):
    """x * weight, one learnable factor per channel (ConvNeXt's layer scale)."""

    def __init__(self, channels, rank, init_value=1e-6):
        super().__init__()
        self.init_value = init_value
        self.weight = nn.Parameter(torch.full((channels,) + (1,) * rank, float(init_value)))

    def forward(self, x):
        return x * self.weight

    def reset_parameters(self):
        nn.init.constant_(self.weight, self.init_value)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, rank={self.weight.dim() - 1}, init_value={self.init_value}"
