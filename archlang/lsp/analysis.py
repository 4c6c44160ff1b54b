"""One document's analysis for the language server, independent of the protocol.

A document is split where a line starts a definition (`network`, `block`, `use`: keywords that
nothing else can start), and each piece is parsed on its own, so a syntax error in one
definition leaves every other one parsed and checked. Pieces are cached by their text and
parsed starting at line 1 (their Source maps their lines back into the document), so an edit
re-parses only the piece it touches, even when it adds a line above the others. Pieces holding
a `?` are the exception: an unnamed hole is known by its line and column, so they are parsed
at their place in the document.

Each network is analysed on its own (its errors never hide another's) and again only when
its definition or a block it reaches changed. `use` reads only files inside the workspace
(and the bundled specs): any other is refused at the `use` line, before anything is read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from .. import syntax as S
from ..errors import ArchError, LimitError, SpecImportError, Source, Span
from ..lower import Definitions, Limits
from ..parser import parse_module
from ..network import Network
from ..program import _Collector, _use_path, bundled_specs
from ..reading import MAX_FILE_BYTES, read_spec_file, real_path
from ..records import record

__all__ = ["Analyzer", "Files", "Snapshot", "NetResult", "Diagnostic", "Related", "Place", "walk", "split"]


_ITEM = re.compile(r"^[ \t]*(?:network|block|use)\b", re.M)


@record
class Place:
    """A span placed in a file: `path` None for the analysed document; lines and columns
    1-based in that file, end exclusive."""

    path: str | None
    line: int
    col: int
    end_line: int
    end_col: int


@record
class Related:
    place: Place
    message: str


@dataclass
class Diagnostic:
    place: Place  # always in the document
    severity: str  # "error" or "warning"
    message: str  # the message, its detail lines and its hint, as the editor shows them
    kind: str
    related: list[Related] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # ArchError.to_dict(), placed in the document


def split(text: str) -> list[tuple[int, str]]:
    """(first line, text) of each definition: a piece starts where a line starts with
    `network`, `block` or `use`; anything before the first one is a piece of its own."""
    starts = [m.start() for m in _ITEM.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    pieces, line, previous = [], 1, 0
    for i, start in enumerate(starts):
        line += text.count("\n", previous, start)
        previous = start
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        pieces.append((line, text[start:end]))
    return pieces


_FIELDS: dict[type, tuple[str, ...]] = {}


def walk(node):
    """Every syntax node under `node` (itself included), parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(reversed(n))
            continue
        if not is_dataclass(n) or isinstance(n, (Span, Source)):
            continue
        yield n
        names = _FIELDS.get(type(n))
        if names is None:
            names = _FIELDS[type(n)] = tuple(f.name for f in fields(n) if f.name not in ("span", "source"))
        stack.extend(reversed([getattr(n, name) for name in names]))


def names_in(item) -> frozenset[str]:
    """The identifiers an item's text uses (layer, block and value names)."""
    out = set()
    for n in walk(item):
        if isinstance(n, S.Call):
            out.add(n.func)
        elif isinstance(n, S.Name):
            out.add(n.id)
    return frozenset(out)


@record(eq=False)
class Parsed:
    """One piece of text parsed (shared by every version of the document that has it)."""

    text: str
    source: Source | None
    items: tuple = ()
    error: ArchError | None = None


@dataclass(eq=False)
class Chunk:
    """A parsed piece at its place in one version of the document."""

    line: int  # its first line in the document
    offset: int  # document line = a span's line + offset
    parsed: Parsed
    error: ArchError | None = None  # the parse error as the whole file reads it

    @property
    def items(self) -> tuple:
        return self.parsed.items

    @property
    def text(self) -> str:
        return self.parsed.text


@dataclass(eq=False)
class NetResult:
    """One network's analysis: the network (None where it failed), its errors and warnings,
    and for a network with holes the solver's answer."""

    item: S.Network
    deps: tuple  # (name, id of the block it names or 0, names a network) for every name it reaches
    keep: tuple  # those blocks, held so that their ids stay theirs
    network: Network | None = None
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    solved: object = None  # solver.Solved
    cache: dict = field(default_factory=dict)  # what features.py derives from it, computed once


