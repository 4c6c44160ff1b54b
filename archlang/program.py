"""The front door: read specs (files, strings, bundled names), follow `use` imports, and hand
out analysed networks.

    text --parse--> syntax.Module --collect defs--> Program --lower+verify+analyse--> Network
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import syntax as S
from .analysis import ReceptiveField, mac_counts, param_counts, receptive_fields
from .errors import DefinitionError, LimitError, Note, SpecImportError, UnknownNameError, suggest
from .ir import Graph, Node, TensorType
from .lower import Definitions, Limits, lower_network
from .ops import REGISTRY
from .parser import KEYWORDS, parse_module
from .resources import specs_dir

__all__ = ["Program", "Network", "LayerInfo", "parse", "load", "bundled_networks", "MAX_FILE_BYTES"]

MAX_FILE_BYTES = 1 << 20  # 1 MiB: far above any real spec, far below trouble


@dataclass(frozen=True)
class LayerInfo:
    """One row of a network's summary."""

    name: str
    op: str
    family: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    receptive_field: ReceptiveField | None
    node: Node

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "op": self.op,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
        }


class Network:
    """An analysed network: its IR graph with shapes, parameters, MACs and receptive fields."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        params, macs, fields = param_counts(graph), mac_counts(graph), receptive_fields(graph)
        self.layers: tuple[LayerInfo, ...] = tuple(
            LayerInfo(n.name, n.op.label(), n.op.family, n.type.shape, params[n.name], macs[n.name], fields[n.name], n)
            for n in graph.layers
        )
        self.total_params = sum(params.values())
        self.total_macs = sum(macs.values())

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def input_type(self) -> TensorType:
        return self.graph.input.type

    @property
    def output_type(self) -> TensorType:
        return self.graph.output_type

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.input_type.shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.output_type.shape

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        raise KeyError(name)

    def to_torch(self, seed: int | None = None):
        """A torch.nn.Module (torch.fx GraphModule) computing this network; see backends/torch_module."""
        from .backends.torch_module import build_module

        return build_module(self, seed=seed)

    def render(self, path, *, collapse: bool = False, fold: bool = False, rankdir: str = "TB",
               show: tuple[str, ...] = ()):
        """Draw the network to `path` (.svg, .png, .pdf or .dot); see backends/dot."""
        from .backends.dot import DiagramOptions, render

        return render(self, path, DiagramOptions(collapse, fold, rankdir, tuple(show)))

    def _repr_svg_(self) -> str | None:
        """Jupyter shows an analysed network as its diagram (None without Graphviz's dot)."""
        from .backends.dot import DiagramOptions, dot_available, svg

        if not dot_available():
            return None
        return svg(self, DiagramOptions(collapse=len(self.layers) > 60, fold=len(self.layers) > 60))

    def to_dict(self) -> dict:
        return {
            "network": self.name,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "layers": [info.to_dict() for info in self.layers],
        }

    def __repr__(self) -> str:
        return (
            f"<Network {self.name}: {self.input_type} -> {self.output_type}, {len(self.layers)} layers, "
            f"{self.total_params:,} params, {self.total_macs:,} MACs>"
        )


class Program:
    """The definitions of one spec file (with its imports). `networks` lists the file's own."""

    def __init__(self, module: S.Module, defs: Definitions, own: tuple[str, ...], default: str | None,
                 limits: Limits) -> None:
        self.module = module
        self.defs = defs
        self.networks: tuple[str, ...] = own
        self.default = default
        self.limits = limits
        self._cache: dict[str, Network] = {}

    @property
    def blocks(self) -> tuple[str, ...]:
        return tuple(self.defs.blocks)

    def network(self, name: str | None = None) -> Network:
        """The analysed network `name` (or the program's only or default network)."""
        if name is None:
            if self.default is not None:
                name = self.default
            elif len(self.networks) == 1:
                name = self.networks[0]
            else:
                raise UnknownNameError(
                    f"{self.module.source.name} defines {len(self.networks)} networks; choose one",
                    hint="networks here: " + (", ".join(self.networks) or "none"),
                )
        if name not in self.defs.networks:
            close = suggest(name, self.defs.networks)
            raise UnknownNameError(
                f"no network named '{name}' in {self.module.source.name}",
                hint=(f"did you mean '{close}'? " if close else "")
                + "networks here: " + (", ".join(self.networks) or "none"),
            )
        if name not in self._cache:
            self._cache[name] = Network(lower_network(self.defs.networks[name], self.defs, self.limits))
        return self._cache[name]

    def __repr__(self) -> str:
        return f"<Program {self.module.source.name}: networks {', '.join(self.networks) or 'none'}>"


# ---------------------------------------------------------------- reading and imports


def _read(path: Path, span=None) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LimitError(
                f"{path} is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a spec",
                span,
                hint="a spec this large is almost certainly not a spec; split it into files joined by 'use'",
            )
        data = path.read_bytes()
    except OSError as err:
        raise SpecImportError(
            f"cannot read {path}: {err.strerror or err}", span, hint="check the path; 'use' paths are relative to the importing file"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecImportError(
            f"{path} is not UTF-8 text (byte {err.start} on line {line})",
            span,
            hint="save the spec as UTF-8",
        ) from None


class _Collector:
    def __init__(self) -> None:
        self.defs = Definitions()
        self.where: dict[str, S.Block | S.Network] = {}
        self.loaded: set[Path] = set()

    def module(self, module: S.Module, key: Path | None, stack: tuple[Path, ...]) -> None:
        if key is not None:
            self.loaded.add(key)
        for item in module.items:
            if isinstance(item, S.Use):
                self.use(item, module, stack)
            else:
                self.define(item)

    def use(self, item: S.Use, module: S.Module, stack: tuple[Path, ...]) -> None:
        base = Path(module.source.name).parent if module.source.name != "<string>" else Path.cwd()
        target = (base / item.path).resolve()
        if target.suffix != ".arch":
            raise SpecImportError(
                f"'use' reads only .arch files, not '{item.path}'", item.span, hint='write use "blocks.arch"'
            )
        if target in stack:
            chain = " -> ".join(p.name for p in (*stack[stack.index(target):], target))
            raise SpecImportError(f"import cycle: {chain}", item.span, hint="move the shared blocks into a third file")
        if target in self.loaded:
            return
        if not target.is_file():
            raise SpecImportError(
                f"no such file: {item.path}", item.span, hint=f"'use' paths are relative to {module.source.name}"
            )
        text = _read(target, item.span)
        self.module(parse_module(text, _display(target)), target, (*stack, target))

    def define(self, item: S.Block | S.Network) -> None:
        kind = "block" if isinstance(item, S.Block) else "network"
        if item.name in KEYWORDS:
            raise DefinitionError(f"'{item.name}' is a keyword", item.name_span, hint=f"give the {kind} another name")
        if item.name.startswith("__"):
            raise DefinitionError(
                f"names starting with '__' are reserved: '{item.name}'", item.name_span,
                hint=f"give the {kind} another name",
            )
        if item.name in REGISTRY or item.name == "residual":
            raise DefinitionError(
                f"'{item.name}' is a built-in layer and cannot be redefined as a {kind}",
                item.name_span,
                hint=f"choose another name, e.g. my_{item.name}",
            )
        if item.name in self.where:
            first = self.where[item.name]
            raise DefinitionError(
                f"'{item.name}' is defined twice",
                item.name_span,
                notes=[Note("first defined here", first.name_span)],
                hint="names of blocks and networks must be unique across a spec and the files it uses",
            )
        self.where[item.name] = item
        if isinstance(item, S.Block):
            seen: dict[str, S.Param] = {}
            for p in item.params:
                if p.name in KEYWORDS:
                    raise DefinitionError(f"'{p.name}' is a keyword", p.span, hint="give the parameter another name")
                if p.name in seen:
                    raise DefinitionError(f"block {item.name} has two parameters named '{p.name}'", p.span)
                seen[p.name] = p
            self.defs.blocks[item.name] = item
        else:
            self.defs.networks[item.name] = item


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _program(text: str, name: str, key: Path | None, default: str | None, limits: Limits | None) -> Program:
    module = parse_module(text, name)
    collector = _Collector()
    collector.module(module, key, (key,) if key else ())
    own = tuple(i.name for i in module.items if isinstance(i, S.Network))
    return Program(module, collector.defs, own, default, limits or Limits())


def parse(text: str, filename: str | None = None, *, limits: Limits | None = None) -> Program:
    """A program from spec text; `filename` names it in messages and anchors `use` paths."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise LimitError(f"the spec is over the {MAX_FILE_BYTES:,}-byte limit")
    key = Path(filename).resolve() if filename and not filename.startswith("<") else None
    return _program(text, filename or "<string>", key, None, limits)


@lru_cache(maxsize=1)
def bundled_networks() -> dict[str, Path]:
    """Bundled network name -> the spec file that defines it (a scan, no parsing)."""
    pattern = re.compile(r"^[ \t]*network[ \t]+([A-Za-z_]\w*)", re.M)
    found: dict[str, Path] = {}
    for path in sorted(specs_dir().glob("*.arch")):
        for name in pattern.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, path)
    return found


def load(spec: str | Path, *, limits: Limits | None = None) -> Program:
    """A program from a path, or from the name of a bundled network (`load("resnet50")`)."""
    path = Path(spec)
    default = None
    if not path.is_file():
        bundled = bundled_networks()
        if isinstance(spec, str) and spec in bundled:
            path, default = bundled[spec], spec
        else:
            close = suggest(str(spec), bundled) if isinstance(spec, str) else None
            raise SpecImportError(
                f"no spec file or bundled network named '{spec}'",
                hint=(f"did you mean '{close}'? " if close else "")
                + "bundled networks: " + ", ".join(sorted(bundled)),
            )
    if path.suffix != ".arch" and default is None:
        raise SpecImportError(f"{path} is not a .arch file", hint="spec files end in .arch")
    key = path.resolve()
    return _program(_read(path), _display(key) if default else str(path), key, default, limits)

