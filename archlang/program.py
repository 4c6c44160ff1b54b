"""The front door: read specs (files, strings, bundled names), follow `use` imports, and hand
out analysed networks.

    text --parse--> syntax.Module --collect defs--> Program --lower+verify+analyse--> Network

A spec is a regular `.arch` file of at most MAX_FILE_BYTES (symlinks are followed; nothing
under /proc, /sys or /dev), a string, or standard input (`reading.py` reads them safely). `use "blocks.arch"`
imports a file relative to the importing one; `use "vgg"` (no suffix, no folder) imports the
bundled spec of that name (`specs/vgg.arch`), so a local file of the same name is only used
when written with its suffix (`use "vgg.arch"`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from . import syntax as S
from .analysis import ReceptiveField
from .analysis.walk import walk
from .errors import ArchError, DefinitionError, LimitError, Note, SpecImportError, UnknownNameError, suggest
from .ir import Graph, Node, TensorType
from .analysis.budgets import check_budgets, check_names
from .lower import Definitions, Limits, lower_network
from .lower.evaluate import SPECIAL_FORMS
from .lower.instantiate import PROJECTION
from .ops import REGISTRY, Family
from .output import shown_path as _shown
from .reading import MAX_FILE_BYTES, display_path, is_regular_file, nothing_at, read_spec_file, real_path
from .parser import KEYWORDS, parse_module
from .records import record
from .resources import specs_dir

__all__ = ["Program", "Network", "LayerInfo", "parse", "load", "bundled_networks", "MAX_FILE_BYTES"]



@record(one_write=True)  # made for every layer, read once for the table or JSON
class LayerInfo:
    """One row of a network's summary."""

    name: str
    op: str
    family: Family
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
            **_layout("output", self.node.type),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
        }


def _layout(key: str, t: TensorType) -> dict:
    """For a token sequence or token indices, `{key}_layout` ("tokens x features" or "token
    indices") and `{key}_text` (`[197]x768`), so that JSON never reads them as a feature map;
    nothing for a feature map or vector (their JSON is as it always was)."""
    if not t.tokens:
        return {}
    prefix = f"{key}_" if key else ""
    return {f"{prefix}layout": "token indices" if t.ids else "tokens x features", f"{prefix}text": str(t)}