class Files:
    """The files `use` may read: inside a workspace root (symlinks resolved) or bundled.
    `open_text(path)` gives an open editor's (version, text) for a path, which wins over the
    disk. Parsed files are cached by their modification time and size (or editor version)."""

    def __init__(self, roots: list[Path] | None = None,
                 open_text: Callable[[Path], tuple[int, str] | None] | None = None) -> None:
        self.roots = [Path(os.path.realpath(r)) for r in roots or []]
        self.open_text = open_text or (lambda path: None)
        self._cache: dict[Path, tuple[object, S.Module]] = {}

    def allowed(self, path: Path, document: Path | None) -> bool:
        roots = list(self.roots)
        if document is not None and not any(document.is_relative_to(r) for r in roots):
            roots.append(document.parent)  # a file outside every root may use its neighbours
        return any(path.is_relative_to(r) for r in roots)

    def module(self, target: Path, span: Span, shown: str) -> S.Module:
        opened = self.open_text(target)
        if opened is not None:
            stamp: object = ("open", opened[0], len(opened[1]))
        else:
            st = os.stat(target)
            stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(target)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if opened is not None:
            text = opened[1]
            if len(text) > MAX_FILE_BYTES:
                raise LimitError(f"{shown} is over the {MAX_FILE_BYTES:,}-byte limit for a spec", span)
        else:
            text = read_spec_file(target, span, shown=shown)
        module = parse_module(text, str(target))
        self._cache[target] = (stamp, module)
        return module


class Snapshot:
    """A document as last analysed: its pieces, definitions, networks and diagnostics."""

    def __init__(self, name: str, path: Path | None, text: str, version) -> None:
        self.name, self.path, self.version = name, path, version
        self.bom = 1 if text.startswith("\ufeff") else 0
        self.text = text[self.bom:]
        self.chunks: list[Chunk] = []
        self.defs = Definitions()
        self.where: dict[str, S.Block | S.Network] = {}
        self.nets: dict[str, NetResult] = {}
        self.diagnostics: list[Diagnostic] = []
        self.used: dict[Path, S.Module] = {}  # every file reached through `use`, with its tree
        self.uses: list[tuple[S.Use, Path | None]] = []  # this document's uses, and the file each reads
        self.too_large = False
        self._offsets: dict[Source, tuple[str | None, int]] = {}

    @property
    def items(self):
        for chunk in self.chunks:
            yield from chunk.items

    def place(self, span: Span | None) -> Place | None:
        """Where a span is: in this document (path None) or in a used file."""
        if span is None:
            return None
        where = self._offsets.get(span.source)
        if where is None:
            return None
        path, offset = where
        return Place(path, span.line + offset, span.col, span.end_line + offset, span.end_col)

    def chunk_at(self, line: int) -> Chunk | None:
        """The piece holding document line `line`."""
        found = None
        for chunk in self.chunks:
            if chunk.line > line:
                break
            found = chunk
        return found


