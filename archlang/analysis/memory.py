"""How much memory a network needs, from the IR alone (torch is never imported): each layer's
activation, the weights, the peak of an inference forward, and one training step.

The figures follow what the module `backends/torch_module.build_module` makes really does on
CPU, tensor by tensor:

- Inference peak: the forward runs straight through the layers in graph order; a value is
  let go at the point `torch_plan.release_plan` says (its last reader, or the end of the
  block that took it from outside), layers that `torch_plan.inplace_plan` runs in place write
  into their input, and a value that is a view of another (flatten, a channel slice, dropout
  at inference, the tokens of a map) shares its storage, which lives as long as any view of
  it. While a layer runs its inputs and its output are alive, with what the layer makes and
  drops on the way (max pooling's int64 indices, attention's Q, K and V, the per-row mean
  and deviation of a layer norm). The peak is the weights plus the most bytes alive at once,
  the input and the outputs included.
- Training step: weights, one gradient per parameter, the optimizer's state (SGD with
  momentum: one buffer per parameter; Adam: two, and a float32 step count per parameter
  tensor) and the activations autograd keeps from the forward for the backward: what each
  op saves (`_RULES`: a convolution its input, batch norm its input and per-channel mean and
  inverse deviation, ReLU its output, max pooling its input and indices, dropout its mask,
  an in-place SiLU a copy of what it overwrites...), each storage once, with the input and
  the outputs. An op saves nothing where no gradient flows through it (before the first
  layer with parameters).

Bytes are those of the tensors torch's operators create (what a dispatcher-level tracker
counts), not the scratch space a kernel allocates inside (oneDNN's reordered weights, a
contiguous copy a kernel makes of a strided input), and not the allocator's rounding.
Activations are at `dtype` (token indices and pooling indices are int64, 8 bytes whatever
it is); so are weights, but for integer buffers (batch norm's int64 step count).

Per-op knowledge lives in `_RULES`, one function per registered op name (a test checks that
every op of the registry has one). The rules were read off torch 2.13's CPU kernels tensor by
tensor (tests/test_memory.py measures them); layouts matter where torch copies (a permuted
sequence through a linear layer, a strided map through flatten). LSTM follows oneDNN's RNN
(its training workspace, page-rounded parts, as rnn_utils lays it out) and GRU torch's
step-by-step cell: their inference peaks are fitted to within a few percent.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from ..ir import Graph, TensorType

__all__ = ["DTYPES", "OPTIMIZERS", "MemoryReport", "memory", "MemoryEstimateError", "UnknownDtype",
           "UnknownOptimizer", "BadBatch", "EstimateOverflow", "op_rules", "check_options"]

DTYPES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2}
"""The activation and weight dtypes `memory` takes, with their sizes in bytes."""

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
"""sgd: SGD with momentum (one buffer per parameter); adam: Adam (two, and a step count)."""

MAX_BYTES = 2**63 - 1  # the largest figure a signed 64-bit count holds
_INT64 = 8
_ADAM_STEP = 4  # torch.optim.Adam's per-parameter step: a float32 scalar tensor
_STATE_DTYPES = {"int64": 8, "int32": 4, "uint8": 1, "bool": 1}  # a StateTensor's dtype other than float


class MemoryEstimateError(ValueError):
    """A memory estimate asked for with arguments it cannot take, or too large to state."""


class UnknownDtype(MemoryEstimateError):
    """A dtype that is not one of `DTYPES`; the message lists them."""


class UnknownOptimizer(MemoryEstimateError):
    """An optimizer that is not one of `OPTIMIZERS`; the message lists them."""


class BadBatch(MemoryEstimateError):
    """A batch that is not a whole number of at least 1."""


class EstimateOverflow(MemoryEstimateError):
    """A figure above 2**63 - 1 bytes: said so, never wrapped."""


@dataclass(frozen=True)
class MemoryReport:
    """A network's memory at one batch size, dtype and optimizer, in bytes.

    activations: each node's output (inputs included), by node name, at `batch` and `dtype`;
    saved: for each layer, the bytes of the tensors its backward keeps that no earlier layer
    keeps already (a layer that saves its input, made by the layer before, counts it).
    weights = parameters + buffers; inference_peak = weights + inference_activations (the most
    activation bytes alive at once in an inference forward, at `peak_at`);
    training_step = weights + gradients + optimizer_state + training_activations (the inputs,
    the activations saved for backward, and the outputs)."""

    network: str
    batch: int
    dtype: str
    optimizer: str
    activations: Mapping[str, int] = field(repr=False, hash=False)
    saved: Mapping[str, int] = field(repr=False, hash=False)
    parameters: int
    buffers: int
    gradients: int
    optimizer_state: int
    inputs: int
    outputs: int
    saved_for_backward: int
    inference_activations: int
    peak_at: str
    training_activations: int

    @property
    def weights(self) -> int:
        return self.parameters + self.buffers

    @property
    def inference_peak(self) -> int:
        return self.weights + self.inference_activations

    @property
    def training_step(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.training_activations

    def to_dict(self, layers: bool = False) -> dict:
        """The figures in bytes: `weights`, `inference_peak` and `training_step` first, then
        their parts; with `layers`, each layer's activation and saved bytes."""
        out = {
            "weights": self.weights, "inference_peak": self.inference_peak, "training_step": self.training_step,
            "batch": self.batch, "dtype": self.dtype, "optimizer": self.optimizer,
            "parameters": self.parameters, "buffers": self.buffers, "gradients": self.gradients,
            "optimizer_state": self.optimizer_state, "inputs": self.inputs, "outputs": self.outputs,
            "inference_activations": self.inference_activations, "peak_at": self.peak_at,
            "saved_for_backward": self.saved_for_backward, "training_activations": self.training_activations,
        }
        if layers:
            out["layers"] = {name: {"activation": size, "saved": self.saved.get(name, 0)}
                             for name, size in self.activations.items()}
        return out


