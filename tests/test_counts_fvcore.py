"""archlang's `fvcore` and `flops` counting conventions against the tools themselves: fvcore's
FlopCountAnalysis and torch's FlopCounterMode.

Each tool runs on the module archlang builds for every kind of bundled network (in eval(), batch
1), and archlang's figure under the tool's convention must equal the tool's exactly, layer by
layer (a layer's module is named as its node) and in total; a tool whose version changes its
output fails here with a message naming the tool, its version and both figures. Where
FlopCounterMode is plainly wrong for a layer on the CPU (attention's scores, lstm: gaps in its
formula registry), `flops` keeps the products and `flop_counter_rule` states the documented
difference, tested here to the operation.

Speed (this file runs in a few seconds): modules are built on the meta device (nothing allocated
or initialised) and counted there, once per network (`_figures`), with Python's cycle collector
off. fvcore traces with torch.jit, whose tracer hands Python meta kernels sizes as tensors
where they want ints: `traceable_meta` registers, for this module's tests, torch's own meta
kernels with the tracer paused, convolution through aten::_convolution (the op a CPU trace
records and fvcore counts), and shape-only kernels for the Python decompositions these
networks run most (batch and layer norm, addmm, in-place activations, adds and products: most
of a meta forward's time). fvcore's figures on meta are its CPU figures, layer by layer
(`test_conventions_equal_the_tools_on_every_op` runs both). FlopCounterMode runs on each
distinct layer's module once (`counter_by_layer`); test_torch checks its whole-network total,
2 x MACs, for every kind. Networks with recurrent layers run on the CPU, where they are small
(on meta tensors torch runs them step by step in Python): FlopCounterMode's CPU gaps show
there, and on small networks that hold every op no bundled network has (`COVERAGE`).
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import gc
import logging
import warnings
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pytest

import torch  # noqa: E402

with warnings.catch_warnings():  # fvcore.nn's losses are torch.jit.script functions, deprecated in torch 2.13
    warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
    from fvcore.nn import FlopCountAnalysis  # the test extra pins it: CI runs this for real
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archlang  # noqa: E402
from archlang.analysis import counting  # noqa: E402
from archlang.analysis.conventions import fvcore as fvcore_conv  # noqa: E402
from archlang.analysis.conventions import torch_flops  # noqa: E402
from archlang.backends.torch_module import build_module  # noqa: E402
from archlang.ops.base import canonical_ops  # noqa: E402

from .conftest import KINDS  # noqa: E402

FVCORE = f"fvcore {version('fvcore')} (archlang's rules checked against {fvcore_conv.FVCORE_VERSION})"
TORCH = f"torch {torch.__version__} FlopCounterMode (archlang's rules checked against {torch_flops.TORCH_VERSION})"


# -- fvcore's jit trace on the meta device

def _paused(kernel):
    """`kernel` run with the jit tracer paused: the tracer has recorded the op already, and
    while it runs, tensor sizes read in Python are tensors (for recording), not ints."""

    def meta(*args, **kwargs):
        state = torch._C._get_tracing_state()
        if state is None:
            return kernel(*args, **kwargs)
        torch._C._set_tracing_state(None)
        try:
            return kernel(*args, **kwargs)
        finally:
            torch._C._set_tracing_state(state)

    return meta


def _same(x, *args, **kwargs):
    return torch.empty_like(x)


def _itself(x, *args, **kwargs):
    return x


def _broadcast(a, b, *args, **kwargs):
    if not isinstance(b, torch.Tensor):
        return torch.empty_like(a, dtype=torch.result_type(a, b))
    return a.new_empty(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.result_type(a, b))


def _layer_norm(x, shape, weight, bias, eps):
    stats = (*x.shape[:x.dim() - len(shape)], *(1,) * len(shape))
    return torch.empty_like(x), x.new_empty(stats), x.new_empty(stats)


_aten = torch.ops.aten
_SHAPES = {  # output shapes for the ops these networks run most, whose meta kernels are Python decompositions
    _aten.relu_.default: _itself, _aten.silu_.default: _itself, _aten.hardswish_.default: _itself,
    _aten.hardtanh_.default: _itself, _aten.add_.Tensor: _itself, _aten.mul_.Tensor: _itself,
    _aten.gelu.default: _same, _aten.hardsigmoid.default: _same, _aten.sigmoid.default: _same,
    _aten.mul.Scalar: _same,
    _aten._safe_softmax.default: lambda x, dim, dtype=None: torch.empty_like(x, dtype=dtype),
    _aten.add.Tensor: _broadcast, _aten.mul.Tensor: _broadcast,
    _aten.addmm.default: lambda bias, a, b, **kw: a.new_empty((a.shape[0], b.shape[1])),
    _aten.native_layer_norm.default: _layer_norm,
}


@pytest.fixture(scope="module")
def traceable_meta():
    """Meta kernels a jit trace can run through, for this module's tests, then torch's again:
    torch's Python meta kernels, each with the tracer paused; aten::convolution's calling
    aten::_convolution, which a CPU trace records (torch's meta kernel for convolution computes
    its shape itself, so a meta trace would record no convolution for fvcore to count); and
    `_SHAPES`, plus batch norm's (torch's meta kernel for it is its arithmetic decomposed, a
    third of a meta trace's time, for the same shapes)."""
    import torch._meta_registrations as registrations
    from torch._decomp import global_decomposition_table

    registered = registrations._meta_lib_dont_use_me_use_register_meta._op_impls
    lib = torch.library.Library("aten", "IMPL")
    done = set()
    for table in ("meta", "post_autograd", "pre_autograd"):  # activate_meta's order of precedence
        for op, kernel in global_decomposition_table[table].items():
            if isinstance(op, torch._ops.OpOverload) and op not in done:
                done.add(op)
                if op.namespace == "aten" and f"aten/{op.name().split('::')[1]}/Meta" in registered:
                    lib.impl(op, _paused(kernel), "Meta")

    def convolution(x, w, b, stride, padding, dilation, transposed, output_padding, groups):
        return torch.ops.aten._convolution.default(x, w, b, stride, padding, dilation, transposed, output_padding,
                                                   groups, False, False, True, True)

    def native_batch_norm(x, weight, bias, mean, var, training, momentum, eps):
        stats = (x.shape[1],) if training else (0,)
        return torch.empty_like(x), x.new_empty(stats), x.new_empty(stats)

    lib.impl(torch.ops.aten.convolution.default, convolution, "Meta")
    lib.impl(torch.ops.aten.native_batch_norm.default, _paused(native_batch_norm), "Meta")
    for op, kernel in _SHAPES.items():
        lib.impl(op, _paused(kernel), "Meta")
    yield
    lib._op_impls.clear()  # each key is torch's own meta library's too: torch.library keeps its record of them
    lib._destroy()  # torch's own kernels again