class Analyzer:
    """Analyses successive versions of one document, reusing what an edit left unchanged."""

    def __init__(self, name: str, path: Path | None, files: Files, limits: Limits | None = None) -> None:
        self.name, self.path, self.files = name, path, files
        self.limits = limits or Limits()
        self._chunks: dict[tuple[int, str], Chunk] = {}
        self._nets: dict[str, NetResult] = {}
        self._names: dict[int, tuple[object, frozenset[str]]] = {}

    def analyse(self, text: str, version=None, stale: Callable[[], bool] = lambda: False) -> Snapshot | None:
        """The snapshot of `text`; None when `stale()` turns true on the way (a newer version
        came: this one is not worth finishing)."""
        snap = Snapshot(self.name, self.path, text, version)
        text = snap.text
        if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            snap.too_large = True
            err = LimitError(f"the spec is over the {MAX_FILE_BYTES:,}-byte limit",
                             hint="archlang reads specs of at most 1 MiB; this document is not analysed")
            snap.diagnostics.append(_diagnostic(err, Place(None, 1, 1, 1, 1 + min(len(text.split("\n", 1)[0]), 200)),
                                                "error", []))
            return snap
        self._parse(snap)
        collected = self._collect(snap)
        nets: dict[str, NetResult] = {}
        for item in snap.items:
            if not isinstance(item, S.Network) or snap.where.get(item.name) is not item:
                continue  # a definition the collector refused (defined twice, a keyword...)
            if stale():
                self._nets.update(nets)  # what was analysed stays useful to the next version
                return None
            nets[item.name] = self._network(item, snap)
        self._nets = nets
        snap.nets = nets
        self._diagnose(snap, collected)
        live = {id(i) for i in snap.defs.blocks.values()} | {id(i) for i in snap.items}
        self._names = {k: v for k, v in self._names.items() if k in live}
        return snap

    # ------------------------------------------------------------------ parsing

    def _parse(self, snap: Snapshot) -> None:
        pieces = split(snap.text)
        cache: dict[tuple[int, str], Parsed] = {}
        for i, (line, text) in enumerate(pieces):
            placed = "?" in text
            key = (line if placed else 0, text)
            parsed = self._chunks.get(key) if key not in cache else None
            if parsed is None:  # new text (or the same text twice: each needs its own source)
                parsed = self._parse_piece(line, text, placed)
            cache.setdefault(key, parsed)
            chunk = Chunk(line, 0 if placed else line - 1, parsed, parsed.error)
            if parsed.source is not None:
                snap._offsets[parsed.source] = (None, chunk.offset)
            if parsed.error is not None and parsed.error.message == "unexpected end of file" and i + 1 < len(pieces):
                # as the whole file reads it: the next definition's keyword is what is unexpected
                joined = self._parse_piece(line, text + pieces[i + 1][1], placed)
                if joined.error is not None and joined.source is not None:
                    snap._offsets[joined.source] = (None, chunk.offset)
                    chunk.error = joined.error
            snap.chunks.append(chunk)
        self._chunks = cache

    def _parse_piece(self, line: int, text: str, placed: bool) -> Parsed:
        padded = "\n" * (line - 1) + text if placed else text
        try:
            module = parse_module(padded, self.name, self.limits.max_tokens)
        except ArchError as err:
            return Parsed(text, err.span.source if err.span else None, (), err)
        except RecursionError:
            return Parsed(text, None, (), LimitError("the spec is nested too deeply to parse"))
        return Parsed(text, module.source, module.items)

    def names(self, item) -> frozenset[str]:
        got = self._names.get(id(item))
        if got is not None and got[0] is item:
            return got[1]
        found = names_in(item)
        self._names[id(item)] = (item, found)
        return found

    # ------------------------------------------------------------------ definitions and uses

    def _collect(self, snap: Snapshot) -> list[tuple[ArchError, Place | None]]:
        """Every definition, this document's and its used files', into snap.defs; returns the
        errors found, each with the `use` it came through (None: the definition itself)."""
        collector = _Collector()
        collector.defs = snap.defs
        collector.where = snap.where
        errors: list[tuple[ArchError, Place | None]] = []
        for item in snap.items:
            if isinstance(item, S.Use):
                anchor = snap.place(item.span)
                target = None
                try:
                    target = self._use(item, self.name, (), collector, snap, errors, anchor)
                except ArchError as err:
                    errors.append((err, anchor))
                snap.uses.append((item, target))
            else:
                try:
                    collector.define(item)
                except ArchError as err:
                    errors.append((err, None))
        return errors

    def _use(self, item: S.Use, base: str, stack: tuple, collector, snap: Snapshot, errors, anchor) -> Path:
        path = _use_path(item, SimpleNamespace(source=SimpleNamespace(name=base)))
        bundled = path in bundled_specs().values()
        if not bundled:
            document = self.path if base == self.name else Path(base)
            if document is None:
                raise SpecImportError(
                    f"'use \"{item.path}\"' in a document that is not a file: only bundled specs can be used",
                    item.span, hint="save the document in the workspace first")
            lexical = Path(os.path.normpath(document.parent / path if not path.is_absolute() else path))
            if not self.files.allowed(lexical, self.path):
                raise SpecImportError(
                    f"'use \"{item.path}\"' names a file outside the workspace ({lexical}); it is not read",
                    item.span, hint="the language server reads only files inside the workspace folders: "
                    "open the folder that holds both files, or copy the blocks into the workspace")
        target = real_path(path, item.span, shown=item.path, hint="'use' paths are relative to the using file")
        if not bundled and not self.files.allowed(target, self.path):
            raise SpecImportError(
                f"'use \"{item.path}\"' leads to {target}, outside the workspace; it is not read", item.span,
                hint="the language server reads only files inside the workspace folders (symlinks resolved)")
        if target in stack or (self.path is not None and target == self.path):
            chain = " -> ".join(p.name for p in (*stack, target))
            raise SpecImportError(f"import cycle: {chain}", item.span, hint="move the shared blocks into a third file")
        if target in snap.used:
            return target
        module = self.files.module(target, item.span, item.path)
        snap.used[target] = module
        snap._offsets[module.source] = (str(target), 0)
        for sub in module.items:
            try:
                if isinstance(sub, S.Use):
                    self._use(sub, str(target), (*stack, target), collector, snap, errors, anchor)
                else:
                    collector.define(sub)
            except ArchError as err:
                errors.append((err, anchor))
        return target

    # ------------------------------------------------------------------ networks

    def _deps(self, item, defs: Definitions) -> tuple[tuple, tuple]:
        seen: dict[str, tuple[int, bool]] = {}
        keep = []
        stack = list(self.names(item))
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            block = defs.blocks.get(name)
            seen[name] = (id(block) if block is not None else 0, name in defs.networks)
            if block is not None:
                keep.append(block)
                stack.extend(self.names(block))
        return tuple(sorted(seen.items())), tuple(keep)

    def _network(self, item: S.Network, snap: Snapshot) -> NetResult:
        deps, keep = self._deps(item, snap.defs)
        cached = self._nets.get(item.name)
        if cached is not None and cached.item is item and cached.deps == deps:
            return cached
        result = NetResult(item, deps, keep)
        try:
            from .networks import analyse_network

            analyse_network(result, snap, self.limits)
        except RecursionError:
            result.errors.append(LimitError("the spec nests too deeply to analyse", item.name_span,
                                            hint="reduce the nesting of blocks and parentheses"))
        except MemoryError:
            result.errors.append(LimitError("out of memory: the network is too large for this machine",
                                            item.name_span))
        return result

    # ------------------------------------------------------------------ diagnostics

    def _diagnose(self, snap: Snapshot, collected) -> None:
        out = snap.diagnostics
        for chunk in snap.chunks:
            if chunk.error is not None:
                fallback = Place(None, chunk.line, 1, chunk.line, 2)
                out.append(_placed(snap, chunk.error, "error", None, fallback))
        for err, anchor in collected:
            out.append(_placed(snap, err, "error", anchor, anchor))
        for result in snap.nets.values():
            name = snap.place(result.item.name_span)
            for err in result.errors:
                out.append(_placed(snap, err, "error", None, name))
            for err in result.warnings:
                out.append(_placed(snap, err, "warning", None, name))
        seen, unique = set(), []
        for d in out:  # an error inside a block reached by several networks, once
            key = (d.place, d.message)
            if key not in seen:
                seen.add(key)
                unique.append(d)
        snap.diagnostics = unique


