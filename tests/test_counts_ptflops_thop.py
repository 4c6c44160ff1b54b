"""archlang's `ptflops` and `thop` counting conventions against the tools themselves.

Each tool runs on the module archlang builds for every kind of bundled network, and
archlang's figure under that tool's convention must equal the tool's exactly (both return
whole numbers from their API), in total and layer by layer; a tool whose version changes
its output fails here with a message naming the tool, its version and both figures. Where a
tool is plainly wrong for a layer, the conventions reproduce it (they are the tool's figure)
and the documented difference is tested as such: thop's transposed convolutions against
archlang's own `macs`, ptflops' layer norm against its batch norm.

Speed (this file runs in about 4 s once torch is imported): modules are built on the meta
device (nothing allocated or initialised) and both tools count in one forward pass, thop.profile
running inside the forward that ptflops drives, each with its own hooks. What makes the meta
device differ from the CPU is undone: torch runs some meta kernels as Python decompositions
(linear as torch.mm, batch norm and residual adds as arithmetic), whose calls of the torch
functions ptflops patches a CPU run never makes, so calls from torch's decomposition code are
not counted (resnet50's figures below are the tools' on the CPU; every bundled network's were
compared once); recurrent layers decompose step by step there, so networks with them run on
the CPU, where they are small; and batch norm, whose decomposition took half the time and
which neither tool patches, gives its output's shape directly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import sys
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pytest

import ptflops  # noqa: E402  (the test extra pins the tools: CI runs this for real)
import thop as thop_tool  # noqa: E402
import torch  # noqa: E402
import ptflops.pytorch_engine as ptflops_engine  # noqa: E402
import torch._dynamo  # noqa: E402,F401  (meta batch norm imports it lazily: not while ptflops has torch patched)

import archlang  # noqa: E402
from archlang.analysis import counting  # noqa: E402
from archlang.backends.torch_module import build_module  # noqa: E402
from archlang.backends.torch_plan import argument_name  # noqa: E402
from archlang.ops.base import canonical_ops  # noqa: E402

from .conftest import KINDS  # noqa: E402


def _conventions() -> dict[str, counting.Convention]:
    """The two conventions; while a sibling of conventions/ that its __init__ imports is not
    written yet, these two loaded from their files, under their own module names."""
    try:
        counting._load_tools()
    except ImportError:
        pass
    folder = Path(counting.__file__).with_name("conventions")
    for name in ("ptflops", "thop"):
        if name not in counting.CONVENTIONS:
            full = f"archlang.analysis.conventions.{name}"
            spec = importlib.util.spec_from_file_location(full, folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[full] = module
            spec.loader.exec_module(module)
    return {name: counting.CONVENTIONS[name] for name in ("ptflops", "thop")}


CONVENTIONS = _conventions()
RULES = {name: sys.modules[f"archlang.analysis.conventions.{name}"].RULES for name in CONVENTIONS}
INSTALLED = {"ptflops": version("ptflops"), "thop": version("thop")}

# modules whose calls of patched torch functions a CPU run does not make (meta kernels in Python),
# and thop's hooks, which run inside the same forward
NOT_COUNTED_CALLERS = ("torch._decomp", "torch._refs", "torch._prims", "torch._meta_registrations", "thop")


@dataclass(frozen=True)
class Figures:
    """What each tool returned for one network, and each layer's part (by module path;
    ptflops' patched-function counts go to the module whose forward made the call, or to
    "(forward)" for the network's own functions)."""

    totals: dict[str, float]
    layers: dict[str, dict[str, float]]
    output: str


class _BothTools(torch.nn.Module):
    """ptflops runs this; its forward runs thop.profile on the network: one forward for both."""

    def __init__(self, net: torch.nn.Module, order: list[str]):
        super().__init__()
        self.net, self.order = net, order

    def forward(self, **inputs):
        ops, _, tree = thop_tool.profile(self.net, inputs=tuple(inputs[k] for k in self.order), verbose=False,
                                         ret_layer_info=True)
        self.thop = ops, _leaves(tree)
        self.hooked = {name: m.__flops__ for name, m in self.net.named_modules() if hasattr(m, "__flops__")}