# -- the tools' figures, once per network

@dataclass
class Figures:
    graph: object
    device: str
    fvcore_total: int
    fvcore_layers: dict[str, int]  # by module name = node name
    fvcore_ops: dict[str, int]  # fvcore's by_operator()
    counter_total: int | None  # None: FlopCounterMode ran layer by layer, not on the whole network
    counter_layers: dict[str, int]


def _inputs_of(types, device: str) -> tuple:
    return tuple(torch.zeros(1, *t.shape, dtype=torch.long if t.ids else torch.float, device=device) for t in types)


def _inputs(graph, device: str) -> tuple:
    return _inputs_of([n.type for n in graph.inputs], device)


def _recurrent(graph) -> bool:
    return any(n.op.name in ("lstm", "gru") for n in graph.layers)


def fvcore_of(module, xs) -> FlopCountAnalysis:
    analysis = FlopCountAnalysis(module, xs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with _quiet():
        analysis.total()
    return analysis


def measure(graph, device: str, training: bool = False) -> Figures:
    """Both tools on the module archlang builds for `graph`, on `device` ("meta", or "cpu" with
    initialised weights)."""
    module = build_module(graph, seed=0 if device == "cpu" else None, device=device).train(training)
    xs = _inputs(graph, device)
    with torch.no_grad():
        analysis = fvcore_of(module, xs)
        with FlopCounterMode(display=False) as counter:
            module(*xs)
    names = {n.name for n in graph.layers}
    layers = {k: int(v) for k, v in analysis.by_module().items() if k in names}
    prefix = type(module).__name__ + "."
    counts = counter.get_flop_counts()
    per_layer = {k[len(prefix):]: sum(v.values()) for k, v in counts.items() if k[len(prefix):] in names}
    return Figures(graph, device, int(analysis.total()), layers, dict(analysis.by_operator()),
                   counter.get_total_flops(), per_layer)


@pytest.fixture(scope="module", autouse=True)
def _collector_paused():
    """Python's cycle collector off while this module runs (40 MB more at the peak): meta
    forwards and traces make many short-lived objects, and in a test session's large heap the
    full collections they trigger cost a fifth of this file's time."""
    enabled = gc.isenabled()
    gc.disable()
    yield
    if enabled:
        gc.enable()


@contextlib.contextmanager
def _quiet():
    """fvcore logs a warning for each op it has no handle for, and torch's tracer for its own."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@cache
def _program(path):
    return archlang.load(str(path))


def network(name: str):
    """A bundled network's graph (each spec file parsed once: resnet.arch holds five networks)."""
    return _program(archlang.bundled_networks()[name]).network(name).graph


def _spec_key(node, inputs) -> tuple:
    return repr(node.op.torch_spec(inputs)), tuple(t.shape for t in inputs), tuple(t.ids for t in inputs)


_LAYER_FLOPS: dict[tuple, int] = {}


def counter_by_layer(graph, module) -> dict[str, int]:
    """FlopCounterMode on each layer's module of the built network (meta device), run on an
    input of the layer's type: what it attributes to that module in a forward of the whole
    network (a module's forward depends on its input's shape alone). Each distinct layer once,
    across networks: a third of the time of whole-network forwards, whose totals test_torch
    checks for every kind already (FlopCounterMode = 2 x MACs = `flops` on meta)."""
    out = {}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for n, inputs in _layers(graph):
            key = _spec_key(n, inputs)
            if key not in _LAYER_FLOPS:
                before = counter.get_total_flops()
                module.get_submodule(n.name)(*_inputs_of(inputs, "meta"))
                _LAYER_FLOPS[key] = counter.get_total_flops() - before
            out[n.name] = _LAYER_FLOPS[key]
    return out


@cache
def _figures(name: str) -> Figures:
    """fvcore on the whole network; FlopCounterMode layer by layer on meta tensors, or on the
    whole network on the CPU for networks with recurrent layers."""
    graph = network(name)
    if _recurrent(graph):
        return measure(graph, "cpu")
    module = build_module(graph, device="meta").eval()
    with torch.no_grad():
        analysis = fvcore_of(module, _inputs(graph, "meta"))
    names = {n.name for n in graph.layers}
    layers = {k: int(v) for k, v in analysis.by_module().items() if k in names}
    return Figures(graph, "meta", int(analysis.total()), layers, dict(analysis.by_operator()), None,
                   counter_by_layer(graph, module))


@pytest.fixture
def figures(traceable_meta):
    return _figures


# -- agreement

def _layers(graph, module_only: bool = True):
    for n in graph.layers:
        inputs = graph.input_types(n)
        if not module_only or n.op.torch_spec(inputs) is not None:
            yield n, inputs


def disagreements(name: str, f: Figures, training: bool = False) -> list[str]:
    """Where the tools' figures differ from archlang's, each naming the tool, its version and both figures."""
    g = f.graph
    out = []
    fv_want = {n.name: fvcore_conv.fvcore_rule(n.op, i, n.type, training) for n, i in _layers(g, False)}
    fc_want = {n.name: torch_flops.flop_counter_rule(n.op, i, n.type, f.device, training) for n, i in _layers(g, False)}
    for n, _ in _layers(g):
        if f.fvcore_layers.get(n.name, 0) != fv_want[n.name]:
            out.append(f"{FVCORE} counts {f.fvcore_layers.get(n.name, 0):,} for {name}'s {n.name} ({n.op.label()}), "
                       f"archlang's fvcore convention {fv_want[n.name]:,}")
        if f.counter_layers.get(n.name, 0) != fc_want[n.name]:
            out.append(f"{TORCH} counts {f.counter_layers.get(n.name, 0):,} on {f.device} for {name}'s {n.name} "
                       f"({n.op.label()}), archlang's flop_counter_rule {fc_want[n.name]:,}")
    if f.fvcore_total != sum(fv_want.values()):
        out.append(f"{FVCORE} counts {f.fvcore_total:,} for {name} in total, archlang's fvcore convention "
                   f"{sum(fv_want.values()):,}")
    if f.counter_total is not None and f.counter_total != sum(fc_want.values()):
        out.append(f"{TORCH} counts {f.counter_total:,} on {f.device} for {name} in total, archlang's "
                   f"flop_counter_rule {sum(fc_want.values()):,}")
    return out


@pytest.mark.parametrize("name", KINDS)
def test_conventions_equal_the_tools(name, figures):
    """fvcore's FlopCountAnalysis on the built module, layer by layer and in total, and
    FlopCounterMode layer by layer (on the whole network for the recurrent ones, on the CPU)
    equal archlang's rules; on meta tensors FlopCounterMode's figure is `flops`', layer by
    layer, and on the CPU less the documented gaps alone."""
    f = figures(name)
    assert not disagreements(name, f), "\n".join(disagreements(name, f))
    g = f.graph
    assert counting.layer_counts(g, counting.convention("fvcore")) == {
        n.name: fvcore_conv.fvcore_rule(n.op, i, n.type) for n, i in _layers(g, False)}
    flops = counting.layer_counts(g, counting.convention("flops"))
    assert flops == {n.name: 2 * n.op.macs(i, n.type) for n, i in _layers(g, False)}
    if f.device == "meta":
        assert f.counter_layers == {k: v for k, v in flops.items() if k in f.counter_layers}


def test_resnet50_figures(figures):
    """The figures the tools print for archlang's resnet50, as the docs quote them."""
    f = figures("resnet50")
    assert f.fvcore_total == 4_111_512_576
    assert f.fvcore_ops == {"conv": 4_087_136_256, "batch_norm": 22_227_968, "adaptive_avg_pool2d": 100_352,
                            "linear": 2_048_000}
    module = build_module(f.graph, device="meta").eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*_inputs(f.graph, "meta"))
    assert counter.get_total_flops() == sum(f.counter_layers.values()) == 8_178_368_512 == 2 * 4_089_184_256
    g = f.graph
    assert sum(counting.layer_counts(g, counting.convention("fvcore")).values()) == 4_111_512_576
    assert sum(counting.layer_counts(g, counting.convention("flops")).values()) == 8_178_368_512
    assert sum(counting.layer_counts(g, counting.convention("macs")).values()) == 4_089_184_256


