"""The front door: read specs (files, strings, bundled names), follow `use` imports, and hand
out analysed networks.

    text --parse--> syntax.Module --collect defs--> Program --lower+verify+analyse--> Network

(network.py holds the analysed `Network`.)
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
from .errors import ArchError, DefinitionError, LimitError, Note, SpecImportError, UnknownNameError, suggest
from .analysis.budgets import check_budgets, check_names
from .lower import Definitions, Limits, lower_network
from .lower.evaluate import SPECIAL_FORMS
from .network import Network
from .ops import REGISTRY
from .output import shown_path as _shown
from .reading import MAX_FILE_BYTES, display_path, is_regular_file, nothing_at, read_spec_file, real_path
from .parser import KEYWORDS, MAX_TOKENS, parse_module
from .resources import specs_dir

__all__ = ["Program", "parse", "load", "bundled_networks", "MAX_FILE_BYTES"]



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
    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        self.max_tokens = max_tokens  # of each file used
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
        self.module(parse_module(text, display_path(target), self.max_tokens), target, (*stack, target))

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
    limits = limits or Limits()
    module = parse_module(text, name, limits.max_tokens)
    collector = _Collector(limits.max_tokens)
    collector.module(module, key, (key,) if key else ())
    own = tuple(i.name for i in module.items if isinstance(i, S.Network))
    return Program(module, collector.defs, own, default, limits)


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
