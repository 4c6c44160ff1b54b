"""What each op does to memory as the built module runs it on CPU (torch 2.13), one rule
per registered op: whether its output is a tensor of its own, written in place or a view of
its input; what it makes and lets go while it runs; what its backward keeps (`Effect`).
analysis/memory.py walks a graph with these rules.

Read off torch's CPU kernels tensor by tensor (tests/test_memory.py measures them): a
convolution or fc keeps its input; batch norm its input and per-channel mean and inverse
deviation; ReLU its output (the same storage in place), the other in-place activations a copy
of what they overwrite; max pooling its input and int64 indices; dropout its mask; sigmoid,
tanh and softmax their output; attention on CPU its input, Q, K, V, its output and a float32
log-sum-exp per head (with dropout in training, torch's math path); LSTM oneDNN's workspace
(its page-rounded parts, as rnn_utils lays them out), GRU torch's step-by-step cell. Layouts
matter where torch copies (a permuted sequence through a linear layer, a strided map through
flatten).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ..ir import TensorType
from ..records import record

__all__ = ["Effect", "Ctx", "rule_for", "op_rules", "NEW", "INPLACE", "VIEW", "OUT", "CONTIGUOUS", "DENSE",
           "STRIDED", "INT64"]

INT64 = 8  # bytes of an int64 (token indices, pooling indices, batch norm's step count)

NEW, INPLACE, VIEW = "new", "inplace", "view"
OUT = "out"  # a saved item: the layer's output
CONTIGUOUS, DENSE, STRIDED = "c", "p", "s"  # a value's layout: contiguous, permuted (channels last), a strided view


@record
class Effect:
    """What one layer does to memory.

    out: NEW (its output is a tensor of its own), INPLACE (written into its first input's
    storage) or VIEW (its first input's storage, seen another way); transient: bytes it makes
    and lets go while it runs, beyond its inputs and output (at their worst moment); saves:
    what its backward keeps while training: an input's index (0, 1, ...), OUT, or the bytes of
    a tensor it makes for the backward (indices, statistics, a mask); layout: its output's;
    fold: for a merge of n branches computed as n - 1 binary steps (torch.fx nodes of their
    own, after each of which the inputs it last read are let go), each step's result's bytes."""

    out: str = NEW
    transient: int = 0
    saves: tuple = ()
    layout: str | None = None
    fold: tuple[int, ...] = ()


@dataclass
class Ctx:
    """What a rule reads besides the op and the types: the batch, the dtype's size, whether
    the forward trains, whether the layer runs in place, and for each input whether a
    gradient flows into it and its layout."""

    batch: int
    size: int
    training: bool
    inplace: bool
    grads: tuple[bool, ...]
    layouts: tuple[str, ...]

    def nbytes(self, t: TensorType) -> int:
        """A tensor of type `t` at the batch: int64 for token indices, else the dtype."""
        return self.batch * t.numel * (INT64 if t.ids else self.size)

    def elems(self, n: int, size: int | None = None) -> int:
        """`n` elements per sample at the batch, of `size` bytes (the dtype's by default)."""
        return self.batch * n * (self.size if size is None else size)



def made(n: int) -> tuple:
    """A saved item: a tensor of `n` bytes that the op makes for its backward."""
    return ("bytes", n)


# -- the rules: one per op, what it allocates, lets go and keeps for the backward

Rule = Callable[..., Effect]
_RULES: dict[str, Rule] = {}


def _rule(*names: str):
    def register(fn: Rule) -> Rule:
        for name in names:
            _RULES[name] = fn
        return fn
    return register


def rule_for(op) -> Rule:
    """The memory rule of an op (KeyError naming it where it has none)."""
    try:
        return _RULES[op.name]
    except KeyError:
        raise KeyError(f"the memory analysis has no rule for the op {op.name!r}") from None


def op_rules() -> dict[str, Rule]:
    """Every op name the analysis knows, with its rule."""
    return dict(_RULES)


def _stat(c: Ctx) -> int:
    """The size of a norm's saved per-row statistics: the dtype's (torch's CPU kernels keep
    them in the parameters' dtype)."""
    return c.size


def _follow(c: Ctx) -> str:
    """The layout of an elementwise op's new output: a dense input's (channels last stays so),
    contiguous for a strided view."""
    return CONTIGUOUS if c.layouts[0] == STRIDED else c.layouts[0]


# What each activation's backward keeps: its output (OUT) or its input (0); written in place,
# relu keeps its output (the same storage), the others a copy of the input they overwrite
# (autograd's `original_self`, a new tensor of the input's size).
_ACTIVATIONS = {
    "relu": OUT, "relu6": 0, "leakyrelu": 0, "elu": 0, "gelu": 0, "silu": 0, "sigmoid": OUT, "tanh": OUT,
    "softmax": OUT, "logsoftmax": OUT, "hardswish": 0, "hardsigmoid": 0,
}


@_rule(*_ACTIVATIONS)
def _activation(op, ins, out, c):
    if c.inplace:
        keeps = OUT if op.name == "relu" else made(c.nbytes(ins[0]))
        return Effect(INPLACE, saves=(keeps,))
    return Effect(saves=(_ACTIVATIONS[op.name],), layout=_follow(c))


@_rule("conv", "dwconv", "convtranspose")
def _conv(op, ins, out, c):
    # ConvolutionBackward keeps its input (and the weight, a parameter); channels last in, out
    return Effect(saves=(0,), layout=DENSE if c.layouts[0] == DENSE else CONTIGUOUS)


@_rule("fc")
def _fc(op, ins, out, c):
    x = ins[0]
    if not x.tokens or c.layouts[0] == CONTIGUOUS:
        return Effect(saves=(0,))  # addmm / mm keep their input (a strided 2D one too)
    # a permuted sequence (tokens of a map, an LSTM's output) goes through matmul: its product
    # gets the bias out of place, and with a batch it is first copied to N*L x D (a copy the
    # backward keeps instead of the input); one sample's transpose folds as a view
    product = c.nbytes(out) if op.bias else 0
    if c.batch == 1:
        return Effect(transient=product, saves=(0,))
    copy = c.nbytes(x)
    if c.training:
        return Effect(transient=product, saves=(made(copy),))
    return Effect(transient=max(copy, product))


@_rule("bn")
def _bn(op, ins, out, c):
    if not c.training:
        return Effect(layout=_follow(c))  # running statistics: no per-batch mean and deviation
    stats = 2 * op.num_features * _stat(c)  # save_mean and save_invstd, per channel
    return Effect(saves=(0, made(stats)), layout=_follow(c))


@_rule("layernorm")
def _layernorm(op, ins, out, c):
    x = ins[0]
    rows = x.tokens if x.is_sequence else 1
    stats = 2 * c.elems(rows, _stat(c))  # mean and rstd per normalised row
    return Effect(transient=0 if c.training else stats, saves=(0, made(stats)))


@_rule("groupnorm")
def _groupnorm(op, ins, out, c):
    stats = 2 * c.elems(op.groups, _stat(c))
    return Effect(transient=0 if c.training else stats, saves=(0, made(stats)), layout=_follow(c))


@_rule("layernorm2d")
def _layernorm2d(op, ins, out, c):
    x = ins[0]
    positions = x.numel // x.channels
    stats = 2 * c.elems(positions, _stat(c))
    # layer_norm over the channels moved last: its output stays channels last
    trivial = x.channels == 1 or positions == 1
    return Effect(transient=0 if c.training else stats, saves=(0, made(stats)),
                  layout=CONTIGUOUS if trivial else DENSE)


@_rule("lrn")
def _lrn(op, ins, out, c):
    # F.local_response_norm: x*x, padded by size - 1 channels, averaged, scaled, shifted,
    # raised to beta; x divided by that. Backward keeps x, the padded squares (avg_pool's
    # input), the shifted base (pow's input) and the denominator (div's other).
    x = c.nbytes(ins[0])
    padded = c.elems((ins[0].channels + op.size - 1) * (ins[0].numel // ins[0].channels))
    if not c.training:
        # at worst the squares and their padded copy, or the pooled sum with its scaled and
        # shifted copies (the output's place counts for one)
        return Effect(transient=max(padded, 2 * x))
    return Effect(transient=2 * x, saves=(0, made(padded), made(x), made(x)))


@_rule("maxpool")
def _maxpool(op, ins, out, c):
    indices = c.elems(out.numel, INT64)
    if c.training:
        return Effect(saves=(0, made(indices)), layout=_follow(c))
    # at inference it still makes the int64 indices, and drops them
    return Effect(transient=indices, layout=_follow(c))


@_rule("avgpool")
def _avgpool(op, ins, out, c):
    return Effect(saves=(0,), layout=_follow(c))


@_rule("globalavgpool")
def _globalavgpool(op, ins, out, c):
    return Effect()  # adaptive pooling to 1 is a mean: its backward needs the sizes alone


@_rule("adaptiveavgpool")
def _adaptiveavgpool(op, ins, out, c):
    if all(s == 1 for s in op.output_size):
        return Effect()  # a mean, as globalavgpool
    return Effect(saves=(0,))


@_rule("globalmaxpool")
def _globalmaxpool(op, ins, out, c):
    indices = c.elems(out.numel, INT64)
    return Effect(transient=0 if c.training else indices, saves=(0, made(indices)))


@_rule("upsample")
def _upsample(op, ins, out, c):
    return Effect(layout=_follow(c))  # nearest and linear interpolation: backward needs the sizes


@_rule("flatten")
def _flatten(op, ins, out, c):
    if c.layouts[0] == CONTIGUOUS:
        return Effect(VIEW)
    return Effect(layout=CONTIGUOUS)  # reshape copies a permuted or strided tensor


@_rule("identity")
def _identity(op, ins, out, c):
    return Effect(VIEW)


@_rule("dropout")
def _dropout(op, ins, out, c):
    if not c.training or op.p == 0:
        return Effect(VIEW)  # nn.Dropout hands its input back
    if op.p == 1:
        return Effect(saves=(made(c.size),), layout=_follow(c))  # x * a zero scalar
    # CPU dropout: a mask of the input's size and dtype, then x * mask; mul keeps the mask
    return Effect(saves=(made(c.nbytes(ins[0])),), layout=_follow(c))


@_rule("stochasticdepth")
def _stochasticdepth(op, ins, out, c):
    if not c.training or op.p == 0:
        return Effect(VIEW)
    noise = c.size if op.batch else c.elems(1)  # one factor per sample (or per batch)
    return Effect(saves=(made(noise),), layout=_follow(c))


@_rule("layerscale")
def _layerscale(op, ins, out, c):
    return Effect(saves=(0,), layout=_follow(c))  # x * gamma: gamma's gradient needs x


@_rule("add")
def _add(op, ins, out, c):
    if c.inplace:
        return Effect(INPLACE)
    # ((a + b) + c) ...: one torch.fx node per sum
    return Effect(fold=(c.nbytes(out),) * (len(ins) - 1) if len(ins) > 2 else (), layout=_follow(c))


@_rule("concat")
def _concat(op, ins, out, c):
    return Effect()  # torch.cat: a new tensor; its backward slices the gradient


@_rule("mul")
def _mul(op, ins, out, c):
    # ((a * b) * c) ...: one torch.fx node per product; each keeps its left factor where a
    # gradient flows to its right one and its right factor where one flows to its left (a
    # partial product kept so is a tensor made here)
    saves: list = []
    partials: list[int] = []
    shape = ins[0].shape
    for k, t in enumerate(ins[1:], 1):
        if c.grads[k]:
            saves.append(made(partials[-1]) if k > 1 else 0)
        if any(c.grads[:k]):
            saves.append(k)
        shape = tuple(max(a, b) for a, b in zip(shape, t.shape))
        partials.append(c.elems(math.prod(shape)))
    return Effect(saves=tuple(saves), fold=tuple(partials) if len(ins) > 2 else (), layout=_follow(c))


# views: no storage of their own, no saved tensors

@_rule("tokens")
def _tokens(op, ins, out, c):
    x = ins[0]
    trivial = x.channels == 1 or x.numel == x.channels
    return Effect(VIEW, layout=c.layouts[0] if trivial else {CONTIGUOUS: DENSE, DENSE: CONTIGUOUS}.get(
        c.layouts[0], STRIDED))


@_rule("grid")
def _grid(op, ins, out, c):
    x = ins[0]
    trivial = x.channels == 1 or x.tokens == 1
    return Effect(VIEW, layout=c.layouts[0] if trivial else {CONTIGUOUS: DENSE, DENSE: CONTIGUOUS}.get(
        c.layouts[0], STRIDED))


@_rule("token")
def _token(op, ins, out, c):
    return Effect(VIEW, layout=CONTIGUOUS if c.batch == 1 or ins[0].tokens == 1 else STRIDED)


@_rule("slice")
def _slice(op, ins, out, c):
    whole = op.stop - op.start == ins[0].channels
    return Effect(VIEW, layout=c.layouts[0] if whole else CONTIGUOUS if c.batch == 1 else STRIDED)


@_rule("crop")
def _crop(op, ins, out, c):
    return Effect(VIEW, layout=c.layouts[0] if op.sizes == ins[0].spatial else STRIDED)


@_rule("shuffle")
def _shuffle(op, ins, out, c):
    return Effect()  # channel_shuffle: a new tensor; its backward shuffles back


# sequences

@_rule("embed")
def _embed(op, ins, out, c):
    return Effect(saves=(0,))  # the indices (the network's input, in practice)


@_rule("posembed")
def _posembed(op, ins, out, c):
    return Effect(layout=_follow(c))  # x + table[:L]: the sum keeps x's layout; nothing kept


@_rule("clstoken", "meantokens")
def _new_only(op, ins, out, c):
    return Effect()  # cat([token, x]), x.mean(1): nothing kept but sizes


@_rule("attention")
def _attention(op, ins, out, c):
    x = ins[0]
    d, length, heads = x.channels, x.tokens, op.heads
    seq = c.elems(length * d)  # one N x L x D tensor
    projections = 3 if op.separate else 1
    # a permuted input (the tokens of a map) goes through matmul as in fc: copied first when
    # there is a batch, and the bias added out of place
    permuted = c.layouts[0] != CONTIGUOUS
    copied = permuted and c.batch > 1
    inputs = tuple(made(seq) for _ in range(projections)) if copied else (0,)
    if c.training and op.dropout > 0:
        # dropout on the weights: scaled_dot_product_attention's math path (in float32 on CPU,
        # whatever the dtype). Its backward keeps copies of the scaled Q and K and of V, the
        # softmax, the dropout mask and the dropped weights (N x H x L x L each), and the heads
        # merged back (a copy, in the dtype again)
        wide = c.elems(3 * length * d, 4)
        scores = c.elems(3 * heads * length * length, 4)
        return Effect(saves=inputs + (made(wide), made(scores), made(seq)))
    # the flash kernel for CPU: Q, K, V (one N x L x 3D projection, or three), the output
    # (N x L x D) and a float32 log-sum-exp per head and query. All stay referenced until the
    # output projection has run; the backward keeps them (and the input of each projection)
    lse = c.elems(heads * length, 4)
    if c.training:
        return Effect(saves=inputs + (made(3 * seq), made(seq), made(lse)))
    projecting = 3 * seq + (max(seq if copied else 0, 3 * seq // projections if op.bias else 0) if permuted else 0)
    attending = 4 * seq + max(lse, seq)
    return Effect(transient=max(projecting, attending) - seq)


def _ld(n: int) -> int:
    """oneDNN's 'good' leading dimension of n float32s: n rounded up to 16, plus 16 where that
    is a multiple of 256 (to avoid cache aliasing)."""
    n = -(-n // 16) * 16
    return n + 16 if n % 256 == 0 else n


def _pages(n: int) -> int:
    return -(-n // 4096) * 4096


def _lstm_workspace(steps: int, batch: int, inputs: int, hidden: int) -> int:
    """The bytes of the workspace oneDNN's LSTM keeps for the backward, per layer and
    direction (float32): gates, hidden states, three copies of the layer's states and two of
    the cell states, each part rounded up to a page (rnn_utils set_offsets)."""
    states = 2 * (steps + 1) * batch
    return (_pages(steps * batch * _ld(4 * hidden) * 4) + _pages(steps * batch * _ld(hidden) * 4)
            + 3 * _pages(states * _ld(max(inputs, hidden)) * 4) + 2 * _pages(states * hidden * 4))


@_rule("lstm", "gru")
def _recurrent(op, ins, out, c):
    x = ins[0]
    steps, n, h, dirs, layers = x.tokens, c.batch, op.hidden, op.dirs, op.layers
    lstm = op.name == "lstm"
    state = n * h * c.size
    zeros = (2 if lstm else 1) * layers * dirs * state  # h0 (and c0)
    # batch first to time first: a copy, unless one sample makes the transpose contiguous
    copy = c.nbytes(x) if n > 1 and steps > 1 else 0
    layer_out = steps * n * h * c.size  # one direction's output sequence
    widths = [op.input_size] + [h * dirs] * (layers - 1)
    if lstm:
        # oneDNN's LSTM, layer by layer and direction by direction: output, h_n, c_n (and a
        # workspace while training); both directions' outputs are concatenated
        if not c.training:
            finals = layers * dirs * state  # one layer's h_n or c_n parts, all layers
            # a layer's outputs, and both directions' side by side (of a lower layer, one
            # direction's is let go by the time the next layer's are made)
            one = dirs * layer_out + ((2 if layers == 1 else 1) * layer_out if dirs == 2 else 0)
            during = zeros + copy + 2 * finals + max(min(layers, 2) * one, one + 2 * finals)
            return Effect(transient=max(0, during - c.nbytes(out)), layout=_sequence_layout(op, c, steps))
        kept = zeros + copy
        for layer, width in enumerate(widths):
            kept += dirs * (layer_out + 2 * state + _lstm_workspace(steps, n, width, h))
            if dirs == 2 and layer < layers - 1:
                kept += 2 * layer_out  # the concatenated outputs, the next layer's input
        return Effect(saves=(made(kept),) + (() if copy else (0,)), layout=_sequence_layout(op, c, steps))
    # GRU: torch's own cell, step by step: the input projection for every step at once (the
    # first layer's as a product and a sum with the bias, N x L x 3H each), then per step the
    # hidden projection (N x 3H) and N x H gates and states; each direction's steps stacked.
    # At worst: both projections of the first layer, after the forward direction's outputs
    if not c.training:
        gates = steps * n * 3 * h * c.size
        # (one sample's input is time first already: one projection with its bias, no copy)
        project = max(copy + gates, 2 * gates) if n > 1 else gates
        flipped = layer_out if n == 1 and dirs == 2 else 0  # one sample's reverse pass: a copy more
        during = max(project, gates + 2 * layer_out) if dirs == 1 else gates + 2 * layer_out + project + flipped
        if layers > 1:  # a later layer: the previous outputs, its projections and its steps
            during = max(during, dirs * layer_out + dirs * gates + 2 * layer_out + flipped)
        return Effect(transient=max(0, zeros + during - c.nbytes(out)), layout=_sequence_layout(op, c, steps))
    kept = zeros + copy * dirs  # the reverse direction copies the first layer's input again
    for layer in range(layers):
        kept += dirs * (7 * steps - 1) * state
        if layer < layers - 1:
            kept += dirs * layer_out  # the stacked outputs, the next layer's input
    return Effect(saves=(made(kept),) + (() if copy else (0,)), layout=_sequence_layout(op, c, steps))


def _sequence_layout(op, c: Ctx, steps: int) -> str:
    """A recurrent layer's output: its time-first output seen batch first (a permuted view),
    or the final hidden state."""
    return DENSE if not op.last and c.batch > 1 and steps > 1 else CONTIGUOUS
