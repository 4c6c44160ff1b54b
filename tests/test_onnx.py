"""Stage 5, ONNX: the checker, ONNX's own shape inference against archlang's, ONNX Runtime
against PyTorch for every bundled network and every op, and deterministic, atomic files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

import archlang
from archlang.backends.onnx_model import OPSET, value_name
from archlang.benchmark import ort_session
from archlang.ops import Op, canonical_ops

from .conftest import KINDS, analyse
from .test_ops import ALL_CASES


def session(model: onnx.ModelProto):
    return ort_session(model.SerializeToString(), threads=2)


def inferred_shapes(model: onnx.ModelProto) -> dict[str, tuple]:
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    shapes = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_param or d.dim_value for d in dims)
    return shapes


def assert_agrees(module, model, batches, atol=1e-4, rtol=1e-3):
    sess = session(model)
    t = module.network.input_type
    for batch in batches:
        x = torch.randint(0, 5, (batch, *t.shape)) if t.ids else torch.randn(batch, *t.shape)
        with torch.no_grad():
            expected = module(x).numpy()
        (got,) = sess.run(None, {"input": x.numpy()})
        np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)


def realistic(module):
    """Weights that behave like trained ones. A freshly initialised deep ResNet is chaotic:
    with batch norm at its initial statistics its activations grow to 1e7, and even with
    calibrated statistics resnet152 amplifies float32 rounding so much that PyTorch's own
    float32 result is 8.5e-4 away from its float64 result (a 1e-7 change of the input moves
    the output by 9e-4), far above any tolerance two runtimes can meet. Trained networks are
    tame: batch-norm statistics match the data, and the last batch norm of each residual
    branch has a small scale (Goyal et al. 2017 start it at 0). So: statistics from one
    batch, and scale 0.3 on every batch norm that feeds an add."""
    graph = module.network.graph
    with torch.no_grad():
        for node in graph.layers:
            if node.op.name == "add":
                for i in node.inputs:
                    if graph.node(i).op.name == "bn":
                        module.get_submodule(i).weight.fill_(0.3)
                        break
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.momentum = 1.0
    module.train()
    with torch.no_grad():
        module(torch.randn(4, *module.network.input_shape))
    for m in bns:
        m.momentum = 0.1
    return module.eval()


def weightless_model(graph) -> onnx.ModelProto:
    """The ONNX graph of a network with each weight a typed graph input instead of data:
    what the checker and shape inference need, at no cost for a 140-million-weight VGG."""
    from onnx import helper

    from archlang.backends.initial_weights import state_tensors
    from archlang.backends.onnx_model import _skeleton

    weights = {k: np.broadcast_to(np.zeros((), t.dtype), t.shape) for k, t in state_tensors(graph).items()}
    model, used = _skeleton(graph, weights)
    model.graph.input.extend(
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for name, a in used
    )
    return model


@pytest.mark.parametrize("name", KINDS)
def test_bundled_network_graph_in_onnx(name):
    """Every bundled network, structurally: the checker passes and ONNX's own shape
    inference gives archlang's shape for every value."""
    graph = archlang.load(name).network().graph
    model = weightless_model(graph)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input][: len(graph.inputs)] == [n.name for n in graph.inputs]
    assert [o.name for o in model.graph.output] == list(graph.output_names)
    shapes = inferred_shapes(model)
    dynamic = any(n.type.ids for n in graph.inputs)  # the token axis is `tokens`, of any length
    for node in graph.nodes:
        batch, *dims = shapes[value_name(graph, node.name)]
        if dynamic and node.type.tokens:  # a symbol (ONNX names the sum of a slice `unk__N`)
            assert isinstance(dims[0], str) and (dims[0] == "tokens" or dims[0].startswith("unk")), node.name
            dims[0] = node.type.tokens
        # ONNX's inference for Resize forgets the batch's name on the values it makes inside a graph
        resized = node.op.name == "upsample" and node.name not in graph.outputs
        assert tuple(dims) == node.type.shape and (batch == "batch" or resized and batch.startswith("unk")), node.name


SMALL = {
    "vgg_small": """use "vgg"
network vgg_small : 3x32x32 = stage(8, 1, lrn) -> stage(16, 2, bn) -> stage(16, 1, bn, lrn)
    -> adaptiveavgpool(7) -> flatten -> fc(32) -> relu -> dropout -> fc(10)
""",
    "resnet_small": """use "resnet"
network resnet_small : 3x32x32 = stem -> bottleneck(8) * 2 -> bottleneck(16, 2) -> head(10)
""",
}


@pytest.mark.parametrize("name", ["lenet5", "mlp", "resnet_small", "vgg_small"])
def test_network_agrees_with_torch_in_onnx_runtime(name):
    """Numbers on a representative set (every op is also compared on its own below): a plain
    chain, an MLP, and the ResNet and VGG specs' blocks at a small width (bottlenecks with
    projections and identity shortcuts; LRN and batch norm)."""
    network = archlang.parse(SMALL[name], f"{name}.arch").network() if name in SMALL else name
    module = realistic(archlang.build(network, seed=0))
    model = archlang.export_onnx(module)
    onnx.checker.check_model(model, full_check=True)
    assert_agrees(module, model, (1, 4))


def test_node_names_follow_the_spec():
    model = archlang.export_onnx(archlang.build("resnet18", seed=0))
    names = [n.name for n in model.graph.node]
    assert names[:4] == ["stem1.cbn1.conv1", "stem1.cbn1.bn1", "stem1.relu1", "stem1.maxpool1"]
    assert "basic3.shortcut1.conv1" in names and model.opset_import[0].version == OPSET
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"