def _text(err: ArchError) -> str:
    lines = [err.message, *err.detail]
    if err.hint:
        lines.append(f"hint: {err.hint}")
    return "\n".join(lines)


def _placed(snap: Snapshot, err: ArchError, severity: str, anchor: Place | None, fallback: Place | None) -> Diagnostic:
    """The diagnostic of an error: at its own span where that is in this document, otherwise
    at the first of its notes that is (the call that led into a used file's block), the `use`
    it came through, or `fallback`; its place elsewhere is then related information."""
    own = snap.place(err.span)
    related = [Related(p, note.message) for note in err.notes if (p := snap.place(note.span)) is not None]
    where = own if own is not None and own.path is None else None
    if where is None:
        where = next((r.place for r in related if r.place.path is None), None) or anchor or fallback \
            or Place(None, 1, 1, 1, 2)
        if own is not None:
            related.insert(0, Related(own, err.message))
    return _diagnostic(err, where, severity, related, own)


def _diagnostic(err: ArchError, where: Place, severity: str, related: list, own: Place | None = None) -> Diagnostic:
    data = err.to_dict()
    if own is not None:
        data.update(line=own.line, column=own.col, end_line=own.end_line, end_column=own.end_col)
        if own.path is not None:
            data["file"] = own.path
    text = _text(err)
    if own is not None and own.path is not None:
        text = f"{Path(own.path).name}:{own.line}:{own.col}: {text}"
    return Diagnostic(where, severity, text, err.kind, related, data)
