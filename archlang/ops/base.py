"""The op contract and its registry.

An op is one frozen dataclass that states everything about a layer in one place:
- `args`: how the language passes its arguments (names, kinds, defaults), checked by `bind`;
- `make`: resolves defaults that depend on the input (channels kept, "same" padding, 1D/2D/3D);
- `infer`: the shape rule; `param_count`, `macs` and `work` (every arithmetic operation, with
  `work_rule` in words): the cost rules;
- `infer_at`: the shape rule again for inputs of other spatial sizes than those the op was
  made for (its resolved arguments kept): `archlang sizes` sweeps input sizes with it; `infer`
  is that rule for every op whose arguments hold no input size (crop and upsample say theirs);
- `window`: the receptive-field step (a sliding window, `None` for pointwise ops, `GLOBAL`;
  resampling ops give a window of rational sizes, see `Window`);
- `label`, `family`, `glyph`: how tables and diagrams show it (a `Family` carries the colours);
- traits the backends ask instead of testing names: `inplace` (may write its result into its
  first input), `output_overwritable` (its gradient does not need its own output, so a
  consumer may overwrite it), `skip_inputs` (inputs after the first are drawn as skips);
- `tensors` / `init`: its state (each tensor's name, shape, and whether it is a buffer), as
  torch's state_dict holds it, and how each tensor starts (`Init` rules, framework-neutral
  data: the torch builder maps them to torch.nn.init, ONNX export draws them with numpy);
  `init_rules()` gives them for one layer (layerscale's starting value is an argument);
- `torch_spec`: the torch module it becomes, as data (class name and arguments) that both
  the module builder and the source emitter use: a torch.nn class, or one of archlang's own
  for what torch.nn lacks (ops/modules.py: `torch_class`, `torch_class_source`); ops without
  a module (merges, stochastic depth) give `torch_fx` and `torch_source`, their forward as a
  torch.fx node and as Python source;
- `onnx_nodes`: the ONNX nodes it becomes.
Ops raise `OpError` (no position); `lower` attaches the span of the offending argument.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from ..ir import TensorType
from ..records import record
from .formula import Formula, maps, product  # the explanation half of the op contract
from .state import Init, StateTensor  # the state half of the op contract, re-exported

__all__ = [
    "REQUIRED", "MAX_SIZE", "Arg", "OpError", "Bound", "Window", "GLOBAL", "Family", "Op",
    "Init", "StateTensor", "register", "REGISTRY", "lookup", "split_suffix", "canonical_ops", "axes", "window_out", "nd", "need_spatial",
    "torch_class", "torch_class_source", "own_torch_classes", "Formula", "keep_like",
]

from .args import (  # the argument half of the op contract, re-exported
    FLOAT32_MAX, MAX_SIZE, REQUIRED, Arg, Bound, LayerOf, OpError, _check_value, _show, axes)

@record
class Window:
    """A sliding window per spatial axis: what a layer contributes to the receptive field.

    Output unit o reads input units in [o*S - P, o*S - P + D(K - 1)]. Convolution and
    pooling give integers. Resampling ops (upsampling, transposed convolution, adaptive
    pooling to a size that is not a divisor) give `fractions.Fraction`s: a stride below 1
    moves less than one input unit per output unit, and the interval is the tightest one of
    that form that holds every output unit's inputs (their dilation is 1)."""

    kernel: tuple[int | Fraction, ...]
    stride: tuple[int | Fraction, ...]
    padding: tuple[int | Fraction, ...]
    dilation: tuple[int, ...]


GLOBAL: Any = type("Global", (), {"__repr__": lambda self: "GLOBAL"})()


def need_spatial(op: str, x: TensorType, hint: str) -> None:
    """OpError unless `x` has spatial axes (a conv, pool or LRN on a feature vector)."""
    if x.rank == 0:
        raise OpError(
            f"{op} needs an input with spatial axes, but this input is {x} (a feature vector)",
            hint=hint,
            kind="shape",
        )


def keep_like(op: "Op", like: TensorType | None) -> "Op":
    """Keep the like= value's type object on `op` (see `Op.like_type`); returns `op`."""
    if like is not None:
        object.__setattr__(op, "like_type", like)
    return op