def test_fvcore_counts_batch_norm_at_five_an_element_in_training_mode(traceable_meta):
    """`archlang.build` returns a module in training mode, where fvcore counts 5 per batch-norm
    element, not 2: the documented difference (fvcore_rule(training=True)), on resnet18."""
    f = measure(network("resnet18"), "meta", training=True)
    assert not disagreements("resnet18", f, training=True), "\n".join(disagreements("resnet18", f, training=True))
    bn = sum(i[0].numel for n, i in _layers(f.graph) if n.op.name == "bn")
    assert f.fvcore_total == sum(counting.layer_counts(f.graph, counting.convention("fvcore")).values()) + 3 * bn


def test_flop_counter_misses_attention_scores_and_lstm_on_cpu():
    """FlopCounterMode's CPU gaps, on one attention and one lstm layer: 8LD^2 of attention's
    8LD^2 + 4L^2D FLOPs (the scores and their weighted sum run as a fused CPU kernel it has no
    formula for), all of them in training with dropout (torch's math path), and 0 for lstm
    (oneDNN); on meta tensors both are counted in full, as `flops` counts them."""
    graph = archlang.parse("network a : [10]x64 -> [10]x32 = attention(4, dropout=0.1) -> lstm(32)").network().graph
    att, lstm = graph.layers
    length, dim = 10, 64
    flops = {n.name: counting.node_count(graph, n, counting.convention("flops")) for n in graph.layers}
    assert flops == {att.name: 8 * length * dim * dim + 4 * length * length * dim,
                     lstm.name: 2 * 4 * 32 * (64 + 32) * length}
    expected = {("cpu", False): {att.name: 8 * length * dim * dim, lstm.name: 0},
                ("cpu", True): {att.name: flops[att.name], lstm.name: 0},
                ("meta", False): flops, ("meta", True): flops}
    for (device, training), want in expected.items():
        module = build_module(graph, seed=0 if device == "cpu" else None, device=device).train(training)
        with FlopCounterMode(display=False) as counter:
            module(*_inputs(graph, device))
        counts = counter.get_flop_counts()
        got = {n.name: sum(counts.get(f"{type(module).__name__}.{n.name}", {}).values()) for n in graph.layers}
        assert got == want, f"{TORCH} on {device}, training={training}: {got}, documented {want}"
        rule = {n.name: torch_flops.flop_counter_rule(n.op, i, n.type, device, training) for n, i in _layers(graph)}
        assert rule == want