def test_every_op_has_an_onnx_lowering():
    for op in canonical_ops():
        assert op.onnx_nodes is not Op.onnx_nodes, op.name


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_each_op_agrees_with_torch(text, shape):
    net = analyse(f"network n : {shape} = {text}")
    module = net.to_torch(seed=0).eval()
    for m in module.modules():  # non-trivial normalisation statistics and affine terms
        for attr in ("running_mean", "bias"):
            if isinstance(getattr(m, attr, None), torch.Tensor):
                getattr(m, attr).data.uniform_(-0.5, 0.5)
        if isinstance(getattr(m, "running_var", None), torch.Tensor):
            m.running_var.data.uniform_(0.5, 2.0)
    model = archlang.export_onnx(module)
    onnx.checker.check_model(model, full_check=True)
    shapes = inferred_shapes(model)
    out = ("batch", *net.output_shape)
    if net.input_type.ids and net.output_type.tokens:  # a dynamic length, up to the declared one
        out = ("batch", "tokens", *net.output_shape[1:])
    assert shapes["output"] == out
    assert_agrees(module, model, (1, 3))


@pytest.mark.parametrize("largest_matrix", [2**22, 0], ids=["matrix", "prefix-sums"])
def test_adaptive_pooling_that_does_not_divide(largest_matrix, monkeypatch):
    """Both lowerings, the averaging matrix and the prefix sums (used where the matrix would
    be large: its constants grow with I x N, theirs with N), against torch."""
    from archlang.ops.pool import AdaptiveAvgPool

    monkeypatch.setattr(AdaptiveAvgPool, "MAX_BINS_MATRIX", largest_matrix)
    for spec in ("network n : 3x10x7 = adaptiveavgpool((3, 4))", "network n : 2x11 = adaptiveavgpool(4)",
                 "network n : 2x5x6x7 = adaptiveavgpool((2, 4, 3))", "network n : 2x9x10 = adaptiveavgpool((9, 4))"):
        module = analyse(spec).to_torch().eval()
        model = archlang.export_onnx(module)
        onnx.checker.check_model(model, full_check=True)
        ops = {n.op_type for n in model.graph.node}
        assert ("CumSum" in ops) == (largest_matrix == 0) and ("MatMul" in ops) == (largest_matrix > 0)
        assert_agrees(module, model, (2,), atol=1e-5)


def test_adaptive_pooling_constants_stay_small():
    graph = analyse("network n : 1x100000 = adaptiveavgpool(99999)").graph
    size = len(weightless_model(graph).SerializeToString())
    assert size < 2_500_000  # O(N): two index arrays and the widths, 2 MB; the averaging matrix would be 40 GB


def test_same_spec_and_seed_give_the_same_bytes(tmp_path):
    net = archlang.load("resnet18").network()
    a, b, c = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.onnx"
    archlang.export_onnx(net, a, seed=5)
    archlang.export_onnx(archlang.load("resnet18").network(), b, seed=5)
    archlang.export_onnx(net, c, seed=6)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    cli = [sys.executable, "-m", "archlang", "compile", "resnet18", "--seed", "5", "-o"]
    subprocess.run([*cli, str(tmp_path / "d.onnx")], check=True, capture_output=True)
    assert (tmp_path / "d.onnx").read_bytes() == a.read_bytes()


def test_seeded_export_holds_a_state_dict_of_the_built_module():
    """A network's export draws its weights with numpy (not torch's values): they are named and
    shaped as the built module's state_dict, and loaded into it the two runtimes agree."""
    net = analyse("network n : 3x8x8 = conv3x3(4) -> bn -> relu -> maxpool -> flatten -> fc(6) -> layernorm -> fc(3)")
    model = archlang.export_onnx(net, seed=11)
    module = net.to_torch(seed=11).eval()
    weights = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    assert not torch.equal(weights["conv1.weight"], module.conv1.weight)
    # every tensor but batch norm's num_batches_tracked, which ONNX has no use for
    assert list(weights) == [k for k in module.state_dict() if not k.endswith("num_batches_tracked")]
    module.load_state_dict(weights, strict=False)
    assert_agrees(module, model, (2,), atol=1e-5)


def test_a_failed_export_leaves_no_file(tmp_path, monkeypatch):
    from archlang.backends import onnx_model
    from archlang.output import OutputError

    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")

    def fail_halfway(chunks, tmp):
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_model, "_write_chunks", fail_halfway)
    with pytest.raises(OutputError, match="No space left"):
        onnx_model.export_onnx(archlang.build("lenet5"), target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_the_streamed_file_is_the_model(tmp_path):
    """Weights go from tensor memory straight to the file; parsing it gives the same message."""
    module = archlang.build("resnet18", seed=2)
    archlang.export_onnx(module, tmp_path / "m.onnx")
    assert onnx.load(tmp_path / "m.onnx") == archlang.export_onnx(module)


def test_modules_not_built_by_archlang_are_refused():
    with pytest.raises(archlang.ArchError, match="not built by archlang"):
        archlang.export_onnx(torch.nn.Linear(2, 3))


def test_bench_prints_its_table_to_the_console_given():
    import io

    from rich.console import Console

    from archlang.benchmark import run_bench

    out = io.StringIO()
    results = run_bench(archlang.load("lenet5").network(), runs=2, threads=1, console=Console(file=out, width=120))
    text = out.getvalue()
    assert [r.engine for r in results] == ["pytorch eager", "onnxruntime"]
    assert "lenet5" in text and "Speed-up vs eager" in text and "max abs difference" in text
    assert all(len(r.times) == 2 for r in results)
