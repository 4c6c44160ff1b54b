"""Backend: IR graphs -> standalone PyTorch source, one nn.Module class per network.

The file imports only torch. Each class builds the same modules, at the same names, with
the same initialisation rule as `archlang.build` (so state_dicts are interchangeable), and
its forward is the same straight-line code. Modules come from `Op.torch_spec`, the data the
module builder uses too, printed with repr(); ops without a module print their own forward
(`Op.torch_source`).

Nothing from a spec reaches the source unchecked: names must be plain identifiers (the
grammar guarantees it; this module checks again and refuses anything else), numbers are
printed by repr(), and the only free text (the spec's file name) is reduced to safe
characters inside a comment.
"""

from __future__ import annotations

import keyword
import re
from typing import Sequence

from ..analysis import totals
from ..errors import ArchError
from ..ir import Graph
from ..ops.base import torch_class_source
from .torch_plan import argument_name, inplace_plan, module_spec, release_plan

__all__ = ["python_source", "class_name"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENT.match(name) or keyword.iskeyword(name) or name.startswith("__"):
        raise ArchError(f"'{name}' cannot be used as a Python name in generated code")
    return name


def _attr_path(dotted: str) -> str:
    return ".".join(_ident(part) for part in dotted.split("."))


def class_name(network: str) -> str:
    """resnet50 -> Resnet50, vgg16_bn -> Vgg16Bn."""
    if not _IDENT.match(network):
        raise ArchError(f"'{network}' cannot be used as a Python class name")
    name = "".join(part[:1].upper() + part[1:] for part in network.split("_") if part) or "Net"
    if keyword.iskeyword(name) or name in ("Tensor", "Module", "torch", "nn"):
        name += "Net"
    return name


def _literal(value) -> str:
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str) and _IDENT.match(value):
        return repr(value)
    raise ArchError(f"cannot print {type(value).__name__} into generated code")


def _class_ref(cls: str) -> str:
    """`nn.Conv2d`, or the bare name of archlang's own class (its source is in the file)."""
    return _ident(cls) if torch_class_source(cls) is not None else f"nn.{_ident(cls)}"


def _constructor(cls: str, args: tuple, kwargs: dict) -> str:
    parts = [_literal(a) for a in args] + [f"{_ident(k)}={_literal(v)}" for k, v in kwargs.items()]
    return f"{_class_ref(cls)}({', '.join(parts)})"


def _own_classes(graphs) -> list[str]:
    """The source of each of archlang's own module classes the graphs use, once each."""
    names: list[str] = []
    for graph in graphs:
        plan = inplace_plan(graph)
        for node in graph.layers:
            spec = module_spec(graph, node, plan[node.name])
            if spec is not None and torch_class_source(spec[0]) is not None and spec[0] not in names:
                names.append(spec[0])
    return [torch_class_source(n) for n in names]


