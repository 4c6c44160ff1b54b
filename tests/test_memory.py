"""Memory estimates (archlang/analysis/memory.py) against what PyTorch really allocates on CPU.

What is measured: every storage an aten operator creates while the built module runs, seen by
a TorchDispatchMode (each operator's outputs, below autograd, so the tensors autograd saves
are among them) and let go when its storage is freed (a weakref finalizer on the storage):
the bytes of tensors alive at each moment, without the allocator's rounding or a kernel's
own scratch space. Weights and the input are there before and are counted apart.

- inference peak: one forward in eval mode under no_grad, the most bytes alive at once;
- training: one forward in train mode, then the output dropped: what is still alive is what
  autograd keeps for the backward. Gradients: the CPU module's backward (vgg11's would take
  seconds: there, and as a check everywhere, the same module built on the meta device, whose
  backward makes the same gradient tensors without the arithmetic); optimizer state: one
  SGD-with-momentum step and one Adam step of torch.optim on the meta parameters, checked
  against real steps on the small networks.

Weights, gradients and optimizer state must match exactly; activations within 10%. The
networks' weights are zeros (drawing vgg11's 133 million takes most of a second; values
change nothing that is allocated).
"""

from __future__ import annotations

import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import archlang
from archlang.analysis.memory import (DTYPES, MAX_BYTES, OPTIMIZERS, BadBatch, EstimateOverflow, MemoryEstimateError,
                                      UnknownDtype, UnknownOptimizer, memory, op_rules)
from archlang.backends.torch_module import build_module, example_input
from archlang.ops.base import canonical_ops

BATCH = 8
NETWORKS = ["mlp", "lenet5", "resnet18", "vgg11"]
TOLERANCE = 0.10


class StorageTracker(TorchDispatchMode):
    """Bytes of the storages aten operators create, alive now (`live`) and at most (`peak`);
    storages that exist when it starts (`outside`: weights, inputs) are not counted."""

    def __init__(self, outside=()) -> None:
        super().__init__()
        self.known = {t.untyped_storage()._cdata for t in outside}
        self.live = self.peak = 0

    def _freed(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self.known.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self.known:
                    self.known.add(key)
                    self.live += storage.nbytes()
                    weakref.finalize(storage, self._freed, key, storage.nbytes())
        self.peak = max(self.peak, self.live)
        return out


def storage_bytes(tensors) -> int:
    """The bytes of the distinct storages under `tensors` (a tied weight once)."""
    return sum({t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in tensors}.values())


def measure(graph, model, batch: int, optimizers: bool = True, cpu_backward: bool = True) -> dict[str, int]:
    """What torch allocates for `model` at `batch` (see the module's doc). Gradients and the
    optimizers' state come from the same module built on the meta device (autograd's and
    torch.optim's own tensors, with their shapes and dtypes, none of the arithmetic); with
    `cpu_backward` the CPU module's backward must give the same gradients, and for a small
    network one real step of each optimizer the same state."""
    torch.manual_seed(0)
    xs = [example_input(n.type, batch) for n in graph.inputs]
    state = list(model.state_dict().values())
    params = list(model.parameters())
    got = {"inputs": storage_bytes(xs), "weights": storage_bytes(state), "parameters": storage_bytes(params)}
    model.eval()
    with torch.no_grad(), StorageTracker(state + xs) as tracker:
        out = model(*xs)
        del out
    got["inference_activations"] = got["inputs"] + tracker.peak
    model.train()
    with StorageTracker(state + xs) as tracker:
        loss = total(model(*xs))
        got["saved_for_backward"] = tracker.live - storage_bytes([loss])
    if not optimizers:
        return got
    meta = build_module(graph, device="meta").train()
    total(meta(*(torch.empty(x.shape, dtype=x.dtype, device="meta") for x in xs))).backward()
    metas = list(meta.parameters())
    got["gradients"] = storage_bytes(p.grad for p in metas)
    for name in OPTIMIZERS:
        got[name] = optimizer_state(metas, name)
    if cpu_backward:
        loss.backward()
        assert storage_bytes(p.grad for p in params) == got["gradients"]
        if got["parameters"] < 2**20:
            for name in OPTIMIZERS:
                assert optimizer_state(params, name) == got[name]
    return got


def total(out):
    """A scalar loss from a forward's output (or outputs); the outputs themselves let go."""
    return sum(o.float().sum() for o in (out if isinstance(out, tuple) else (out,)))


def optimizer_state(params, name: str) -> int:
    """The bytes of the state one step of SGD with momentum or Adam leaves (torch.optim's defaults)."""
    optimizer = (torch.optim.SGD(params, lr=1e-3, momentum=0.9) if name == "sgd"
                 else torch.optim.Adam(params, lr=1e-3))
    optimizer.step()
    return storage_bytes(t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor))


