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
  op saves (memory_rules.py: a convolution its input, batch norm its input and per-channel mean and
  inverse deviation, ReLU its output, max pooling its input and indices, dropout its mask,
  an in-place SiLU a copy of what it overwrites...), each storage once, with the input and
  the outputs. An op saves nothing where no gradient flows through it (before the first
  layer with parameters).

Bytes are those of the tensors torch's operators create (what a dispatcher-level tracker
counts), not the scratch space a kernel allocates inside (oneDNN's reordered weights, a
contiguous copy a kernel makes of a strided input), and not the allocator's rounding.
Activations are at `dtype` (token indices and pooling indices are int64, 8 bytes whatever
it is); so are weights, but for integer buffers (batch norm's int64 step count).

Per-op knowledge lives in analysis/memory_rules.py, one rule per registered op name (a test
checks that every op of the registry has one). The rules were read off torch 2.13's CPU kernels tensor by
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
from typing import Mapping

from ..ir import Graph
from ..records import record
from .memory_rules import CONTIGUOUS, INT64, NEW, Ctx, op_rules, rule_for

__all__ = ["DTYPES", "OPTIMIZERS", "MemoryReport", "memory", "MemoryEstimateError", "UnknownDtype",
           "UnknownOptimizer", "BadBatch", "EstimateOverflow", "op_rules", "check_options"]

DTYPES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2}
"""The activation and weight dtypes `memory` takes, with their sizes in bytes."""

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
"""sgd: SGD with momentum (one buffer per parameter); adam: Adam (two, and a step count)."""

MAX_BYTES = 2**63 - 1  # the largest figure a signed 64-bit count holds
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


@record
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
            self.sizes[node.name] = batch * t.numel * (INT64 if t.ids else size)
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
            c = Ctx(self.batch, self.size, training, self.inplace[node.name],
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