def _class_source(graph: Graph) -> list[str]:
    plan = inplace_plan(graph)
    name = class_name(graph.name)
    params, macs = totals(graph)
    lines = [
        f"class {name}(nn.Module):",
        f'    """{_safe_comment(graph.name)}: {_safe_comment(_io(graph))}; '
        f'{params:,} parameters, {macs:,} MACs."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
    ]
    containers: set[str] = set()
    init_rules: dict[str, tuple] = {}
    modules = set()
    for node in graph.layers:
        spec = module_spec(graph, node, plan[node.name])
        if spec is None:
            continue
        modules.add(node.name)
        parts = node.name.split(".")
        for depth in range(1, len(parts)):
            scope = ".".join(parts[:depth])
            if scope not in containers:
                containers.add(scope)
                label = node.scopes[depth - 1].label if depth - 1 < len(node.scopes) else scope
                lines.append(f"        self.{_attr_path(scope)} = nn.Module()  # {_safe_comment(label)}")
        cls, args, kwargs = spec
        lines.append(f"        self.{_attr_path(node.name)} = {_constructor(cls, args, kwargs)}")
        rules = type(node.op).torch_init
        if rules:
            init_rules.setdefault(cls, rules)
    for node in graph.layers:  # shared tensors: one Parameter in two places
        for attr, other, tensor in node.op.ties():
            lines.append(f"        self.{_attr_path(node.name)}.{_ident(attr)} = self.{_attr_path(other)}.{_ident(tensor)}")
    if init_rules:
        lines.append("        self.reset_parameters()")
        lines += ["", "    def reset_parameters(self):", "        for m in self.modules():"]
        for i, (cls, rules) in enumerate(sorted(init_rules.items())):
            lines.append(f"            {'if' if i == 0 else 'elif'} isinstance(m, {_class_ref(cls)}):")
            for attr, fn, kwargs in rules:
                call = f"nn.init.{_ident(fn)}(m.{_ident(attr)}" + "".join(
                    f", {_ident(k)}={_literal(v)}" for k, v in kwargs.items()
                ) + ")"
                lines.append(f"                if m.{_ident(attr)} is not None:")
                lines.append(f"                    {call}")
    var = {n.name: _ident(argument_name(graph, n.name)) for n in graph.inputs}
    releases = release_plan(graph)
    lines += ["", f"    def forward(self, {', '.join(var.values())}):"]
    used = {*var.values(), "self", "torch", "nn"}
    for node in graph.layers:
        local = node.name.replace(".", "_")
        candidate, n = local, 1
        while candidate in used:
            n += 1
            candidate = f"{local}_{n}"
        used.add(candidate)
        args = [var[i] for i in node.inputs]
        if node.name in modules:
            expr = f"self.{_attr_path(node.name)}({args[0]})"
        else:
            expr = node.op.torch_source(args, plan[node.name])
        lines.append(f"        {_ident(candidate)} = {expr}  # {node.type}")
        var[node.name] = candidate
        done = [var[v] for v in releases.get(node.name, ())]
        if done:  # as a hand-written forward lets them go (torch_plan.release_plan)
            lines.append(f"        del {', '.join(done)}")
    lines.append(f"        return {', '.join(var[o] for o in graph.outputs)}")
    return lines


def _io(graph: Graph) -> str:
    if len(graph.inputs) == 1 and len(graph.outputs) == 1:
        return f"input Nx{graph.input.type}, output Nx{graph.output_type}"
    ins = ", ".join(f"{n.name} Nx{n.type}" for n in graph.inputs)
    outs = ", ".join(f"{name} Nx{graph.node(o).type}" for name, o in zip(graph.output_names, graph.outputs))
    return f"inputs {ins}; outputs {outs}"


def _safe_comment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.,=()/ x+*-]", "?", text)[:200]


def python_source(graphs: Sequence[Graph], spec_name: str = "") -> str:
    """The source of a Python module defining one nn.Module class per network."""
    from .. import __version__

    names = [class_name(g.name) for g in graphs]
    for i, name in enumerate(names):
        if name in names[:i]:
            first, second = graphs[names.index(name)], graphs[i]
            raise ArchError(
                f"the networks {first.name} and {second.name} would both become the Python class {name}",
                second.span,
                hint="rename one of them; classes are named by capitalising each '_'-separated word of the name",
            )
    head = [
        f"# Generated by archlang {__version__} from {_safe_comment(spec_name) or 'a spec'}.",
        "# Standalone PyTorch: needs only torch. Layer names follow the spec, so state_dict keys",
        "# match archlang.build(...) and its weights load directly.",
        "",
        "import torch",
        "from torch import nn",
        "",
        f"__all__ = [{', '.join(repr(n) for n in names)}]",
    ]
    body: list[str] = []
    for source in _own_classes(graphs):
        body += ["", ""] + source.splitlines()
    for graph in graphs:
        body += ["", ""] + _class_source(graph)
    return "\n".join(head + body) + "\n"
