"""Stage 5, PyTorch: built modules against the IR, against torchvision-style hand-written
models, and in use (training, torch.compile, torch.export, DistributedDataParallel)."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys

import pytest
import torch
from torch import fx, nn

import archlang
from archlang.backends.python_source import python_source
from archlang.backends.torch_module import build_module
from archlang.backends.torch_weights import WeightsError

from . import reference_models as ref
from .conftest import KINDS


def exec_source(source: str) -> dict:
    namespace: dict = {"__name__": "generated_model"}
    exec(compile(source, "<generated>", "exec"), namespace)
    return namespace


def activations(module: nn.Module, *x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every node's value: forward hooks on the layer modules, fx for the merges between them."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        module.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.shape))
        for name, _ in module.named_modules()
        if name and not list(module.get_submodule(name).children())
    ]
    try:
        interp = fx.Interpreter(module)
        values = {}
        run_node = interp.run_node

        def record(n):
            out = run_node(n)
            values[n] = out.shape if isinstance(out, torch.Tensor) else None
            return out

        interp.run_node = record
        interp.run(*x)
    finally:
        for h in hooks:
            h.remove()
    return seen, values


@pytest.mark.parametrize("name", KINDS)
def test_bundled_network_builds_as_the_ir_says(name):
    """Every bundled network, structurally and for free: built on the meta device (no weight
    is allocated), its modules, parameter count and every layer's output shape are the IR's,
    and torch's FlopCounterMode counts the MACs archlang reports (two FLOPs a MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = archlang.load(name).network()
    module = build_module(net.graph, device="meta")
    assert sum(p.numel() for p in module.parameters()) == net.total_params
    xs = [torch.empty(2, *t.shape, device="meta",  # 2: batch norm in training mode on a 1x1 map
                      dtype=torch.long if t.ids else torch.float) for _, t in net.inputs]
    with FlopCounterMode(display=False) as counter:
        hooked, values = activations(module, *xs)
    assert counter.get_total_flops() == 2 * 2 * net.total_macs
    layer_shapes = {info.name: (2, *info.output_shape) for info in net.layers}
    for name_, shape in hooked.items():
        assert tuple(shape) == layer_shapes[name_], name_
    functional = [n for n in net.graph.layers if n.op.torch_spec(net.graph.input_types(n)) is None]
    assert len(hooked) == len(net.layers) - len(functional)
    from archlang.backends.torch_module import held_until_block_end  # holds a value, computes nothing

    merge_shapes = {tuple(s) for n, s in values.items()  # the ops without a module: their values' shapes
                    if n.op in ("call_function", "call_method") and "archlang_node" in n.meta}
    assert not any(n.target is held_until_block_end and "archlang_node" in n.meta for n in values)
    assert merge_shapes == {(2, *n.type.shape) for n in functional}
    output = next(n for n in values if n.op == "output")
    returned = [n for n in output.args[0]] if isinstance(output.args[0], tuple) else [output.args[0]]
    assert [tuple(values[n]) for n in returned] == [(2, *t.shape) for _, t in net.outputs]


LRN_NET = "network lrn_net : 3x32x32 = conv3x3(16) -> relu -> lrn -> maxpool -> flatten -> fc(10)\n"  # vgg11_lrn's


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "lrn_net"])
def test_built_module_and_standalone_source_compute_the_same(name):
    """Numbers on a representative set (a plain chain, residual blocks, LRN as vgg11_lrn uses
    it, at a small size): the module runs, and the standalone source, in a fresh namespace with
    the same weights, agrees exactly."""
    net = (archlang.parse(LRN_NET) if name == "lrn_net" else archlang.load(name)).network()
    module = archlang.build(net, seed=0).eval()
    assert module.network is net
    x = torch.randn(1, *net.input_shape)
    namespace = exec_source(python_source([net.graph], "spec.arch"))
    standalone = namespace[namespace["__all__"][0]]().eval()
    standalone.load_state_dict(module.state_dict())
    with torch.no_grad():
        out = module(x)
        assert tuple(out.shape) == (1, *net.output_shape) and torch.equal(standalone(x), out)


def test_state_dict_keys_read_like_the_spec():
    keys = list(archlang.build("resnet50").state_dict())
    assert keys[:3] == ["stem1.cbn1.conv1.weight", "stem1.cbn1.bn1.weight", "stem1.cbn1.bn1.bias"]
    assert "bottleneck1.shortcut1.conv1.weight" in keys and keys[-2:] == ["head1.fc1.weight", "head1.fc1.bias"]
    assert keys == list(archlang.build("resnet50").state_dict())  # stable across builds