class Network:
    """An analysed network: its IR graph with shapes, parameters, MACs and receptive fields."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.solved: list = []  # (solver.Hole, value) where `check` filled in holes with their one solution
        labels: dict[int, str] = {}  # by op: the nodes of one call written again share it
        shapes: dict[int, tuple[int, ...]] = {}  # by type, likewise
        layers: list[LayerInfo] = []
        projections = set()  # residual(f) shortcuts that archlang inserted because f changes the shape
        total_params = total_macs = 0
        for n, params, macs, field in walk(graph):
            if not n.inputs:
                continue
            op, t, name = n.op, n.type, n.name
            label = labels.get(id(op))
            if label is None:
                label = labels[id(op)] = op.label()
            shape = shapes.get(id(t))
            if shape is None:
                shape = shapes[id(t)] = t.shape
            layers.append(LayerInfo(name, label, op.family, shape, params, macs, field, n))
            total_params += params
            total_macs += macs
            if n.scopes and n.scopes[-1].identity[:1] == (PROJECTION,):
                projections.add(name.rsplit(".", 1)[0])
        self.layers: tuple[LayerInfo, ...] = tuple(layers)
        self.total_params = total_params
        self.total_macs = total_macs
        self.projections = len(projections)

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def inputs(self) -> tuple[tuple[str, TensorType], ...]:
        """(name, type) of each input: `(("input", 3x224x224),)` for `network n : 3x224x224`."""
        return tuple((n.name, n.type) for n in self.graph.inputs)

    @property
    def outputs(self) -> tuple[tuple[str, TensorType], ...]:
        """(name, type) of each output: `(("output", 1000),)` for a single output."""
        return tuple((name, self.graph.node(o).type) for name, o in zip(self.graph.output_names, self.graph.outputs))

    @property
    def input_type(self) -> TensorType:
        """The input of a single-input network (see `inputs` for several)."""
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

    def count(self, convention: str = "macs") -> int:
        """The network's work per sample under a named convention (`check --count`): "macs",
        "flops", "fvcore", "ptflops", "thop" or "all" (docs/costs.md). UnknownConvention (a
        ValueError listing the known ones) for another name."""
        return sum(self.counts(convention).values())

    def counts(self, convention: str = "macs") -> dict[str, int]:
        """Each layer's work per sample under `convention`, by layer name."""
        from .analysis.counting import convention as named, layer_counts

        return layer_counts(self.graph, named(convention))

    def memory(self, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd"):
        """Activation sizes, weights, inference peak and one training step in bytes
        (`check --memory`; analysis/memory.MemoryReport). MemoryEstimateError (a ValueError)
        for an unknown dtype or optimizer, a batch below 1 or a figure beyond 64 bits."""
        from .analysis.memory import memory

        return memory(self.graph, batch=batch, dtype=dtype, optimizer=optimizer)

    def to_torch(self, seed: int | None = None):
        """A torch.nn.Module (torch.fx GraphModule) computing this network; see backends/torch_module.
        Refuses (LimitError) before allocating when the weights and one sample's activations
        cannot fit in the memory available."""
        from .budget import activation_bytes, check_fits, human_bytes, weight_bytes
        from .extras import require

        require("torch", job="building a PyTorch module")

        check_fits(weight_bytes(self) + activation_bytes(self, 1),
                   f"building {self.name} ({human_bytes(weight_bytes(self))} of weights, "
                   f"{human_bytes(activation_bytes(self, 1))} of activations for one sample)", span=self.graph.span)
        from .backends.torch_module import build_module

        module = build_module(self.graph, seed=seed)
        module.network = self
        return module

    def render(self, path, *, collapse: bool = False, fold: bool = False, rankdir: str = "TB",
               show: tuple[str, ...] = ()):
        """Draw the network to `path` (.svg, .png, .pdf or .dot); see backends/dot. `show`
        is a tuple of figures to add to the boxes: ("params", "macs", "rf")."""
        from .extras import require

        require("graphviz", job="drawing a network")
        from .backends.dot import DiagramOptions, render

        if isinstance(show, str):
            raise TypeError(f"show takes a tuple of figures such as ('params', 'rf'), not the str {show!r}")

        return render(self.graph, path, DiagramOptions(collapse, fold, rankdir, tuple(show)))

    def _repr_svg_(self) -> str | None:
        """Jupyter shows an analysed network as its diagram (None without Graphviz's dot, or
        without archlang[viz]: Jupyter then shows the repr)."""
        try:
            from .backends.dot import DiagramOptions, dot_available, svg
        except ImportError:
            return None
        if not dot_available():
            return None
        return svg(self.graph, DiagramOptions(collapse=len(self.layers) > 60, fold=len(self.layers) > 60))

    def to_dict(self, written: bool = False) -> dict:
        """JSON-ready: `input_shape` and `output_shape`, or, with several inputs or outputs,
        `inputs` and `outputs` as lists of {"name", "shape"}. With `written`, each layer's row
        is its JSON text already (in a json_text.Written: what `json_text.dumps` writes for its dict),
        the parts that rows share written once: `check --json` of 100,000 layers."""
        data: dict = {"network": self.name, **self.io_dict()}
        data.update(total_params=self.total_params, total_macs=self.total_macs,
                    layers=self._written_rows() if written else [info.to_dict() for info in self.layers])
        return data

    def _written_rows(self) -> list:
        from .json_text import Written, compact, string

        # the parts of a row between its name and its field, and its field, as JSON, each by what
        # makes it (ids: the rows keep those objects alive)
        middles: dict[tuple, str] = {}
        fields: dict[int, str] = {}
        rows = Written()
        for info in self.layers:
            key = (info.op, id(info.node.type), info.params, info.macs)
            middle = middles.get(key)
            if middle is None:
                row = info.to_dict()
                del row["name"], row["receptive_field"]
                middle = middles[key] = compact(row)[1:-1]  # '"op": ..., "macs": 0'
            rf = info.receptive_field
            field = fields.get(id(rf))
            if field is None:
                field = fields[id(rf)] = "null" if rf is None else rf.json()
            rows.append(f'{{"name": {string(info.name)}, {middle}, "receptive_field": {field}}}')
        return rows

    def io_dict(self) -> dict:
        """The JSON of the inputs and outputs (see `to_dict`)."""
        data: dict = {}
        if len(self.graph.inputs) == 1:
            data["input_shape"] = list(self.input_shape)
            data.update(_layout("input", self.input_type))
        else:
            data["inputs"] = [{"name": n, "shape": list(t.shape), **_layout("", t)} for n, t in self.inputs]
        if len(self.graph.outputs) == 1:
            data["output_shape"] = list(self.output_shape)
            data.update(_layout("output", self.output_type))
        else:
            data["outputs"] = [{"name": n, "shape": list(t.shape), **_layout("", t)} for n, t in self.outputs]
        return data

    def __repr__(self) -> str:
        return (
            f"<Network {self.name}: {self.graph.signature}, {len(self.layers)} layers, "
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
        self._cache: dict[tuple, Network] = {}

    @property
    def blocks(self) -> tuple[str, ...]:
        return tuple(self.defs.blocks)

    def network_name(self, name: str | None = None) -> str:
        """`name` checked, or the program's only or default network."""
        if name is None:
            if self.default is not None:
                return self.default
            if len(self.networks) == 1:
                return self.networks[0]
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
        return name

    def network(self, name: str | None = None, holes: dict[str, int] | None = None, *, solve: bool = False) -> Network:
        """The analysed network `name` (or the program's only or default network). `holes`
        gives values to its holes (keys as `solve` gives them: `?k`, `?@line:col`). With
        `solve` (what `archlang check` does), a network with holes is analysed with their
        values where exactly one assignment meets its constraints (listed in `.solved`);
        otherwise a hole is an UnsolvedHole error."""
        from .lower.holes import UnsolvedHole

        if solve and not holes:
            try:
                return self.network(name)
            except UnsolvedHole as err:
                return self._the_one_solution(self.network_name(name), err)
        name = self.network_name(name)
        cached = (name, tuple(sorted(holes.items())) if holes else ())
        if cached not in self._cache:
            from .lower.holes import Assignment

            spec = self.defs.networks[name]
            check_names(spec.budgets)
            network = Network(lower_network(spec, self.defs, self.limits, Assignment(dict(holes)) if holes else None))
            check_budgets(spec.budgets, {"params": network.total_params, "macs": network.total_macs}, name)
            self._cache[cached] = network
        return self._cache[cached]

    def drawable(self, name: str | None = None) -> tuple[Network, list[ArchError]]:
        """The network for a diagram, even where its shape assertions or budgets fail: (the
        network, the failures, which its graph's `assertions` mark). Any other error raises."""
        name = self.network_name(name)
        spec = self.defs.networks[name]
        check_names(spec.budgets)
        failed: list[ArchError] = []
        network = Network(lower_network(spec, self.defs, self.limits, failed=failed))
        try:
            check_budgets(spec.budgets, {"params": network.total_params, "macs": network.total_macs}, name)
        except ArchError as err:
            failed.append(err)
        return network, failed

    def _the_one_solution(self, name: str, err: ArchError) -> Network:
        from .solver import NoSolution

        from .solver import DEFAULT_LIMIT

        solved = self.solve(name, DEFAULT_LIMIT)
        if len(solved.solutions) > 1:
            count = f"{len(solved.solutions):,}" if solved.complete else f"at least {len(solved.solutions):,}"
            raise NoSolution(
                f"the holes of network {name} have {count} solutions; analysing it needs one", err.span,
                hint=f"`archlang solve {self.module.source.name} -n {name}` lists them ranked, and -o writes the "
                "first into a copy of the spec; or add an assertion that picks one",
            )
        values = solved.solutions[0]
        network = self.network(name, values)
        network.solved = [(h, values[h.key]) for h in solved.holes if h.key in values]
        return network

    def solve(self, name: str | None = None, limit: int | None = None, **domains):
        """Every value of the holes of network `name` that meets its assertions, output shape
        and budgets, ranked (archlang.solver.Solved: `.solutions`, `.as_json()`), at most
        `limit` of them; NoSolution when there is none. `domains`: max_width, max_repeat,
        max_tries (solver.Domains)."""
        from .solver import Domains, solve

        return solve(self, name, limit, Domains(**domains))

    def __repr__(self) -> str:
        return f"<Program {self.module.source.name}: networks {', '.join(self.networks) or 'none'}>"


# ---------------------------------------------------------------- imports


@lru_cache(maxsize=1)
def bundled_specs() -> dict[str, Path]:
    """Bundled spec name -> its file: `vgg` -> specs/vgg.arch (what `use "vgg"` imports)."""
    return {path.stem: path for path in sorted(specs_dir().glob("*.arch"))}


def _use_path(item: S.Use, module: S.Module) -> Path:
    """The file a `use` names: a bundled spec for a bare name (`use "vgg"`), otherwise a path
    relative to the importing file (or to the working folder for text without a file)."""
    written = item.path
    if Path(written).suffix != ".arch":
        bundled = bundled_specs()
        if written in bundled:  # a stem: never a folder
            return bundled[written]
        if Path(written).suffix or "/" in written or "\\" in written:
            raise SpecImportError(f"'use' reads only .arch files, not '{_shown(written)}'", item.span,
                                  hint='write use "blocks.arch"')
        close = suggest(written, bundled)
        raise SpecImportError(
            f"'use' reads only .arch files and bundled specs, not '{_shown(written)}'", item.span,
            hint=(f"did you mean '{close}'? " if close else "") + "bundled specs: " + ", ".join(bundled)
            + f'; a file of your own needs its suffix: use "{_shown(written)}.arch"',
        )
    name = module.source.name
    base = Path.cwd() if name.startswith("<") else Path(name).parent
    return base / written


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
        path = _use_path(item, module)
        target = real_path(path, item.span, shown=item.path,
                            hint=f"'use' paths are relative to {_shown(module.source.name)}")
        if target in stack:
            chain = " -> ".join(p.name for p in (*stack[stack.index(target):], target))
            raise SpecImportError(f"import cycle: {chain}", item.span, hint="move the shared blocks into a third file")
        if target in self.loaded:
            return
        text = read_spec_file(target, item.span, shown=item.path)
        self.module(parse_module(text, display_path(target)), target, (*stack, target))

    def define(self, item: S.Block | S.Network) -> None:
        kind = "block" if isinstance(item, S.Block) else "network"
        if item.name in KEYWORDS:
            raise DefinitionError(f"'{item.name}' is a keyword", item.name_span, hint=f"give the {kind} another name")
        if item.name.startswith("__") or not item.name.strip("_"):
            raise DefinitionError(
                f"names starting with '__' (and names of '_' only) are reserved: '{item.name}'", item.name_span,
                hint=f"give the {kind} another name; layer names are made from it and become Python attributes",
            )
        if item.name in REGISTRY or item.name in SPECIAL_FORMS:
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
                if p.name in SPECIAL_FORMS or (p.name in REGISTRY and REGISTRY[p.name].merge):
                    raise DefinitionError(
                        f"the parameter '{p.name}' would hide the built-in {p.name}(...), which takes branches",
                        p.span,
                        hint=f"give the parameter another name, e.g. {p.name}_layer",
                    )
                seen[p.name] = p
            self.defs.blocks[item.name] = item
        else:
            self.defs.networks[item.name] = item


def _program(text: str, name: str, key: Path | None, default: str | None, limits: Limits | None) -> Program:
    module = parse_module(text, name)
    collector = _Collector()
    collector.module(module, key, (key,) if key else ())
    own = tuple(i.name for i in module.items if isinstance(i, S.Network))
    return Program(module, collector.defs, own, default, limits or Limits())


def parse(text: str, filename: str | None = None, *, limits: Limits | None = None) -> Program:
    """A program from spec text; `filename` names it in messages and anchors `use` paths."""
    if not isinstance(text, str):
        hint = " (decode bytes first: data.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"parse() takes the spec's text as a str, not {type(text).__name__}{hint}")
    if filename is not None and not isinstance(filename, str):
        raise TypeError(f"parse(filename=...) takes a str, not {type(filename).__name__}")
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise LimitError(f"the spec is over the {MAX_FILE_BYTES:,}-byte limit")
    key = None
    if filename and not filename.startswith("<"):
        try:
            key = Path(filename).resolve()
        except (OSError, RuntimeError, ValueError):  # no file can have that name: it anchors nothing
            key = None
    return _program(text, filename or "<string>", key, None, limits)


EXERCISES = "exercises.arch"  # networks that leave something open: solve and sizes answer them


@lru_cache(maxsize=2)
def bundled_networks(exercises: bool = False) -> dict[str, Path]:
    """Bundled network name -> the spec file that defines it (a scan, no parsing): the zoo,
    and with `exercises` the networks of specs/exercises.arch too (holes, open sizes)."""
    pattern = re.compile(r"^[ \t]*network[ \t]+([A-Za-z_]\w*)", re.M)
    found: dict[str, Path] = {}
    for path in sorted(specs_dir().glob("*.arch")):
        if path.name == EXERCISES and not exercises:
            continue
        for name in pattern.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, path)
    return found


def load(spec: str | Path, *, limits: Limits | None = None) -> Program:
    """A program from a path, or from the name of a bundled network (`load("resnet50")`)."""
    path = Path(spec)
    default = None
    bundled = bundled_networks(exercises=True)
    if isinstance(spec, str) and spec in bundled and not is_regular_file(path):
        path, default = bundled[spec], spec
    elif nothing_at(path):
            close = suggest(str(spec), bundled) if isinstance(spec, str) else None
            raise SpecImportError(
                f"no spec file or bundled network named '{_shown(spec)}'",
                hint=(f"did you mean '{close}'? " if close else "")
                + "bundled networks: " + ", ".join(sorted(bundled)),
            )
    key = real_path(path)
    if path.suffix != ".arch" and default is None:
        raise SpecImportError(f"{_shown(path)} is not a .arch file", hint="spec files end in .arch")
    return _program(read_spec_file(path), display_path(key) if default else str(path), key, default, limits)