def memory(graph: Graph, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd") -> MemoryReport:
    """The memory `graph` needs at `batch` samples of `dtype` (see the module's doc); the
    training step with `optimizer`. MemoryEstimateError (a ValueError) for an unknown dtype or
    optimizer (the message lists the known ones), a batch below 1, or a figure that does not
    fit in 64 bits."""
    batch = check_options(batch, dtype, optimizer)
    size = DTYPES[dtype]

    parameters = buffers = tensors = 0
    for node in graph.layers:
        for t in node.op.tensors():
            n = math.prod(t.shape) * _STATE_DTYPES.get(t.dtype, size)
            if t.buffer:
                buffers += n
            else:
                parameters += n
                tensors += 1
    state = parameters if optimizer == "sgd" else 2 * parameters + _ADAM_STEP * tensors

    walk = _Walk(graph, batch, size)
    inference = walk.run(training=False)
    training = walk.run(training=True)
    inputs = sum(walk.sizes[n.name] for n in graph.inputs)
    outputs = sum(walk.sizes[o] for o in dict.fromkeys(graph.outputs))
    report = MemoryReport(
        network=graph.name, batch=batch, dtype=dtype, optimizer=optimizer,
        activations=MappingProxyType(walk.sizes), saved=MappingProxyType(training.saved),
        parameters=parameters, buffers=buffers, gradients=parameters, optimizer_state=state,
        inputs=inputs, outputs=outputs, saved_for_backward=training.kept,
        inference_activations=inference.peak, peak_at=inference.peak_at,
        training_activations=inputs + training.kept + training.outputs_not_kept,
    )
    _check_fits(report)
    return report


def check_options(batch: int, dtype: str, optimizer: str) -> int:
    """The batch as an int, or MemoryEstimateError for an unknown dtype or optimizer (the
    message lists the known ones) or a batch that is not a whole number of at least 1: the
    command line checks its options with it before it reads a spec."""
    if dtype not in DTYPES:
        raise UnknownDtype(f"unknown dtype {dtype!r}; known dtypes: {', '.join(DTYPES)}")
    if optimizer not in OPTIMIZERS:
        raise UnknownOptimizer(f"unknown optimizer {optimizer!r}; known optimizers: {', '.join(OPTIMIZERS)} "
                               "(sgd: SGD with momentum)")
    try:
        if isinstance(batch, bool):
            raise TypeError
        batch = operator.index(batch)
    except TypeError:
        raise BadBatch(f"the batch must be a whole number, not {batch!r}") from None
    if batch < 1:
        raise BadBatch(f"the batch must be at least 1, not {batch}")
    return batch


def _check_fits(report: MemoryReport) -> None:
    figures = {"weights": report.weights, "inference peak": report.inference_peak,
               "training step": report.training_step}
    for what, n in figures.items():
        if n > MAX_BYTES:
            raise EstimateOverflow(
                f"the {what} of {report.network} at batch {report.batch} ({report.dtype}) is {n:,} bytes, more "
                f"than a 64-bit count holds (2**63 - 1 = {MAX_BYTES:,}); not stated")


# -- the walk: values, the storages they live in, and when each is let go

NEW, INPLACE, VIEW = "new", "inplace", "view"
OUT = "out"  # a saved item: the layer's output
CONTIGUOUS, DENSE, STRIDED = "c", "p", "s"  # a value's layout: contiguous, permuted (channels last), a strided view


@dataclass(frozen=True)
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
class _Ctx:
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
        return self.batch * t.numel * (_INT64 if t.ids else self.size)

    def elems(self, n: int, size: int | None = None) -> int:
        """`n` elements per sample at the batch, of `size` bytes (the dtype's by default)."""
        return self.batch * n * (self.size if size is None else size)


@dataclass
class _Result:
    peak: int
    peak_at: str
    kept: int  # bytes saved for backward, the inputs' storages aside
    outputs_not_kept: int
    saved: dict[str, int]


class _Walk:
    def __init__(self, graph: Graph, batch: int, size: int) -> None:
        from ..backends.torch_plan import inplace_plan, release_plan

        self.graph, self.batch, self.size = graph, batch, size
        self.inplace = inplace_plan(graph)
        self.releases = release_plan(graph)
        self.sizes: dict[str, int] = {}
        for node in graph.nodes:
            t = node.type
            self.sizes[node.name] = batch * t.numel * (_INT64 if t.ids else size)
        # a gradient flows through a layer from its first layer with parameters on
        self.grad: dict[str, bool] = {}
        for node in graph.nodes:
            trained = bool(node.inputs) and (bool(node.op.ties()) or any(not t.buffer for t in node.op.tensors()))
            self.grad[node.name] = trained or any(self.grad[i] for i in node.inputs)

    def run(self, training: bool) -> _Result:
        graph, sizes = self.graph, self.sizes
        storage: dict[str, int] = {}  # value -> its storage (an index)
        nbytes: list[int] = []
        refs: list[int] = []  # values alive in each storage
        kept: list[bool] = []
        layout: dict[str, str] = {}
        inputs = set()
        saved: dict[str, int] = {}
        extra = 0  # tensors made for the backward alone (masks, indices, statistics)
        live = 0

        def allocate(n: int) -> int:
            nbytes.append(n)
            refs.append(0)
            kept.append(False)
            return len(nbytes) - 1

        for node in graph.inputs:
            s = allocate(sizes[node.name])
            storage[node.name] = s
            refs[s] = 1  # the caller holds its inputs
            inputs.add(s)
            layout[node.name] = CONTIGUOUS
            live += nbytes[s]
        peak, peak_at = live, graph.nodes[0].name
        for node in graph.layers:
            ins = graph.input_types(node)
            c = _Ctx(self.batch, self.size, training, self.inplace[node.name],
                     tuple(self.grad[i] for i in node.inputs), tuple(layout[i] for i in node.inputs))
            effect = rule_for(node.op)(node.op, ins, node.type, c)
            if effect.out == NEW:
                s = allocate(sizes[node.name])
                live += nbytes[s]
                layout[node.name] = effect.layout or CONTIGUOUS
            else:
                s = storage[node.inputs[0]]
                layout[node.name] = effect.layout or layout[node.inputs[0]]
            storage[node.name] = s
            refs[s] += 1
            if training and self.grad[node.name] and effect.saves:
                mine = 0
                for item in effect.saves:
                    if isinstance(item, str):  # OUT
                        target = s
                    elif isinstance(item, tuple):  # ("bytes", n): a tensor made for the backward
                        live += item[1]
                        extra += item[1]
                        mine += item[1]
                        continue
                    else:
                        target = storage[node.inputs[item]]
                    if not kept[target]:
                        kept[target] = True
                        if target not in inputs:
                            mine += nbytes[target]
                if mine:
                    saved[node.name] = mine
            at = live + effect.transient
            if effect.fold and not training:
                at = self._fold_peak(node, effect.fold, live - nbytes[s], storage, refs, kept, nbytes)
            if at > peak:
                peak, peak_at = at, node.name
            for value in self.releases.get(node.name, ()):
                v = storage[value]
                refs[v] -= 1
                if refs[v] == 0 and not kept[v]:
                    live -= nbytes[v]
        kept_bytes = extra + sum(n for i, n in enumerate(nbytes) if kept[i] and i not in inputs)
        out_storages = {storage[o] for o in graph.outputs}
        not_kept = sum(nbytes[s] for s in out_storages if not kept[s] and s not in inputs)
        return _Result(peak, peak_at, kept_bytes, not_kept, saved)

    def _fold_peak(self, node, steps, before, storage, refs, kept, nbytes) -> int:
        """The most bytes alive while a merge runs as binary steps: step k's result beside the
        one before it, less the inputs torch.fx let go after an earlier step (the ones this
        merge reads last; values held to a block's end go after the merge)."""
        last_step = {}
        for i, value in enumerate(node.inputs):
            last_step[value] = max(i, 1)
        gone_after: dict[int, list[str]] = {}
        for value in self.releases.get(node.name, ()):
            if value in last_step:
                gone_after.setdefault(last_step[value], []).append(value)
        left = {}
        freed = worst = 0
        for k, result in enumerate(steps, 1):
            worst = max(worst, before - freed + result + (steps[k - 2] if k > 1 else 0))
            for value in gone_after.get(k, ()):
                v = storage[value]
                left[v] = left.get(v, refs[v]) - 1
                if left[v] == 0 and not kept[v]:
                    freed += nbytes[v]
        return worst


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


def _stat(c: _Ctx) -> int:
    """The size of a norm's saved per-row statistics: the dtype's (torch's CPU kernels keep
    them in the parameters' dtype)."""
    return c.size


def _follow(c: _Ctx) -> str:
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
    indices = c.elems(out.numel, _INT64)
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
    indices = c.elems(out.numel, _INT64)
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


def _sequence_layout(op, c: _Ctx, steps: int) -> str:
    """A recurrent layer's output: its time-first output seen batch first (a permuted view),
    or the final hidden state."""
    return DENSE if not op.last and c.batch > 1 and steps > 1 else CONTIGUOUS
