"""Stage 5, ONNX weights: every op's declared state against the torch module it builds, its
initialisation rules drawn by torch and by numpy from the same distributions, export without
torch, external data for models over 2 GiB, and modules that no longer match their network.

The declared state (`Op.tensors`) includes batch norm's `num_batches_tracked` (an int64
buffer), so it equals the built module's state_dict exactly; ONNX export leaves it out."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

import archlang
from archlang.backends import onnx_model
from archlang.backends.initial_weights import draw_weights, state_tensors
from archlang.backends.torch_module import init_module
from archlang.output import OutputError

from .conftest import analyse
from .test_ops import ALL_CASES


# -- the registry: declared state and rules against the torch modules


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_declared_state_is_the_modules_state_dict(text, shape):
    net = analyse(f"network n : {shape} = {text}")
    module = net.to_torch(seed=0)
    state = module.state_dict()
    buffers = dict(module.named_buffers())
    declared = state_tensors(net.graph)
    assert list(declared) == list(state)  # names, in state_dict order
    for key, t in declared.items():
        assert (t.shape, t.dtype, t.buffer) == (tuple(state[key].shape), str(state[key].dtype)[6:], key in buffers), key
    for node in net.graph.layers:
        tensors = node.op.tensors()  # param_count is derived from them (test_ops checks it against torch)
        ruled = [rule.tensor for rule in node.op.init_rules()]  # per layer where they depend on it
        assert len(set(ruled)) == len(ruled) and {t.name for t in tensors} <= set(ruled), node.name
    drawn = draw_weights(net.graph, seed=0)
    assert list(drawn) == list(state)
    for key, array in drawn.items():
        assert (array.shape, str(array.dtype)) == (declared[key].shape, declared[key].dtype), key


def _op_of(text: str):
    from archlang.ops import lookup, split_suffix

    word = text.split("(")[0]
    return lookup(word) or (split_suffix(word) or (None,))[0]


@pytest.mark.parametrize("text,shape", [case for case in ALL_CASES
                                        if getattr(_op_of(case.values[0]), "init_is_torch_default", False)])
def test_rules_marked_as_torchs_default_are_reset_parameters_bit_for_bit(text, shape):
    """Every op whose rules say they are its torch module's own reset_parameters() (the
    generated source leaves them to the constructor) draws exactly what that would."""
    net = analyse(f"network n : {shape} = {text}")
    module = net.to_torch(seed=0)
    for node in net.graph.layers:
        assert type(node.op).init_is_torch_default, node.op.name
        ours, theirs = module.get_submodule(node.name), copy.deepcopy(module.get_submodule(node.name))
        for m in (ours, theirs):  # start from garbage, as a module fresh from the meta device does
            with torch.no_grad():
                for t in m.state_dict().values():
                    t.fill_(7)
        torch.manual_seed(3)
        with torch.no_grad():
            init_module(node, ours)
        torch.manual_seed(3)
        theirs.reset_parameters()
        for key, value in theirs.state_dict().items():
            assert torch.equal(ours.state_dict()[key], value), f"{node.name}.{key}"


def test_generated_source_reads_the_same_rules():
    """python_source prints `Op.torch_init`, derived from `init`: conv's rules as calls, the
    rest left to the module's constructor (whose reset_parameters they are)."""
    from archlang.ops import REGISTRY

    assert REGISTRY["conv"].torch_init == (
        ("weight", "kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}), ("bias", "zeros_", {}))
    for name in ("fc", "bn", "layernorm", "groupnorm", "relu"):
        assert REGISTRY[name].torch_init == (), name


# -- the same distributions, torch and numpy


def _torch_and_numpy(spec: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    net = analyse(spec)
    return net.to_torch(seed=1).state_dict()[key].numpy(), draw_weights(net.graph, seed=1)[key]


def test_conv_weights_are_kaiming_normal_fan_out_in_both():
    # a 7x7 stem: fan_in = 3 * 49 = 147, fan_out = 64 * 49 = 3136, so the mode shows
    spec = "network n : 3x32x32 = conv7x7(64, stride=2)"
    std = np.sqrt(2 / (64 * 49))
    for drawn in _torch_and_numpy(spec, "conv1.weight"):
        assert drawn.shape == (64, 3, 7, 7) and drawn.dtype == np.float32
        assert abs(drawn.std() / std - 1) < 0.05
        assert abs(drawn.mean()) < 4 * std / np.sqrt(drawn.size)
        within = np.mean(np.abs(drawn) < std)  # 0.683 for a normal, 0.577 for a uniform of that std
        assert abs(within - 0.6827) < 0.02
    for bias in _torch_and_numpy(spec, "conv1.bias"):
        assert not bias.any()


def test_fc_weights_and_bias_are_uniform_in_one_over_sqrt_fan_in_in_both():
    spec = "network n : 400 = fc(1000)"
    bound = 1 / np.sqrt(400)
    for key in ("fc1.weight", "fc1.bias"):
        for drawn in _torch_and_numpy(spec, key):
            assert drawn.dtype == np.float32
            assert np.abs(drawn).max() <= bound
            assert drawn.max() > 0.99 * bound and drawn.min() < -0.99 * bound
            assert abs(drawn.std() / (bound / np.sqrt(3)) - 1) < 0.05
            within = np.mean(np.abs(drawn) < bound / 2)  # 0.5 for a uniform, 0.74 for a normal of that std
            assert abs(within - 0.5) < 0.05


def test_norm_layers_start_at_one_and_zero_in_both():
    net = analyse("network n : 4x6x6 = bn -> groupnorm(2) -> layernorm")
    module, drawn = net.to_torch(seed=0), draw_weights(net.graph, seed=0)
    for key, value in module.state_dict().items():
        expected = 1 if key.endswith(("weight", "running_var")) else 0
        assert (value.numpy() == expected).all() and (drawn[key] == expected).all(), key


def test_numpy_draws_are_reproducible():
    graph = archlang.load("lenet5").network().graph
    a, b, c = draw_weights(graph, 7), draw_weights(graph, 7), draw_weights(graph, 8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    assert not np.array_equal(draw_weights(graph)["conv1.weight"], draw_weights(graph)["conv1.weight"])
    # the command's whole seed range (torch's) is accepted, taken modulo 2**64
    assert np.array_equal(draw_weights(graph, -1)["conv1.weight"], draw_weights(graph, 2**64 - 1)["conv1.weight"])


def test_exporting_a_network_does_not_import_torch(tmp_path):
    code = (
        "import sys, archlang\n"
        "from archlang.cli import main\n"
        f"assert main(['compile', 'lenet5', '--seed', '4', '-o', {str(tmp_path / 'cli.onnx')!r}]) == 0\n"
        f"archlang.export_onnx(archlang.load('lenet5').network(), {str(tmp_path / 'api.onnx')!r}, seed=4)\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    assert (tmp_path / "cli.onnx").read_bytes() == (tmp_path / "api.onnx").read_bytes()
    onnx.checker.check_model(onnx.load(tmp_path / "cli.onnx"), full_check=True)


# -- external data


def _session(path_or_bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


@pytest.fixture
def small_limits(monkeypatch):
    """lenet5's 247 KB of weights count as large: external data, and its 192 KB fc1 weight
    as a tensor to align."""
    monkeypatch.setattr(onnx_model, "EXTERNAL_DATA_THRESHOLD", 100_000)
    monkeypatch.setattr(onnx_model, "ALIGN_THRESHOLD", 50_000)


def test_large_weights_go_to_an_external_data_file(tmp_path, small_limits):
    net = archlang.load("lenet5").network()
    path = tmp_path / "lenet.onnx"
    archlang.export_onnx(net, path, seed=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.onnx", "lenet.onnx.data"]
    assert path.stat().st_size < 100_000

    bare = onnx.load(path, load_external_data=False)
    offsets = {}
    for tensor in bare.graph.initializer:
        info = {e.key: e.value for e in tensor.external_data}
        assert tensor.data_location == onnx.TensorProto.EXTERNAL and info["location"] == "lenet.onnx.data"
        offsets[tensor.name] = int(info["offset"])
    assert offsets["fc1.weight"] % 65536 == 0 and offsets["fc1.weight"] > 0  # aligned: 120x400 floats
    assert offsets["conv1.bias"] == offsets["conv1.weight"] + 6 * 25 * 4  # small ones packed

    onnx.checker.check_model(str(path), full_check=True)
    in_memory = archlang.export_onnx(net, seed=3)
    loaded = onnx.load(path)  # reads the data file into each tensor, leaving data_location=DEFAULT
    for tensor in loaded.graph.initializer:
        assert tensor.data_location == onnx.TensorProto.DEFAULT and not tensor.external_data
        tensor.ClearField("data_location")
    assert loaded == in_memory  # the weights read back from the data file are the same
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32), dtype=np.float32)
    (from_file,) = _session(str(path)).run(None, {"input": x})
    (from_memory,) = _session(in_memory.SerializeToString()).run(None, {"input": x})
    np.testing.assert_array_equal(from_file, from_memory)

    again = tmp_path / "again.onnx"
    archlang.export_onnx(archlang.load("lenet5").network(), again, seed=3)
    assert again.read_bytes().replace(b"again.onnx", b"lenet.onnx") == path.read_bytes()
    assert (tmp_path / "again.onnx.data").read_bytes() == (tmp_path / "lenet.onnx.data").read_bytes()


def test_a_model_too_large_for_one_protobuf_goes_external(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_model, "PROTOBUF_LIMIT", 200_000)  # lenet5's one file would be 247 KB
    archlang.export_onnx(archlang.load("lenet5").network(), tmp_path / "m.onnx", seed=0)
    assert (tmp_path / "m.onnx.data").exists()
    monkeypatch.setattr(onnx_model, "PROTOBUF_LIMIT", 2**31)
    archlang.export_onnx(archlang.load("lenet5").network(), tmp_path / "one.onnx", seed=0)
    assert not (tmp_path / "one.onnx.data").exists()


def test_a_failed_model_write_leaves_no_data_file(tmp_path, small_limits, monkeypatch):
    check_size = onnx_model._check_size

    def fail_on_the_model(path, expected, what):
        if what.endswith(".onnx"):
            raise OutputError(f"writing {what} went wrong")
        check_size(path, expected, what)

    monkeypatch.setattr(onnx_model, "_check_size", fail_on_the_model)
    with pytest.raises(OutputError, match="went wrong"):
        archlang.export_onnx(archlang.load("lenet5").network(), tmp_path / "m.onnx", seed=0)
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_graph_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    from archlang.ops.activation import ReLU

    monkeypatch.setattr(ReLU, "onnx_op", "NoSuchOp")
    with pytest.raises(onnx.checker.ValidationError, match="NoSuchOp"):
        archlang.export_onnx(archlang.load("lenet5").network(), tmp_path / "m.onnx", seed=0)
    assert list(tmp_path.iterdir()) == []


# -- a module that no longer matches its network


@pytest.fixture
def lenet():
    return archlang.build("lenet5", seed=0)


@pytest.mark.parametrize("change,message", [
    (lambda m: setattr(m, "conv2", torch.nn.Conv2d(6, 8, 5)), r"'conv2.weight' has shape \[8, 6, 5, 5\], but network "
                                                              r"lenet5 declares \[16, 6, 5, 5\]"),
    (lambda m: setattr(m, "conv1", torch.nn.Identity()), "no tensor 'conv1.weight'"),
    (lambda m: setattr(m.fc3, "weight", torch.nn.Parameter(torch.zeros(10, 42))), "'fc3.weight' has shape"),
    (lambda m: m.half(), "'conv1.weight' is float16; ONNX export takes float32"),
    (lambda m: m.double(), "'conv1.weight' is float64"),
    (lambda m: m.fc2.register_buffer("scale", torch.ones(1)), "a tensor 'fc2.scale' that network lenet5 does not have"),
])
def test_a_changed_module_is_refused_naming_the_first_difference(lenet, tmp_path, change, message):
    change(lenet)
    with pytest.raises(archlang.ArchError, match=message):
        archlang.export_onnx(lenet)
    with pytest.raises(archlang.ArchError, match=message):
        archlang.export_onnx(lenet, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_unchanged_module_exports_its_own_weights(lenet):
    with torch.no_grad():
        lenet.fc3.bias.fill_(0.25)
    model = archlang.export_onnx(lenet)
    bias = next(t for t in model.graph.initializer if t.name == "fc3.bias")
    assert (onnx.numpy_helper.to_array(bias) == 0.25).all()


def test_compile_names_the_external_data_file(tmp_path, monkeypatch, capsys):
    from archlang.backends import onnx_model
    from archlang.cli import main

    monkeypatch.setattr(onnx_model, "EXTERNAL_DATA_THRESHOLD", 100_000)
    assert main(["compile", "lenet5", "-o", str(tmp_path / "l.onnx")]) == 0
    assert f"its weights in {tmp_path / 'l.onnx.data'}" in capsys.readouterr().err
    monkeypatch.setattr(onnx_model, "EXTERNAL_DATA_THRESHOLD", 2**31)
    assert main(["compile", "mlp", "-o", str(tmp_path / "m.onnx")]) == 0
    assert "weights in" not in capsys.readouterr().err