# -- every op: networks that hold what no bundled network has, each tool on the CPU and on meta

COVERAGE = """
network coverage2d : 8x12x12 -> 4 =
    conv3x3(8) -> bn -> relu -> residual(conv3x3(8) -> hardswish -> dropout(0.1))
    -> mul(identity | globalavgpool -> conv1x1(8) -> hardsigmoid)
    -> leakyrelu -> elu -> groupnorm(2) -> layernorm -> lrn -> upsample(2)
    -> upsample(size=(30, 26), linear=true, align_corners=true) -> convtranspose(6, k=2, stride=2, groups=2)
    -> adaptiveavgpool(5) -> softmax -> tokens -> grid(5) -> globalmaxpool -> flatten -> bn -> fc(4)
network coverage1d : 4x32 -> 8 =
    conv3(8) -> bn -> lrn -> upsample(2) -> upsample(3, linear=true) -> convtranspose(4, k=3, stride=2, pad=1)
    -> adaptiveavgpool(7) -> layernorm2d -> globalmaxpool -> globalavgpool -> flatten -> fc(8)
network coverage3d : 2x4x6x6 -> 3 =
    conv3(4) -> upsample(2) -> upsample(size=(10, 14, 14), linear=true) -> adaptiveavgpool(3) -> lrn
    -> groupnorm(2) -> convtranspose(2, k=2, stride=2) -> bn -> globalmaxpool -> flatten -> fc(3)
network coverage_seq : [6]x16 -> 16 =
    attention(4, causal=true, bias=false) -> layernorm -> attention(2, separate=true, dropout=0.1)
    -> lstm(8, bidirectional=true) -> gru(16, layers=2) -> meantokens
"""