def nd(name: str, rank: int) -> str:
    """torch's 1d/2d/3d class for a spatial rank (feature vectors use 1d)."""
    return f"{name}{max(rank, 1)}d"


def window_out(op: str, size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """O = floor((I + 2P - D(K-1) - 1) / S) + 1, as PyTorch computes it; OpError below 1.
    ceil: PyTorch's ceil_mode, O = ceil(...) + 1, less one where the last window would start
    past the input and its left padding ((O - 1)S >= I + P)."""
    keff = d * (k - 1) + 1
    span = size + 2 * p - keff
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and out >= 1 and (out - 1) * s >= size + p:
        out -= 1
    if out < 1:
        kname = "K" if d == 1 else "K'"
        rounding = "ceil" if ceil else "floor"
        floor_l, floor_r = ("", "") if s == 1 else (f"{rounding}(", ")")
        detail = [
            f"O = {floor_l}(I + 2P - {kname})/S{floor_r} + 1 = "
            f"{floor_l}({size} + {2 * p} - {keff})/{s}{floor_r} + 1 = {out}"
        ]
        if d != 1:
            detail.append(f"K' = D(K - 1) + 1 = {d}({k} - 1) + 1 = {keff} (dilated kernel)")
        raise OpError(
            f"spatial size becomes {out} after {op}",
            detail=detail,
            hint=f"the kernel ({keff}) is larger than the padded input ({size + 2 * p}); "
            "use a smaller kernel, add padding, or drop a pooling layer before it",
            kind="shape",
        )
    return out


class Family(str, Enum):
    """What kind of layer an op is, and how tables, diagrams and legends show that kind."""

    CONV = ("conv", "convolution", "#a8d5f2", "cyan")
    POOL = ("pool", "pooling", "#b8e0c2", "green")
    NORM = ("norm", "normalisation", "#f9e3a3", "magenta")
    ACTIVATION = ("activation", "activation", "#f7c6a3", "yellow")
    FC = ("fc", "fully connected", "#d7c4ec", "blue")
    ATTENTION = ("attention", "attention", "#f4b6c2", "bright_red")
    EMBED = ("embed", "embedding", "#ecd5bb", "bright_cyan")
    RECURRENT = ("recurrent", "recurrent", "#c2cdf0", "bright_magenta")
    MERGE = ("merge", "merge", "#ffffff", "red")
    OTHER = ("other", "reshape / dropout", "#e6e6e6", "default")
    INPUT = ("input", "input", "#ffffff", "default")

    def __new__(cls, value: str, legend: str, fill: str, style: str) -> "Family":
        member = str.__new__(cls, value)
        member._value_ = value
        member.legend = legend  # the legend's words for it
        member.fill = fill  # the diagram's fill colour
        member.style = style  # the terminal table's colour (rich)
        return member


# -- initialisation: framework-neutral rules that the torch builder and numpy both follow

class Op:
    """Base of every op. Subclasses are frozen dataclasses registered with `@register`."""

    name: ClassVar[str]
    family: ClassVar[Family]
    aliases: ClassVar[tuple[str, ...]] = ()
    args: ClassVar[tuple[Arg, ...]] = ()
    kernel_suffix: ClassVar[bool] = False  # accepts conv3x3-style names
    elide: ClassVar[bool] = False  # lowers to no node (identity)
    merge: ClassVar[bool] = False  # takes branches: add(a | b)
    inplace: ClassVar[bool] = False  # may write its result into its first input
    output_overwritable: ClassVar[bool] = False  # its backward does not read its own output
    aliases_input: ClassVar[bool] = False  # may return its input itself (dropout at inference)
    skip_inputs: ClassVar[bool] = False  # diagrams draw inputs after the first as skip edges
    glyph: ClassVar[str | None] = None  # diagrams draw it as this symbol in a circle (merges)
    sequences: ClassVar[bool] = False  # takes token sequences ([197]x768), working per token
    token_ids: ClassVar[bool] = False  # takes token indices ([1024]): an embedding
    feature_maps: ClassVar[bool] = True  # takes feature maps and vectors (3x224x224, 4096)

    @classmethod
    def check_input(cls, x: TensorType) -> None:
        """OpError where the op does not take `x`'s layout (a sequence fed to a convolution,
        token indices to anything but an embedding), with a hint on how to convert."""
        if x.ids and not cls.token_ids:
            raise OpError(
                f"{cls.name} cannot read token indices ({x}): they are integers, not features",
                hint="embed(vocab, dim) turns each token index into a learned vector first", kind="shape",
            )
        if x.is_sequence and not cls.sequences:
            raise OpError(f"{cls.name} does not work on a token sequence ({x})", hint=cls.sequence_hint(x),
                          kind="shape")
        if not x.tokens and not cls.feature_maps:
            what = "a feature vector" if not x.rank else "a feature map"
            raise OpError(f"{cls.name} works on token sequences, but this input is {x} ({what})",
                          hint="'tokens' turns a C x H x W map into a sequence of H*W tokens of C features",
                          kind="shape")

    @classmethod
    def sequence_hint(cls, x: TensorType) -> str:
        """How to get from a sequence to what this op takes (a feature map, by default)."""
        side = math.isqrt(x.tokens)
        grid = f"grid({side}, {side})" if side * side == x.tokens else "grid(h, w) with h x w tokens"
        return (f"a sequence is tokens x features, not channels x length; {grid} lays the tokens out as a "
                f"{x.channels}-channel map first")

    @classmethod
    def bind(cls, positional: list, keyword: dict[str, Any]) -> Bound:
        """Check a call's arguments against `args`: OpError on any mismatch."""
        values: dict[str, Any] = {}
        given = set()
        if len(positional) > len(cls.args):
            if not cls.args:
                raise OpError(f"{cls.name} takes no arguments", arg=0, hint=f"write '{cls.name}' alone")
            names = ", ".join(a.name for a in cls.args)
            raise OpError(
                f"{cls.name} takes at most {len(cls.args)} positional argument"
                f"{'s' if len(cls.args) > 1 else ''} ({names}), got {len(positional)}",
                arg=len(cls.args),
            )
        for spec, value in zip(cls.args, positional):
            values[spec.name] = _check_value(cls.name, spec, value)
            given.add(spec.name)
        by_name = {a.name: a for a in cls.args}
        for name, value in keyword.items():
            if name not in by_name:
                from ..errors import suggest

                close = suggest(name, by_name)
                known = ", ".join(by_name) or "none"
                raise OpError(
                    f"{cls.name} has no argument '{name}'",
                    arg=name,
                    hint=(f"did you mean '{close}'? " if close else "") + f"{cls.name} takes: {known}",
                )
            if name in given:
                raise OpError(f"{cls.name}: argument '{name}' is given twice", arg=name)
            values[name] = _check_value(cls.name, by_name[name], value)
            given.add(name)
        for spec in cls.args:
            if spec.name not in values:
                if spec.default is REQUIRED:
                    raise OpError(
                        f"{cls.name} needs the argument '{spec.name}'",
                        hint=f"{spec.name}: {spec.doc}" if spec.doc else None,
                    )
                values[spec.name] = spec.default
        return Bound(values, frozenset(given))

    @classmethod
    def make(cls, a: Bound, x: TensorType) -> "Op":
        """Resolve the call's arguments against the input type into a node's op."""
        return cls()

    def infer(self, inputs: tuple[TensorType, ...]) -> TensorType:
        """The output type; pointwise by default."""
        return inputs[0]

    like_type: ClassVar[TensorType | None] = None
    """For an op made with `like=x`: x's TensorType, the very object lowering gave (`keep_like`),
    so that a graph walker finds the node it came from (the earliest node whose `type is` it).
    Not a field: it is no part of the op's identity, equality or IR text."""

    def infer_at(self, inputs: tuple[TensorType, ...], like: TensorType | None = None) -> TensorType:
        """The output type for `inputs` of any spatial sizes (channels and rank as the op was
        made for), `like` being the like= value's type at those sizes; OpError where the op's
        rules fail there, with the message lowering would give. `infer` by default."""
        return self.infer(inputs)

    def param_count(self) -> int:
        """Trainable parameters: the sizes of the tensors `tensors()` declares, buffers aside
        (one source for the count, the torch module, ONNX's initializers and the weights)."""
        return sum(math.prod(t.shape) for t in self.tensors() if not t.buffer)

    def macs(self, inputs: tuple[TensorType, ...], out: TensorType) -> int:
        return 0

    work_rule: ClassVar[str] = ""
    """`work` in words, for docs/costs.md (which lists every op's) and `--count all`."""

    def work(self, inputs: tuple[TensorType, ...], out: TensorType) -> int:
        """Every arithmetic operation of the layer's forward at inference (`--count all`, per
        sample): 2 per multiply-accumulate, 1 per other add, subtract, multiply, divide, compare,
        exp, square root or tanh; 0 for ops that only move, view or look up data. Each op states
        its rule once, here and in `work_rule`."""
        raise NotImplementedError(f"{self.name} states no work rule")

    def window(self) -> Window | None:
        """The receptive-field step: a Window, None (pointwise) or GLOBAL."""
        return None

    def window_on(self, inputs: tuple[TensorType, ...]) -> Window | None:
        """The step for these inputs: `window()`, unless the layout changes it (fc on a token
        sequence works per token)."""
        return self.window()

    def label(self) -> str:
        return self.name

    # -- explain: the rules above with this layer's numbers filled in (ops/formula.py)

    def explain_shape(self, inputs: tuple[TensorType, ...], out: TensorType) -> tuple[Formula, ...]:
        """The shape rule as lines, one per output axis it changes (`Formula.axes`); none
        where the shape is kept."""
        return ()

    def explain_channels(self, inputs: tuple[TensorType, ...], out: TensorType) -> str:
        """What the output's channels (or features) are, in words."""
        return f"{maps(out)}, as they came in: {self.name} keeps the channels and their sizes"

    def explain_params(self) -> Formula:
        """`param_count` as a formula over the declared tensors (buffers are not counted)."""
        trained = [t for t in self.tensors() if not t.buffer]
        if not trained:
            return Formula("", 0, note=f"{self.name} has no weights")
        return Formula(" + ".join(f"{product(t.shape) or 1} ({t.name})" for t in trained),
                       sum(math.prod(t.shape) for t in trained))

    def explain_macs(self, inputs: tuple[TensorType, ...], out: TensorType) -> Formula:
        """`macs` as a formula."""
        return Formula("", 0, note="only convolutions, fc, attention and recurrent layers count multiply-accumulates")

    # -- torch: the module as data, so that building it and printing its source agree

    def tensors(self) -> tuple[StateTensor, ...]:
        """This layer's state, in torch's state_dict order: the names and shapes of its
        parameters (whose sizes sum to `param_count`) and buffers. Empty: no state."""
        return ()

    def ties(self) -> tuple[tuple[str, str, str], ...]:
        """Tensors this layer shares with another, not its own (not in `tensors()`, not
        counted): (its attribute, the other layer's node, that layer's tensor). Backends make
        them one tensor: `fc(tie=wte)` reads the embedding's weight."""
        return ()

    init: ClassVar[tuple[Init, ...]] = ()
    """How each tensor of `tensors()` starts, one rule per tensor name (a rule for a tensor this
    layer does not have, a conv's bias with bias=false, is skipped). The one source of truth:
    torch_module maps the rules to torch.nn.init, initial_weights draws them with numpy."""

    def init_rules(self) -> tuple[Init, ...]:
        """This layer's rules: the class's `init`, unless they depend on the layer's arguments
        (layerscale starts at the value it is given). Backends read rules here."""
        return type(self).init

    init_is_torch_default: ClassVar[bool] = False
    """The rules are exactly what the torch module's own reset_parameters() does (a test checks
    it, bit for bit under the same seed), so generated source may leave them to the constructor."""

    torch_init: ClassVar[tuple[tuple[str, str, dict], ...]] = ()
    """Derived from `init`, for generated source: (attribute, torch.nn.init function, kwargs);
    empty when `init_is_torch_default` (the module's constructor initialises it already)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.init_is_torch_default:
            cls.torch_init = ()
            return
        calls = []
        for rule in cls.init:
            call = rule.torch_call()
            if call is None:
                raise AssertionError(f"{cls.__name__}: rule {rule.rule!r} has no single torch.nn.init call; "
                                     "only an op whose rules are torch's defaults may use it")
            calls.append((rule.tensor, *call))
        cls.torch_init = tuple(calls)

    def torch_spec(self, inputs: tuple[TensorType, ...]) -> tuple[str, tuple, dict] | None:
        """(class name, positional args, keyword args) for this node's module: a torch.nn class,
        or archlang's own where torch.nn has none (`own_torch_classes`; `torch_class` resolves
        either). An `inplace` op's module takes inplace=True. None: no module, the forward is
        `torch_fx`."""
        raise NotImplementedError(f"{self.name} has no torch lowering")

    def torch_fx(self, graph, args: list, inplace: bool):
        """For ops without a module: add this op's forward to a torch.fx Graph, returning its value."""
        raise NotImplementedError(f"{self.name} has no functional torch lowering")

    def torch_source(self, args: list[str], inplace: bool) -> str:
        """For ops without a module: this op's forward as a Python expression over `args`."""
        raise NotImplementedError(f"{self.name} has no functional torch lowering")

    # -- ONNX: the nodes this op becomes (backends/onnx_model.OnnxBuilder is `g`)

    def onnx_nodes(self, g, inputs: list[str], output: str, types: tuple[TensorType, ...]) -> None:
        """Append this layer's ONNX nodes to `g`, reading `inputs` and writing `output`."""
        raise NotImplementedError(f"{self.name} has no ONNX lowering")