def zeroed_module(name: str):
    """The module `archlang.build(name)` makes, with its weights zero instead of drawn (the
    same tensors; drawing vgg11's 133 million takes most of a second, and the values change
    nothing that is allocated)."""
    graph = archlang.load(name).network(name).graph
    module = build_module(graph, device="meta").to_empty(device="cpu")
    with torch.no_grad():
        for t in module.state_dict().values():
            t.zero_()
    return graph, module


@pytest.fixture(scope="module")
def measured() -> dict[str, tuple]:
    """Each network's measurements, once for the whole file."""
    out = {}
    for name in NETWORKS:
        graph, module = zeroed_module(name)
        # vgg11's backward on CPU costs seconds: its gradients come from the meta module alone
        out[name] = (graph, measure(graph, module, BATCH, cpu_backward=name != "vgg11"))
    return out


def close(estimate: int, real: int) -> bool:
    return abs(estimate - real) <= TOLERANCE * real


@pytest.mark.parametrize("name", NETWORKS)
def test_weights_gradients_and_optimizer_state_exactly(measured, name):
    graph, real = measured[name]
    for optimizer in OPTIMIZERS:
        report = memory(graph, BATCH, optimizer=optimizer)
        assert report.weights == real["weights"]
        assert report.parameters == real["parameters"]
        assert report.gradients == real["gradients"]
        assert report.optimizer_state == real[optimizer], optimizer


@pytest.mark.parametrize("name", NETWORKS)
def test_inference_peak_and_saved_activations_within_ten_percent(measured, name):
    graph, real = measured[name]
    report = memory(graph, BATCH)
    assert close(report.inference_activations, real["inference_activations"]), (
        report.inference_activations, real["inference_activations"])
    assert close(report.saved_for_backward, real["saved_for_backward"]), (
        report.saved_for_backward, real["saved_for_backward"])
    assert report.inference_peak == report.weights + report.inference_activations
    assert report.training_step == (report.weights + report.gradients + report.optimizer_state
                                    + report.training_activations)
    assert report.training_activations >= report.inputs + report.saved_for_backward


# small networks that between them use most ops, in the layouts that change what torch does
# (in place, views, permuted sequences, strided slices); measured at batch 2, in milliseconds
OPS = [
    "4x8x8 = conv3x3(4) -> bn -> hardswish -> lrn -> shuffle(2) -> maxpool -> conv1x1(4) -> silu "
    "-> avgpool3x3(stride=1, pad=1) -> upsample(2, linear=true) -> relu6 -> globalmaxpool -> flatten -> fc(3)",
    "4x8x8 = conv3x3(8) -> layernorm2d -> leakyrelu -> elu -> gelu -> groupnorm(2) -> sigmoid -> tanh "
    "-> mul(identity | globalavgpool -> conv1x1(8) -> hardsigmoid) -> layerscale -> stochasticdepth(0.2) "
    "-> add(dropout(0.3) | convtranspose(8, k=3, pad=1) | identity) -> concat(slice(0, 4) -> dwconv3x3 | slice(4, 8)) "
    "-> crop(6) -> adaptiveavgpool(3) -> softmax -> logsoftmax -> flatten -> fc(4)",
    "4x8x8 = conv3x3(8) -> tokens -> posembed -> attention(2) -> layernorm -> fc(8) -> grid(8) -> relu -> flatten "
    "-> fc(3)",
    "[16] = embed(50, 8) as wte -> posembed -> clstoken -> attention(2, causal=true, dropout=0.1) "
    "-> attention(2, separate=true, bias=false) -> meantokens -> fc(8) -> fc(50, bias=false, tie=wte)",
    "[6]x8 = fc(8) -> lstm(16, layers=2, bidirectional=true) -> fc(8) -> gru(8, bidirectional=true) -> token(5) "
    "-> fc(8)",
]