def test_seed_makes_weights_reproducible():
    a, b, c = (archlang.build("lenet5", seed=s).state_dict() for s in (7, 7, 8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])
    state = torch.random.get_rng_state()
    archlang.build("lenet5", seed=3)
    assert torch.equal(state, torch.random.get_rng_state())  # a seeded build leaves the global RNG alone


def _moments(t: torch.Tensor) -> tuple[float, float, float]:
    """(mean, std, kurtosis) of a tensor's values: kurtosis 3 for a normal, 1.8 for a uniform."""
    v = t.detach().double().flatten()
    mean, std = v.mean().item(), v.std().item()
    return mean, std, (((v - mean) / std) ** 4).mean().item()


def test_initialisation_follows_torchvision():
    module = archlang.build("resnet18", seed=0)
    # the stem: 64 x 3 x 7 x 7, where fan_out (3136) and fan_in (147) differ by 21x
    conv = module.get_submodule("stem1.cbn1.conv1")
    mean, std, kurtosis = _moments(conv.weight)
    assert abs(std / (2 / (64 * 49)) ** 0.5 - 1) < 0.05  # kaiming normal, fan_out, ReLU gain
    assert abs(mean) < 0.002 and abs(kurtosis - 3) < 0.3  # normal, not uniform
    # fc: torch's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
    fc = module.get_submodule("head1.fc1")
    bound = 1 / 512**0.5
    mean, std, kurtosis = _moments(fc.weight)
    assert fc.weight.abs().max() <= bound and abs(std / (bound / 3**0.5) - 1) < 0.05 and abs(kurtosis - 1.8) < 0.1
    assert fc.bias.abs().max() <= bound and fc.bias.std() > bound / 4
    bn = module.get_submodule("basic1.cbn1.bn1")
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1)
    vgg = archlang.build(archlang.parse("network v : 3x8x8 = conv3x3(16) -> relu"), seed=0)
    assert torch.all(vgg.get_submodule("conv1").bias == 0)


def test_build_from_a_path_and_to_torch(tmp_path):
    spec = tmp_path / "tiny.arch"
    spec.write_text("network a : 3x8x8 = conv3x3(4) -> relu\nnetwork b : 5 = fc(3)\n")
    assert archlang.build(spec, "b")(torch.zeros(1, 5)).shape == (1, 3)
    net = archlang.load(spec).network("a")
    module = net.to_torch(seed=1)
    assert module.network is net and module(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)


# ---- weights from torchvision-style models

PAIRS = [
    ("vgg11", lambda: ref.vgg("A"), (2, 3, 64, 64)),
    ("vgg11_bn", lambda: ref.vgg("A", batch_norm=True), (2, 3, 64, 64)),
    ("resnet18", ref.resnet18, (2, 3, 224, 224)),
    ("resnet50", ref.resnet50, (2, 3, 224, 224)),
]


@pytest.mark.parametrize("name,make_reference,shape", PAIRS, ids=[p[0] for p in PAIRS])
def test_torchvision_weights_load_and_compute_the_same(name, make_reference, shape):
    torch.manual_seed(0)
    with torch.device("meta"):  # torch.nn.init on VGG's 132M weights took a second: drawn below instead
        reference = make_reference()
    reference = reference.to_empty(device="cpu")
    for t in reference.state_dict().values():  # U(-1/sqrt(fan in), ..), as nn.Linear starts
        if t.is_floating_point():
            t.uniform_(-1, 1).mul_(t[0].numel() ** -0.5 if t.dim() > 1 else 0.1)
        else:
            t.zero_()
    # give batch norm non-trivial statistics so that buffers are checked too
    for m in reference.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    # every tensor is overwritten by the reference's: built uninitialised (132M of VGG's weights
    # drawn for nothing took a second)
    built = build_module(archlang.load(name).network(name).graph, device="meta").to_empty(device="cpu")
    assert [p.shape for p in built.parameters()] == [p.shape for p in reference.parameters()]
    archlang.load_weights(built, reference.state_dict())
    reference.eval()
    built.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        assert (built(x) - reference(x)).abs().max().item() <= 1e-5
    archlang.load_weights(built, reference)  # a module works as the source too