@cache
def coverage() -> dict:
    program = archlang.parse(COVERAGE)
    return {name: program.network(name).graph for name in program.networks}


def test_coverage_networks_hold_every_op_no_bundled_network_has():
    """Every registered op is in a bundled network or a coverage network (identity lowers to
    no layer: it has a rule, 0, but nothing to count), and each convention has a rule for it."""
    ops = {c.name for c in canonical_ops()}
    seen = {n.op.name for g in [*map(network, KINDS), *coverage().values()] for n in g.layers}
    assert ops - seen == {"identity"}
    assert set(fvcore_conv.RULES) == ops
    for name in ("fvcore", "flops"):
        conv = counting.convention(name)
        assert all(conv.count(n.op, i, n.type) >= 0 for g in coverage().values() for n, i in _layers(g, False))


@pytest.mark.parametrize("name", ["coverage2d", "coverage1d", "coverage3d", "coverage_seq"])
def test_conventions_equal_the_tools_on_every_op(name, traceable_meta):
    """Upsampling and adaptive pooling in 1D, 2D and 3D, nearest and linear; group and layer
    norm on maps; grouped, 1D and 3D transposed convolutions; causal, bias-free and separate
    attention; bidirectional and stacked recurrent layers: both tools on the CPU module, and
    on the meta one, where fvcore's figures must be the CPU's (the meta kernels this file
    registers for its trace change no figure) and FlopCounterMode's lose none of its CPU gaps."""
    graph = coverage()[name]
    cpu, meta = measure(graph, "cpu"), measure(graph, "meta")
    for f in (cpu, meta):
        assert not disagreements(name, f), "\n".join(disagreements(name, f))
    assert (meta.fvcore_total, meta.fvcore_layers, meta.fvcore_ops) == (cpu.fvcore_total, cpu.fvcore_layers,
                                                                        cpu.fvcore_ops)


