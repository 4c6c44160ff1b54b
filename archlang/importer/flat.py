"""Import, stage 1's result: a model read back as a flat graph of archlang layers.

The readers (`torch_capture` for torch modules, `onnx_reader` for ONNX files) turn each
operation they recognise into a `Layer`: an archlang op called with every argument spelled
out, made by the op registry's own `bind` and `make` (so each imported layer is checked by
the same rules as a written one, and has its type), with the source's weights in the op's
state order. `FlatGraph` collects them; `refold` turns it into readable text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ArchError
from ..ir import TensorType
from ..ops.base import Op, OpError, lookup
from ..records import record

__all__ = ["Layer", "FlatGraph", "ModelImportError", "Unsupported"]


class ModelImportError(ArchError):
    """A model that cannot be read back as a spec; the message names the file and node."""

    kind = "import"


@record
class Unsupported:
    """A source operation with no archlang layer: where it is and what it is."""

    node: str  # the node's name in the source (`/layer1/layer1.0/Foo`, `layer1.0.foo`)
    op_type: str  # ONNX op type or torch target (`NonMaxSuppression`, `torch.sort`)
    why: str = ""


@dataclass
class Layer:
    """One imported layer: `call` (an op's name) with `kwargs` (its arguments as the language
    names them), reading the values `inputs`. `source` is its path in the source model
    (`layer1.0.conv1`), which names blocks; `weights` are the source's tensors in the op's
    `tensors()` order (numpy arrays or torch tensors), or None where the source has none."""

    name: str
    call: str
    kwargs: dict[str, Any]
    inputs: tuple[str, ...]
    op: Op
    type: TensorType
    source: str
    weights: tuple[Any, ...] | None = None


@dataclass
class FlatGraph:
    """The layers of an imported model in topological order, with its inputs and outputs."""

    name: str
    origin: str  # the file or the module's class, for messages
    inputs: dict[str, TensorType] = field(default_factory=dict)  # name -> type, in order
    layers: list[Layer] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    types: dict[str, TensorType] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)  # values that are another value (Identity)
    classes: dict[str, str] = field(default_factory=dict)  # source module path -> its class (torch)
    owners: dict[int, str] = field(default_factory=dict)  # id of a weight tensor -> the layer that has it
    pairs: set[str] = field(default_factory=set)  # values that are (output, extra) pairs (MultiheadAttention)
    recurrent: dict[str, tuple] = field(default_factory=dict)  # torch.nn.LSTM/GRU results, by the part they are

    def value(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def add_input(self, name: str, t: TensorType) -> None:
        """An input, under a name the language can write (`input.1` -> `input_1`)."""
        import re

        written = re.sub(r"[^A-Za-z0-9_]", "_", name) or "input"
        if written[0].isdigit():
            written = "input_" + written
        while written in self.inputs:
            written += "_"
        if written != name:
            self.alias[name] = written
        self.inputs[written] = t
        self.types[written] = t

    def same(self, out: str, x: str) -> None:
        """`out` is `x` (an identity, a dropout at inference, a reshape that changes nothing)."""
        self.alias[out] = self.value(x)

    def add(self, out: str, call: str, inputs, *, where: str, source: str = "", weights=None,
            **kwargs) -> Layer:
        """Make the layer `call(**kwargs)` on `inputs` with the registry's rules; an argument
        the op refuses is a ModelImportError naming the node."""
        ins = tuple(self.value(i) for i in inputs)
        types = tuple(self.types[i] for i in ins)
        if call == "conv" and kwargs.get("groups", 1) > 1 and kwargs["groups"] == types[0].channels:
            call = "dwconv"  # a convolution per channel, as MobileNet's authors write it
            kwargs.pop("groups")
        cls = lookup(call)
        try:
            for t in types:
                cls.check_input(t)
            if cls.merge:
                op = cls.make(None, types)
            else:
                op = cls.make(cls.bind([], {k: v for k, v in kwargs.items() if v is not None}), types[0])
            out_type = op.infer(types)
        except OpError as err:
            raise ModelImportError(
                f"{self.origin}: node '{where}' cannot be read as archlang's {call}: {err.message}",
                hint=err.hint,
            ) from None
        layer = Layer(out, call, {k: v for k, v in kwargs.items() if v is not None}, ins, op, out_type,
                      source or out, weights)
        self.layers.append(layer)
        self.types[out] = out_type
        return layer

    def unsupported_error(self, missing: list[Unsupported], total: int, readable: int, what: str,
                          hint: str) -> ModelImportError:
        """One report for every operation archlang cannot express, grouped by op type."""
        groups: dict[str, list[Unsupported]] = {}
        for u in missing:
            groups.setdefault(u.op_type, []).append(u)
        detail = []
        for op_type, nodes in sorted(groups.items()):
            shown = ", ".join(f"'{u.node}'" for u in nodes[:4]) + (f" and {len(nodes) - 4} more" if len(nodes) > 4 else "")
            why = f" ({nodes[0].why})" if nodes[0].why else ""
            detail.append(f"{op_type} x{len(nodes)}: {shown}{why}")
        kinds = len(groups)
        return ModelImportError(
            f"{self.origin}: {len(missing)} {what}{'s' if len(missing) != 1 else ''} of {kinds} "
            f"kind{'s' if kinds != 1 else ''} ha{'ve' if len(missing) != 1 else 's'} no archlang layer",
            detail=detail + [f"the first {readable} of {total} {what}s (up to the first of these) could be imported"],
            hint=hint,
        )