def _leaves(tree: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for name, (ops, _, children) in tree.items():
        out.update(_leaves(children, f"{prefix}{name}.") if children else {prefix + name: ops})
    return out


def measure(graph, device: str) -> Figures:
    """Both tools on the module built from `graph` (on `device`: "meta", or "cpu" without
    initialising), with a batch of one."""
    module = build_module(graph, device="meta")
    if device != "meta":
        module.to_empty(device=device)
        with torch.no_grad():
            for t in (*module.parameters(), *module.buffers()):
                t.zero_()
    inputs = {argument_name(graph, n.name): torch.zeros(1, *n.type.shape, device=device,
                                                        dtype=torch.long if n.type.ids else torch.float32)
              for n in graph.inputs}
    both = _BothTools(module, list(inputs))
    names = {id(m): name or "(forward)" for name, m in module.named_modules()}
    calls: list[tuple[str, float]] = []
    # (a ptflops without this class counts the meta device's decompositions too, and its
    # figures then differ from archlang's: the failure names its version)
    wrapper = getattr(ptflops_engine, "torch_function_wrapper", type("absent", (), {"__call__": None}))
    counted_call = wrapper.__call__

    def call(self, *args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith("ptflops"):
            frame = frame.f_back
        if frame is not None and frame.f_globals.get("__name__", "").startswith(NOT_COUNTED_CALLERS):
            return self.op(*args, **kwargs)
        owner, caller = "(forward)", frame
        while caller is not None:
            if id(caller.f_locals.get("self")) in names:
                owner = names[id(caller.f_locals["self"])]
                break
            caller = caller.f_back
        before = len(self.collector)
        result = counted_call(self, *args, **kwargs)
        calls.append((owner, self.collector[before]))
        return result

    out = io.StringIO()
    wrapper.__call__ = call
    try:
        with contextlib.redirect_stdout(out), _quiet_logging(), _batch_norm_shapes_only():
            macs, _ = ptflops.get_model_complexity_info(both, (1,), as_strings=False, print_per_layer_stat=False,
                                                         input_constructor=lambda _: inputs, ost=out)
    finally:
        wrapper.__call__ = counted_call
    if macs is None:
        return Figures({"ptflops": None, "thop": None}, {}, out.getvalue())
    layers = dict(both.hooked)
    for owner, n in calls:
        layers[owner] = layers.get(owner, 0) + n
    return Figures({"ptflops": macs, "thop": both.thop[0]}, {"ptflops": layers, "thop": both.thop[1]}, out.getvalue())


@contextlib.contextmanager
def _batch_norm_shapes_only():
    """torch.batch_norm (what F.batch_norm calls: no tool patches or counts it) giving only its
    output's shape on the meta device, where torch computes it with a Python decomposition that
    takes half of these tests' time."""
    batch_norm = torch.batch_norm

    def shapes_only(x, *args, **kwargs):
        return torch.empty_like(x) if x.is_meta else batch_norm(x, *args, **kwargs)

    torch.batch_norm = shapes_only
    try:
        yield
    finally:
        torch.batch_norm = batch_norm


@contextlib.contextmanager
def _quiet_logging():
    """thop logs a warning for layers it does not count (trilinear upsampling)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _recurrent(graph) -> bool:
    return any(n.op.name in ("lstm", "gru") for n in graph.layers)


@cache
def network(name: str):
    return archlang.load(name).network(name)


@cache
def bundled(name: str) -> Figures:
    graph = network(name).graph
    return measure(graph, "cpu" if _recurrent(graph) else "meta")


def ours(graph, tool: str) -> tuple[int, dict[str, int]]:
    """archlang's total and per-layer figures under `tool`'s convention (nonzero layers; a layer
    without a module is ptflops' "(forward)")."""
    conv = CONVENTIONS[tool]
    layers: dict[str, int] = {}
    for node in graph.layers:
        inputs = graph.input_types(node)
        key = node.name if node.op.torch_spec(inputs) is not None else "(forward)"
        layers[key] = layers.get(key, 0) + conv.count(node.op, inputs, node.type)
    return sum(layers.values()), {k: v for k, v in layers.items() if v}


def disagreement(name: str, graph, figures: Figures, tool: str) -> str | None:
    """None where archlang's figure under `tool`'s convention is the tool's, in total and layer
    by layer; otherwise a message naming the tool, its version and both figures."""
    conv = CONVENTIONS[tool]
    theirs = figures.totals[tool]
    if theirs is None:
        return f"{tool} {INSTALLED[tool]} failed on {name}:\n{figures.output}"
    total, layers = ours(graph, tool)
    measured = {k: v for k, v in figures.layers[tool].items() if v}
    if total == theirs and layers == measured:
        return None
    diffs = [f"  {k}: {tool} {measured.get(k, 0):,.0f}, archlang {layers.get(k, 0):,}"
             for k in dict.fromkeys([*layers, *measured]) if layers.get(k, 0) != measured.get(k, 0)]
    return (f"{tool} {INSTALLED[tool]} counts {theirs:,.0f} for {name}, but archlang's '{tool}' convention (checked "
            f"against {tool} {conv.version}) gives {total:,}" + (
                f"; {len(diffs)} layers differ:\n" + "\n".join(diffs[:12]) if diffs else "; every layer agrees"))


@pytest.mark.parametrize("tool", ["ptflops", "thop"])
@pytest.mark.parametrize("name", KINDS)
def test_convention_equals_the_tool(name, tool):
    graph = network(name).graph
    problem = disagreement(name, graph, bundled(name), tool)
    assert problem is None, problem


def test_resnet50_figures():
    """The figures each tool prints for torchvision's ResNet-50 (ptflops 4.13 GMac, thop
    4.13G), reached by archlang's conventions and by the tools on archlang's module."""
    net = network("resnet50")
    assert net.total_macs == 4_089_184_256
    for tool, figure in (("ptflops", 4_132_436_968), ("thop", 4_133_742_592)):
        assert sum(counting.layer_counts(net.graph, CONVENTIONS[tool]).values()) == figure
        assert bundled("resnet50").totals[tool] == figure


def test_every_op_has_a_rule_in_each_convention():
    ops = {cls.name for cls in canonical_ops()}
    for tool, rules in RULES.items():
        assert set(rules) == ops, f"{tool}: no rule for {sorted(ops - set(rules))}, stale {sorted(set(rules) - ops)}"


def test_conventions_name_their_tool_the_version_tested_and_quirks():
    """Each names the release pyproject.toml pins for the tests (the one its rules follow)."""
    pins = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    for tool, conv in CONVENTIONS.items():
        assert (conv.name, conv.tool, conv.unit) == (tool, tool, "MACs")
        assert f'"{tool}=={conv.version}"' in pins
        assert conv.quirks and all(conv.quirks)


def test_a_changed_figure_names_the_tool_its_version_and_both_figures():
    graph, measured = network("resnet50").graph, bundled("resnet50")
    (fc,) = (n.name for n in graph.layers if n.op.name == "fc")
    changed = Figures({**measured.totals, "ptflops": 4_132_436_969},
                      {**measured.layers, "ptflops": {**measured.layers["ptflops"], fc: 2_049_001}}, "")
    message = disagreement("resnet50", graph, changed, "ptflops")
    assert message.startswith(f"ptflops {INSTALLED['ptflops']} counts 4,132,436,969 for resnet50, but archlang's "
                              "'ptflops' convention (checked against ptflops 0.7.5) gives 4,132,436,968")
    assert message.endswith(f"; 1 layers differ:\n  {fc}: ptflops 2,049,001, archlang 2,049,000")
    assert disagreement("resnet50", graph, changed, "thop") is None


def test_by_op_groups_by_what_the_tools_see():
    graph = network("resnet50").graph
    groups = counting.by_op(graph, CONVENTIONS["thop"])
    assert {"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "add (function)", "AdaptiveAvgPool2d", "Flatten",
            "Linear"} == set(groups)
    assert groups["ReLU"][1] == 0 and groups["add (function)"] == (16, 0)


# -- the known bugs: tested as the documented difference from archlang's own MACs


def test_thop_counts_a_transposed_convolution_as_a_convolution_making_its_output():
    graph = network("unet").graph
    macs = counting.convention("macs")
    measured = bundled("unet").layers["thop"]
    seen = 0
    for node in graph.layers:
        if node.op.name != "convtranspose":
            continue
        (x,) = graph.input_types(node)
        real = macs.count(node.op, (x,), node.type)
        assert measured[node.name] == real * node.type.numel * x.channels // (x.numel * node.type.channels)
        assert measured[node.name] == 4 * real  # 2x2 kernels at stride 2: prod(stride) times too many
        seen += 1
    assert seen == 4


def test_ptflops_counts_layer_norm_once_per_element_for_want_of_affine():
    graph = network("vit_b_16").graph
    measured = bundled("vit_b_16").layers["ptflops"]
    norms = [n for n in graph.layers if n.op.name == "layernorm"]
    assert norms and all(measured[n.name] == n.type.numel for n in norms)  # batch norm: 2 per element
    assert all(measured[n.name] == 2 * n.type.numel for n in graph.layers if n.op.name == "bn")


# -- the ops no bundled network has, and other arguments: small networks on the CPU

COVERAGE = """
network cover_map : 8x12x12 =
    conv3x3(8) -> elu -> leakyrelu(0.2) -> tanh -> sigmoid -> hardswish -> hardsigmoid -> gelu(tanh=true)
    -> groupnorm(2) -> layernorm2d -> lrn(3) -> softmax -> logsoftmax -> relu6 -> silu
    -> avgpool3x3(stride=2, pad=1, ceil_mode=true, count_include_pad=false)
    -> upsample(2, linear=true) -> upsample(size=(10, 10)) -> adaptiveavgpool(7)
    -> convtranspose3x3(4, stride=2, groups=2, output_padding=1) -> dwconv3x3(8, bias=false)
    -> shuffle(2) -> layerscale -> stochasticdepth(0.1) -> dropout(0.1)
    -> add(relu | conv1x1(8, bias=false)) -> mul(identity | globalmaxpool) -> concat(slice(0, 4) | identity)
    -> crop(9) -> layernorm -> globalavgpool -> flatten -> fc(5, bias=false) -> softmax

network cover_1d : 4x32 =
    conv5(6, groups=2) -> lrn(5) -> upsample(3, linear=true) -> adaptiveavgpool(5) -> maxpool(2, ceil_mode=true)
    -> convtranspose4(3, stride=3, pad=1) -> upsample(2) -> globalmaxpool -> flatten -> fc(7)

network cover_3d : 2x4x6x6 =
    conv3x3x3(4) -> bn -> lrn(3) -> upsample(2, linear=true) -> maxpool(2) -> adaptiveavgpool((3, 4, 5))
    -> convtranspose2(3, stride=2) -> avgpool(2) -> globalavgpool -> flatten -> fc(3) -> softmax

network cover_sequence : [10]x16 =
    layernorm -> fc(16) -> softmax -> attention(4, causal=true, bias=false) -> attention(2, separate=true)
    -> gelu -> grid(2, 5) -> tokens -> lstm(8, layers=2, bidirectional=true) -> gru(6) -> meantokens -> fc(3)

network cover_ids : [12] =
    embed(50, 16) -> posembed(20) -> clstoken -> layernorm -> gru(4, layers=2, last=true, bidirectional=true) -> fc(2)
"""


@cache
def coverage() -> dict:
    program = archlang.parse(COVERAGE, "coverage.arch")
    return {name: program.network(name) for name in program.networks}


def test_coverage_networks_hold_every_op_no_bundled_network_has():
    seen = {n.op.name for net in coverage().values() for n in net.graph.layers}
    seen |= {n.op.name for name in KINDS for n in network(name).graph.layers}
    assert seen == {cls.name for cls in canonical_ops()} - {"identity"}  # identity lowers to nothing


@pytest.mark.parametrize("name", ["cover_map", "cover_1d", "cover_3d", "cover_sequence", "cover_ids"])
def test_convention_equals_the_tool_on_every_op(name):
    graph = coverage()[name].graph
    figures = measure(graph, "cpu")
    problems = [p for tool in CONVENTIONS if (p := disagreement(name, graph, figures, tool))]
    assert not problems, "\n".join(problems)