@pytest.mark.parametrize("text", OPS, ids=range(len(OPS)))
def test_each_op_as_torch_runs_it(text):
    model = archlang.build(archlang.parse("network n : " + text), seed=0)
    real = measure(model.network.graph, model, 2, optimizers=False)
    report = memory(model.network.graph, 2)
    assert close(report.inference_activations, real["inference_activations"]), (
        report.inference_activations, real["inference_activations"])
    assert close(report.saved_for_backward, real["saved_for_backward"]), (
        report.saved_for_backward, real["saved_for_backward"])
    assert report.weights == real["weights"]


def test_every_registered_op_has_a_rule():
    missing = [cls.name for cls in canonical_ops() if cls.name not in op_rules()]
    assert not missing


def test_the_figures_follow_the_dtype_and_the_batch():
    graph = archlang.load("resnet18").network("resnet18").graph
    one, eight = memory(graph, 1), memory(graph, 8)
    assert eight.inference_activations == 8 * one.inference_activations
    assert eight.weights == one.weights
    half = memory(graph, 8, "float16")
    assert {**memory(graph, 8, "bfloat16").to_dict(), "dtype": "float16"} == half.to_dict()
    assert all(half.activations[n] * 2 == eight.activations[n] for n in eight.activations)
    assert half.parameters * 2 == eight.parameters
    # max pooling's indices are int64 whatever the dtype: more than half at float16
    assert eight.inference_activations / 2 < half.inference_activations < eight.inference_activations
    # batch norm's num_batches_tracked stays int64 (8 bytes) whatever the dtype
    norms = sum(1 for n in graph.layers if n.op.name == "bn")
    assert half.buffers == (eight.buffers - 8 * norms) // 2 + 8 * norms
    assert memory(graph, 8, optimizer="adam").optimizer_state == 2 * eight.parameters + 4 * len(
        [t for n in graph.layers for t in n.op.tensors() if not t.buffer])
    d = eight.to_dict(layers=True)
    assert list(d)[:3] == ["weights", "inference_peak", "training_step"]
    assert d["layers"]["stem1.cbn1.conv1"]["activation"] == 8 * 64 * 112 * 112 * 4


def test_token_indices_are_int64_whatever_the_dtype():
    graph = archlang.parse("network lm : [32] = embed(100, 16) -> fc(100)").network("lm").graph
    for dtype in DTYPES:
        report = memory(graph, 4, dtype)
        assert report.inputs == 4 * 32 * 8
        assert report.activations["embed1"] == 4 * 32 * 16 * DTYPES[dtype]


def test_bad_input_is_a_clear_error():
    graph = archlang.load("mlp").network("mlp").graph
    with pytest.raises(UnknownDtype, match="float32, float16, bfloat16"):
        memory(graph, 8, "unknown")
    with pytest.raises(UnknownOptimizer, match="sgd, adam"):
        memory(graph, 8, optimizer="rmsprop")
    for batch in (0, -3):
        with pytest.raises(BadBatch, match="at least 1"):
            memory(graph, batch)
    with pytest.raises(BadBatch):
        memory(graph, 2.5)
    with pytest.raises(EstimateOverflow, match="64-bit") as info:
        memory(graph, 2**60)
    assert isinstance(info.value, (MemoryEstimateError, ValueError))
    assert memory(graph, 2**40).training_step <= MAX_BYTES