REGISTRY: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    for key in (cls.name, *cls.aliases):
        if key in REGISTRY:
            raise AssertionError(f"op name {key!r} registered twice")
        REGISTRY[key] = cls
    return cls


def lookup(name: str) -> type[Op] | None:
    return REGISTRY.get(name)


_SUFFIX = re.compile(r"^([a-z_]+?)(\d+(?:x\d+)*)$")


def split_suffix(name: str) -> tuple[type[Op], tuple[int, ...]] | None:
    """`conv3x3` -> (Conv, (3, 3)); `conv5` -> (Conv, (5,)) meaning 5 on every axis."""
    m = _SUFFIX.match(name)
    if not m:
        return None
    cls = REGISTRY.get(m.group(1))
    if cls is None or not cls.kernel_suffix:
        return None
    return cls, tuple(int(v) for v in m.group(2).split("x"))


def canonical_ops() -> list[type[Op]]:
    """Every registered op once, in registration order."""
    seen: list[type[Op]] = []
    for cls in REGISTRY.values():
        if cls not in seen:
            seen.append(cls)
    return seen


# -- torch classes: torch.nn's, and archlang's own (ops/modules.py) for what torch.nn lacks

_MODULES_FILE = Path(__file__).with_name("modules.py")


@lru_cache(maxsize=None)
def _own_classes() -> dict[str, str]:
    """The classes ops/modules.py defines, by name, with their source: read as text, so that
    writing Python source never imports torch."""
    import ast

    text = _MODULES_FILE.read_text(encoding="utf-8")
    return {node.name: ast.get_source_segment(text, node) or "" for node in ast.parse(text).body
            if isinstance(node, ast.ClassDef)}


def own_torch_classes() -> frozenset[str]:
    """The names a `torch_spec` may give that are archlang's classes, not torch.nn's."""
    return frozenset(_own_classes())


def torch_class(name: str):
    """The module class a `torch_spec` names: `torch.nn.<name>`, or archlang's own from
    ops/modules.py (LayerNorm2d, LayerScale) for layers torch.nn has no class for."""
    if name in _own_classes():
        from . import modules

        return getattr(modules, name)
    from torch import nn

    return getattr(nn, name)


def torch_class_source(name: str) -> str | None:
    """The Python source of archlang's own class `name` (written against `torch` and `nn`
    only, as generated files import them), for a standalone file to define it; None for
    torch.nn's classes."""
    return _own_classes().get(name)
