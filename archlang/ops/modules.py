"""archlang's own torch modules, for the layers torch.nn has no class for.

Imported only by the torch backends, through `base.torch_class` (this module imports torch);
each class's source is also copied into generated files (`base.torch_class_source` reads it
as text), so each is written against `torch` and `nn` alone.

LayerNorm2d: nn.LayerNorm over the channel axis of an N x C x ... map, as torchvision's
             LayerNorm2d (ConvNeXt), for any spatial rank: channels last, normalise, back.
LayerScale:  x * weight with one learnable factor per channel, shaped C x 1 x ... x 1 as
             torchvision's ConvNeXt holds its `layer_scale`, starting at `init_value`.
SelfAttention: multi-head self-attention on N x L x D: one D -> 3D projection for queries,
             keys and values (nn.MultiheadAttention's in_proj_weight / in_proj_bias), heads of
             D/H features, torch's scaled_dot_product_attention (causal or not), a D -> D
             output projection. Its state is nn.MultiheadAttention's (and GPT-2's c_attn,
             c_proj) in order and shape.
PositionEmbedding: x + weight[:L], a learned vector per position (`positions` rows).
ClassToken:  a learned D-vector put before the tokens (ViT's class token).
SequenceLSTM, SequenceGRU: nn.LSTM and nn.GRU, batch first, returning the whole output
             sequence, or with last=True the last layer's final hidden state (both directions'
             side by side); their state is torch's own (weight_ih_l0, weight_hh_l0, ...).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerNorm2d", "LayerScale", "SelfAttention", "PositionEmbedding", "ClassToken", "SequenceLSTM",
           "SequenceGRU"]


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


class SelfAttention(nn.Module):
    """Multi-head self-attention over the tokens of an N x L x D sequence."""

    def __init__(self, dim, heads, causal=False, bias=True, dropout=0.0, separate=False):
        super().__init__()
        self.heads, self.causal, self.dropout, self.separate = heads, causal, dropout, separate
        if separate:  # Q, K and V apart (BERT's query, key, value)
            for p in "qkv":
                self.register_parameter(f"{p}_proj_weight", nn.Parameter(torch.empty(dim, dim)))
                self.register_parameter(f"{p}_proj_bias", nn.Parameter(torch.empty(dim)) if bias else None)
        else:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
            self.in_proj_bias = nn.Parameter(torch.empty(3 * dim)) if bias else None
        self.out_proj_weight = nn.Parameter(torch.empty(dim, dim))
        self.out_proj_bias = nn.Parameter(torch.empty(dim)) if bias else None
        self.reset_parameters()

    def forward(self, x):
        n, length, dim = x.shape
        if self.separate:
            q, k, v = (nn.functional.linear(x, getattr(self, f"{p}_proj_weight"), getattr(self, f"{p}_proj_bias"))
                       .view(n, length, self.heads, dim // self.heads).transpose(1, 2) for p in "qkv")
        else:
            qkv = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
            q, k, v = qkv.view(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        y = nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal)
        return nn.functional.linear(y.transpose(1, 2).reshape(n, length, dim), self.out_proj_weight, self.out_proj_bias)

    def reset_parameters(self):  # nn.MultiheadAttention's
        projections = [f"{p}_proj" for p in "qkv"] if self.separate else ["in_proj"]
        for name in projections:
            nn.init.xavier_uniform_(getattr(self, name + "_weight"))
        nn.init.kaiming_uniform_(self.out_proj_weight, a=5 ** 0.5)
        if self.out_proj_bias is not None:
            for name in projections:
                nn.init.zeros_(getattr(self, name + "_bias"))
            nn.init.zeros_(self.out_proj_bias)

    def extra_repr(self):
        return (f"{self.out_proj_weight.shape[0]}, heads={self.heads}, causal={self.causal}, "
                f"bias={self.out_proj_bias is not None}, dropout={self.dropout}, separate={self.separate}")


class PositionEmbedding(nn.Module):
    """x + weight[:L]: one learned vector per position, for sequences up to `positions` long."""

    def __init__(self, positions, dim, std=0.02):
        super().__init__()
        self.std = std
        self.weight = nn.Parameter(torch.empty(positions, dim))
        self.reset_parameters()

    def forward(self, x):
        return x + self.weight[: x.shape[1]]

    def reset_parameters(self):
        nn.init.normal_(self.weight, std=self.std)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}, std={self.std}"


class ClassToken(nn.Module):
    """A learned D-vector put before the tokens: N x L x D -> N x (L + 1) x D."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return torch.cat([self.weight.expand(x.shape[0], 1, -1), x], dim=1)

    def reset_parameters(self):
        nn.init.zeros_(self.weight)

    def extra_repr(self):
        return f"{self.weight.shape[0]}"


class SequenceLSTM(nn.LSTM):
    """nn.LSTM on N x L x D: the output sequence, or (last=True) the final hidden state."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, last=False):
        super().__init__(input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
        self.last = last

    def forward(self, x):
        out, (h, _) = super().forward(x)
        if not self.last:
            return out
        return torch.cat([h[-2], h[-1]], 1) if self.bidirectional else h[-1]


class SequenceGRU(nn.GRU):
    """nn.GRU on N x L x D: the output sequence, or (last=True) the final hidden state."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, last=False):
        super().__init__(input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
        self.last = last

    def forward(self, x):
        out, h = super().forward(x)
        if not self.last:
            return out
        return torch.cat([h[-2], h[-1]], 1) if self.bidirectional else h[-1]