def test_load_weights_mismatch_names_the_pair_and_copies_nothing():
    built = archlang.build("resnet18", seed=0)
    before = {k: v.clone() for k, v in built.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        archlang.load_weights(built, ref.resnet50())
    message = info.value.message
    assert "tensor 1 differs" not in message  # the stems agree; the first difference is later
    assert "basic1.cbn1.conv1.weight is 64x64x3x3 here, layer1.0.conv1.weight is 64x64x1x1 in the source" in message
    assert all(torch.equal(before[k], v) for k, v in built.state_dict().items())
    with pytest.raises(WeightsError, match="the first without a partner is"):
        archlang.load_weights(archlang.build("lenet5"), {k: v for k, v in archlang.build("lenet5").state_dict().items()
                                                          if not k.startswith("fc3")})



class ScaledPair(nn.Module):
    """A torchvision CNBlock in small: its own parameter registered before its submodules."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(3, 1, 1))
        self.block = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 1))

    def forward(self, x):
        return self.scale * self.block(x)


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3, 1, 1))

    def forward(self, x):
        return self.weight * x


def test_load_weights_reads_a_linear_weight_as_a_1x1_convolution():
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    conv = nn.Sequential(nn.Conv2d(4, 6, 1), nn.ReLU(), nn.Conv2d(6, 2, 1))
    assert archlang.load_weights(conv, linear.state_dict()) is conv
    x = torch.randn(5, 4, 3, 3)
    with torch.no_grad():
        expected = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        assert torch.allclose(conv(x), expected, atol=1e-6)
    conv[0].weight.data += 1
    archlang.load_weights(linear, conv)  # and back
    assert torch.equal(linear[0].weight, conv[0].weight.flatten(1))
    for conv_class in (nn.Conv1d, nn.Conv3d):
        other = archlang.load_weights(conv_class(4, 6, 1), linear[0].state_dict())
        assert torch.equal(other.weight.flatten(1), linear[0].weight) and torch.equal(other.bias, linear[0].bias)


def test_load_weights_puts_a_modules_own_tensor_after_its_submodules():
    torch.manual_seed(0)
    source = ScaledPair()
    assert list(source.state_dict())[0] == "scale"  # before block.0.weight: rule 1 fails
    built = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 1), Scale())
    archlang.load_weights(built, source.state_dict())
    assert torch.equal(built[2].weight, source.scale)
    assert torch.equal(built[0].weight, source.block[0].weight) and torch.equal(built[1].bias, source.block[1].bias)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        assert torch.allclose(built(x), source(x), atol=1e-6)


def test_load_weights_names_the_first_mismatch_when_no_rule_pairs_and_copies_nothing():
    source = ScaledPair()
    built = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 4, 1), Scale())
    before = {k: v.clone() for k, v in built.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        archlang.load_weights(built, source.state_dict())
    assert info.value.message == "tensor 1 differs: 0.weight is 3x3x3x3 here, scale is 3x1x1 in the source"
    assert "own tensors after its submodules'" in info.value.hint
    assert all(torch.equal(before[k], v) for k, v in built.state_dict().items())


@pytest.mark.parametrize("mine,theirs", [((6, 4), (4, 6)), ((24,), (6, 4)), ((6, 4, 1, 1), (4, 6)),
                                         ((6, 4, 2, 1), (6, 4)), ((6, 1, 1), (6,)), ((6, 4, 1), (6, 4, 1, 1))])
def test_load_weights_reshapes_only_by_trailing_singletons_of_a_2d_weight(mine, theirs):
    built = nn.ParameterDict({"w": nn.Parameter(torch.zeros(mine))})
    with pytest.raises(WeightsError, match="tensor 1 differs"):
        archlang.load_weights(built, {"w": torch.ones(theirs)})
    assert not built["w"].any()


# ---- in use

def _learnable_data(shape, classes=10, n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g)
    teacher = torch.randn(x[0].numel(), classes, generator=g)
    y = (x.flatten(1) @ teacher).argmax(1)
    return x, y


@pytest.mark.parametrize("name", ["mlp", "lenet5"])
def test_training_halves_the_loss(name):
    """Every parameter gets a gradient, and 60 Adam steps on two batches halve the loss (the
    network can fit them: training works end to end, in a second)."""
    module = archlang.build(name, seed=0)
    x, y = _learnable_data(module.network.input_shape)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(60):
        i = (step * 64) % len(x)
        opt.zero_grad()
        loss = loss_fn(module(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        if step == 0:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 <= 0.5 * sum(losses[:10]) / 10


def test_torch_compile_gives_the_eager_output():
    module = archlang.build("lenet5", seed=0).eval()
    x = torch.randn(4, 1, 32, 32)
    compiled = torch.compile(module)
    with torch.no_grad():
        assert torch.allclose(compiled(x), module(x), atol=1e-5)


@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_torch_export(name):
    module = archlang.build(name, seed=0).eval()
    x = torch.randn(2, *module.network.input_shape)
    program = torch.export.export(module, (x,))
    with torch.no_grad():
        assert torch.allclose(program.module()(x), module(x), atol=1e-5)


def test_compile_command_writes_py_and_pt2(tmp_path, capsys):
    from archlang.cli import main

    assert main(["compile", "lenet5", "-o", str(tmp_path / "lenet.py")]) == 0
    namespace = exec_source((tmp_path / "lenet.py").read_text())
    assert namespace["__all__"] == ["Lenet5"]
    assert main(["compile", "lenet5", "-o", str(tmp_path / "lenet.pt2"), "--seed", "3"]) == 0
    program = torch.export.load(str(tmp_path / "lenet.pt2"))
    reference = archlang.build("lenet5", seed=3).eval()
    for batch in (1, 5):  # the batch dimension is dynamic
        x = torch.randn(batch, 1, 32, 32)
        with torch.no_grad():
            assert torch.allclose(program.module()(x), reference(x), atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.pt2", "lenet.py"]  # no temporary files left


def test_compile_refuses_bad_outputs(tmp_path, capsys):
    from archlang.cli import main

    spec = tmp_path / "net.arch"
    spec.write_text("network a : 4 = fc(2)\nnetwork b : 4 = fc(3)\n")
    run = lambda *a: main(["compile", *a])
    assert run(str(spec), "-o", str(spec)) == 2
    assert spec.read_text().startswith("network a")
    assert run(str(spec), "-o", str(tmp_path / "out.txt")) == 2
    assert run(str(spec), "-o", str(tmp_path / "out.pt2")) == 2
    assert "choose one with -n" in capsys.readouterr().err
    assert run(str(spec), "-o", str(tmp_path / "nodir" / "x.py")) == 2
    assert run(str(spec), "-o", str(tmp_path / "both.py")) == 0
    assert exec_source((tmp_path / "both.py").read_text())["__all__"] == ["A", "B"]


def test_generated_source_cannot_be_injected(tmp_path):
    weird = tmp_path / 'evil"\n__import__("os").system("x")#.arch'
    weird.write_text("block __x = relu\nnetwork a : 4 = fc(2)\n")
    with pytest.raises(archlang.ArchError, match="reserved"):
        archlang.load(weird)
    weird.write_text("block def = relu\nnetwork None : 4 = fc(2) -> def\n")
    program = archlang.load(weird)
    source = python_source([program.network("None").graph], str(weird))
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == ["import torch", "from torch import nn"]
    called = {getattr(n.func, "id", getattr(n.func, "attr", None)) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not called & {"__import__", "system", "eval", "exec"}
    assert source.splitlines()[0].startswith("# Generated by archlang") and '"' not in source.splitlines()[0]
    namespace = exec_source(source)
    assert namespace["__all__"] == ["NoneNet"]
    assert namespace["NoneNet"]()(torch.zeros(1, 4)).shape == (1, 2)


# ---- past one machine

DDP_WORKER = r"""
import os, sys, torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
import archlang

rank, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
model = DDP(archlang.build("lenet5", seed=0))
start = [p.detach().clone() for p in model.parameters()]
opt = torch.optim.SGD(model.parameters(), lr=0.1)
g = torch.Generator().manual_seed(100 + rank)  # different data on each rank
for _ in range(3):
    x, y = torch.randn(8, 1, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
params = [p.detach() for p in model.parameters()]
assert any(not torch.equal(a, b) for a, b in zip(start, params)), "training changed nothing"
torch.save(params, out)
dist.destroy_process_group()
"""


def test_distributed_data_parallel_keeps_ranks_identical(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "worker.py"
    script.write_text(DDP_WORKER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(rank), str(port), str(tmp_path / f"rank{rank}.pt")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in (0, 1)
    ]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert len(rank0) == 10 and all(torch.equal(a, b) for a, b in zip(rank0, rank1))


@pytest.mark.parametrize("spoil,words", [
    (lambda sd: sd.__setitem__("fc3.bias", torch.empty(10, device="meta")), "meta device"),
    (lambda sd: sd.__setitem__("fc3.bias", torch.zeros(10, dtype=torch.int64)), "differs in kind"),
    (lambda sd: sd.__setitem__("fc3.bias", torch.zeros(10, dtype=torch.complex64)), "differs in kind"),
])
def test_load_weights_validates_everything_before_copying(spoil, words):
    built = archlang.build("lenet5", seed=0)
    before = {k: v.clone() for k, v in built.state_dict().items()}
    source = archlang.build("lenet5", seed=1).state_dict()
    spoil(source)
    with pytest.raises(WeightsError, match=words):
        archlang.load_weights(built, source)
    assert all(torch.equal(before[k], v) for k, v in built.state_dict().items())


@pytest.mark.parametrize("text", ["network n : 100000 = fc(100000) -> fc(100000) * 200",
                                  "network n : 3x100000x100000 = conv3x3(4)"])
def test_build_refuses_what_cannot_fit_before_allocating(text):
    with pytest.raises(archlang.ArchError, match="needs .* of memory; this machine has .* available"):
        archlang.build(archlang.parse(text))


def test_a_block_named_like_a_layer_builds_and_compiles(tmp_path):
    """Issue 9's spec: block fc1 after ten fc layers crashed build and compile -o x.py."""
    text = "block fc1(c) = fc(c) -> relu\nnetwork n : 16 = fc(16) * 10 -> fc1(8) -> fc(4)\n"
    net = archlang.parse(text).network()
    module = archlang.build(net, seed=0).eval()
    namespace = exec_source(python_source([net.graph], "n.arch"))
    standalone = namespace["N"]().eval()
    standalone.load_state_dict(module.state_dict())
    x = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(standalone(x), module(x))
    assert "fc1_1.fc1.weight" in module.state_dict() and "fc11.weight" in module.state_dict()


def test_two_networks_with_one_class_name_are_located():
    program = archlang.parse("network a_b : 4 = fc(2)\nnetwork aB : 4 = fc(3)\n", "two.arch")
    with pytest.raises(archlang.ArchError, match="a_b and aB would both become the Python class AB") as info:
        python_source([program.network(n).graph for n in program.networks], "two.arch")
    assert (info.value.span.line, info.value.span.col) == (2, 1)


def test_in_place_through_ops_that_may_return_their_input():
    """At inference dropout and stochastic depth hand their input through unchanged, so an
    add may write into their output only when it could write into that input."""
    from archlang.backends.torch_plan import inplace_plan

    safe = archlang.parse("network n : 4x6x6 = residual(conv3x3 -> bn -> stochasticdepth(0.1)) -> relu").network()
    assert inplace_plan(safe.graph)["add1"]
    shared = archlang.parse("network n : 4x6x6 = conv3x3 -> bn as b -> dropout -> (identity, b) -> add -> relu"
                            ).network()
    assert not inplace_plan(shared.graph)["add1"]  # bn's output is read twice: it must survive
    module = archlang.build(shared, seed=0).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        bn = module.get_submodule("bn1")(module.get_submodule("conv1")(x))
        assert torch.allclose(module(x), torch.relu(2 * bn))


def test_release_plan_keeps_a_block_input_until_the_block_returns():
    """As a hand-written forward: a value goes at its last reader, except that a block's input
    stays until that block's last layer; outputs and inputs are never released; the module
    and the standalone source both follow the plan."""
    from archlang.backends.python_source import python_source
    from archlang.backends.torch_plan import release_plan

    from .conftest import analyse

    net = analyse("block b = conv3x3(4) -> relu -> conv3x3(4)\n"
                  "network n : 3x8x8 = conv3x3(4) -> b -> b -> relu")
    plan = release_plan(net.graph)
    released = {v: k for k, vs in plan.items() for v in vs}
    assert released["conv1"] == "b1.conv2"  # read by b1.conv1 only, but b1 holds its input to its end
    assert released["b1.conv1"] == "b1.relu1"  # inside the block: at its last reader
    assert released["b1.conv2"] == "b2.conv2"
    assert "x" not in released and "input" not in released and net.graph.output not in released
    code = archlang.build(net).code
    assert code.count("held_until_block_end(") == 2  # conv1 and b1.conv2 outlive their readers
    source = python_source([net.graph])
    assert source.split("b1_conv2 = ")[1].split("\n")[1] == "        del conv1, b1_relu1"  # right after the block's end