def test_a_disagreement_names_the_tool_its_version_and_both_figures(figures):
    """What a tool release that counts otherwise fails with (lenet5's figures, two of them changed)."""
    f = figures("lenet5")
    first = next(n for n, _ in _layers(f.graph)).name
    changed = dataclasses.replace(f, fvcore_total=f.fvcore_total + 1, counter_layers={**f.counter_layers, first: 7})
    fc, fv = disagreements("lenet5", changed)
    assert fv.startswith(f"fvcore {version('fvcore')} (archlang's rules checked against 0.1.5.post20221221) counts "
                         f"{f.fvcore_total + 1:,} for lenet5 in total, archlang's fvcore convention {f.fvcore_total:,}")
    assert fc.startswith(f"torch {torch.__version__} FlopCounterMode (archlang's rules checked against 2.13) counts 7 "
                         f"on meta for lenet5's {first} (conv 5x5, 6, pad 0), archlang's flop_counter_rule "
                         f"{f.counter_layers[first]:,}")


def test_conventions_name_their_tool_version_and_quirks():
    for name, tool, checked in (("fvcore", "fvcore", fvcore_conv.FVCORE_VERSION),
                                ("flops", "torch", torch_flops.TORCH_VERSION)):
        conv = counting.convention(name)
        assert (conv.tool, conv.version) == (tool, checked)
        assert conv.quirks and all(len(q) > 80 for q in conv.quirks)
    assert counting.convention("flops").unit == "FLOPs"


def test_by_op_groups_fvcore_by_what_it_sees():
    graph = network("resnet50")
    groups = counting.by_op(graph, counting.convention("fvcore"))
    assert groups["Conv2d"] == (53, 4_087_136_256)
    assert groups["BatchNorm2d"] == (53, 22_227_968)
    assert groups["add (function)"][1] == 0
    assert list(groups)[:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]


def test_rules_import_neither_torch_nor_fvcore():
    """`check --count` stays fast and torch-free: the convention modules import no tool."""
    for module in (fvcore_conv, torch_flops):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert not imported & {"torch", "fvcore", "numpy"}, (module.__name__, imported)
