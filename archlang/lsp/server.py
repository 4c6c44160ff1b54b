"""The language server: pygls for the protocol (a kept, typed implementation of LSP whose
types come from lsprotocol, Microsoft's generated model of the specification), archlang for
the rest.

Documents are kept here, not in pygls' workspace, so that lines end where LSP says they do
(\\n, \\r\\n, \\r: Python's splitlines also breaks at form feeds and U+2028, which a spec's
comments may hold). Each change restarts a short timer (`debounceMs`, 150 ms); when it runs
out, the document alone is analysed again on a worker thread, reusing every definition the
edit left alone (analysis.py), and its diagnostics are published. Requests that read the
analysis (hover, definition, inlay hints...) wait for a pending one, up to a second.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import queue
import re
import threading
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import __version__
from . import features
from .analysis import Analyzer, Files, Place, Snapshot
from .complete import complete

__all__ = ["ArchServer", "make_server", "main"]

log = logging.getLogger(__name__)

DEFAULTS = {"inlayHints": True, "debounceMs": 150}
_BREAK = re.compile(r"\r\n|\r|\n")
_KINDS = {"function": T.CompletionItemKind.Function, "class": T.CompletionItemKind.Class,
          "variable": T.CompletionItemKind.Variable, "keyword": T.CompletionItemKind.Keyword,
          "property": T.CompletionItemKind.Property, "file": T.CompletionItemKind.File}


class Lines:
    """Positions in one text: archlang's (1-based line and column in code points, lines
    ending at \\n, after a leading BOM) and LSP's (0-based, lines ending at \\r\\n, \\r or \\n,
    columns in the negotiated code units)."""

    def __init__(self, text: str, encoding: str) -> None:
        self.text, self.encoding = text, encoding
        self.bom = 1 if text.startswith("\ufeff") else 0
        self._lsp: list[int] | None = None
        self._arch: list[int] | None = None

    @property
    def lsp(self) -> list[int]:
        if self._lsp is None:
            self._lsp = [0] + [m.end() for m in _BREAK.finditer(self.text)]
        return self._lsp

    @property
    def arch(self) -> list[int]:
        if self._arch is None:
            self._arch = [0] + [m.end() for m in re.finditer("\n", self.text[self.bom:])]
        return self._arch

    def _units(self, s: str) -> int:
        if self.encoding == "utf-32" or s.isascii():
            return len(s)
        if self.encoding == "utf-8":
            return len(s.encode("utf-8", "surrogatepass"))
        return sum(2 if ord(c) > 0xFFFF else 1 for c in s)

    def _chars(self, s: str, units: int) -> int:
        if self.encoding == "utf-32" or s.isascii():
            return min(units, len(s))
        n = 0
        for i, c in enumerate(s):
            n += len(c.encode("utf-8", "surrogatepass")) if self.encoding == "utf-8" else 2 if ord(c) > 0xFFFF else 1
            if n > units:
                return i
        return len(s)

    def offset(self, pos: T.Position) -> int:
        """The character offset of an LSP position (clamped into the text)."""
        starts = self.lsp
        if pos.line >= len(starts):
            return len(self.text)
        start = starts[pos.line]
        end = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(self.text)
        line = self.text[start:end].rstrip("\r\n")
        return start + self._chars(line, pos.character)

    def position(self, offset: int) -> T.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.lsp, offset) - 1
        return T.Position(line, self._units(self.text[self.lsp[line]:offset]))

    def arch_offset(self, line: int, col: int) -> int:
        """The offset of archlang's line and column, kept within that line."""
        starts = self.arch
        line = max(1, min(line, len(starts)))
        end = starts[line] - 1 if line < len(starts) else len(self.text) - self.bom
        return self.bom + min(starts[line - 1] + max(col, 1) - 1, end)

    def arch_at(self, pos: T.Position) -> tuple[int, int]:
        offset = max(0, self.offset(pos) - self.bom)
        line = bisect.bisect_right(self.arch, offset)
        return line, offset - self.arch[line - 1] + 1

    def range(self, place: Place) -> T.Range:
        return T.Range(self.position(self.arch_offset(place.line, place.col)),
                       self.position(self.arch_offset(place.end_line, place.end_col)))


class Document:
    def __init__(self, uri: str, text: str, version, files: Files) -> None:
        self.uri, self.text, self.version = uri, text, version
        self.path = None
        try:
            path = to_fs_path(uri) if uri.startswith("file:") else None
            self.path = Path(path).resolve() if path else None
        except (OSError, ValueError, RuntimeError):  # no file can have that name: treated as unsaved
            pass
        self.analyzer = Analyzer(str(self.path) if self.path else uri, self.path, files)
        self.snapshot: Snapshot | None = None
        self.lines: Lines | None = None  # of self.snapshot's text
        self.task: asyncio.Task | None = None
        self.done = asyncio.Event()
        self.closed = False
        self.edits = 0  # changes received: what the debounce and the staleness check watch


class Worker(threading.Thread):
    """Runs analyses one at a time off the event loop (a daemon: exit never waits for it)."""

    def __init__(self) -> None:
        super().__init__(name="archlang-lsp-analysis", daemon=True)
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.start()

    def submit(self, fn, *args) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.jobs.put((loop, future, fn, args))
        return future

    def run(self) -> None:
        while True:
            loop, future, fn, args = self.jobs.get()
            try:
                result, error = fn(*args), None
            except BaseException as err:  # noqa: BLE001 - handed to the waiting coroutine
                result, error = None, err
            loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future, result, error) -> None:
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


class ArchServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("archlang", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.docs: dict[str, Document] = {}
        self.settings = dict(DEFAULTS)
        self.files = Files([], self._open_text)
        self.encoding = "utf-16"
        self.root: str | None = None
        self.worker: Worker | None = None

    # ------------------------------------------------------------------ documents

    def _open_text(self, path: Path):
        for doc in list(self.docs.values()):
            if doc.path == path:
                return doc.version, doc.text
        return None

    def configure(self, options) -> None:
        """Settings from initializationOptions or a configuration change: {"inlayHints": false,
        "debounceMs": 50}, under an "archlang" key or not, `{"enable": false}` for a boolean."""
        if isinstance(options, dict):
            options = options.get("archlang", options)
            for key in DEFAULTS if isinstance(options, dict) else ():
                value = options.get(key)
                if isinstance(value, dict) and "enable" in value:
                    value = value["enable"]
                if isinstance(value, type(DEFAULTS[key])) and not (key == "debounceMs" and isinstance(value, bool)):
                    self.settings[key] = value

    def schedule(self, doc: Document) -> None:
        doc.done.clear()
        if doc.task is None or doc.task.done():
            doc.task = asyncio.ensure_future(self._analyse(doc))

    async def _analyse(self, doc: Document) -> None:
        if self.worker is None:
            self.worker = Worker()
        try:
            await self._analyse_until_current(doc)
        except Exception as err:  # a bug: logged, and the next change tries again
            log.exception("analysis of %s failed", doc.uri)
            self.window_log_message(T.LogMessageParams(
                T.MessageType.Error, f"archlang: analysing {doc.uri} failed ({type(err).__name__}: {err}); "
                "this is a bug in archlang, please report it"))
        finally:
            doc.done.set()

    async def _analyse_until_current(self, doc: Document) -> None:
        while not doc.closed:
            seen = doc.edits
            await asyncio.sleep(max(0, self.settings["debounceMs"]) / 1000)
            if doc.edits != seen or doc.closed:
                continue  # still typing
            text, version = doc.text, doc.version
            stale = lambda: doc.closed or doc.edits != seen  # noqa: E731 - read on the worker
            snap = await self.worker.submit(doc.analyzer.analyse, text, version, stale)
            if snap is None:
                continue  # stale: a newer text is waiting
            doc.snapshot, doc.lines = snap, Lines(text, self.encoding)
            self.publish(doc)
            if doc.edits == seen:
                return

    async def fresh(self, uri: str) -> Document | None:
        """The document with its analysis up to date (or as it is after a second)."""
        doc = self.docs.get(uri)
        if doc is None:
            return None
        if not doc.done.is_set():
            try:
                await asyncio.wait_for(doc.done.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
        return doc if doc.snapshot is not None and not doc.snapshot.too_large else None

    def publish(self, doc: Document) -> None:
        snap, lines = doc.snapshot, doc.lines
        out = []
        for d in snap.diagnostics:
            if snap.too_large:
                first = min(len(doc.text.split("\n", 1)[0]), 200)
                rng = T.Range(T.Position(0, 0), T.Position(0, first))
            else:
                rng = lines.range(d.place)
            related = [T.DiagnosticRelatedInformation(self.location(doc, r.place), r.message)
                       for r in d.related]
            out.append(T.Diagnostic(
                rng, d.message,
                severity=T.DiagnosticSeverity.Error if d.severity == "error" else T.DiagnosticSeverity.Warning,
                code=d.kind, source="archlang", related_information=related or None, data=d.data))
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(doc.uri, out, version=snap.version))

    def location(self, doc: Document, place: Place) -> T.Location:
        """An LSP location for a place in the document or in a file it uses."""
        if place.path is None:
            return T.Location(doc.uri, doc.lines.range(place))
        path = Path(place.path)
        for other in self.docs.values():
            if other.path == path and other.lines is not None:
                return T.Location(other.uri, other.lines.range(place))
        module = doc.snapshot.used.get(path) if doc.snapshot else None
        text = module.source.text if module is not None else ""
        return T.Location(from_fs_path(place.path), Lines(text, self.encoding).range(place))


def make_server() -> ArchServer:
    server = ArchServer()

    @server.feature(T.INITIALIZE)
    def initialize(ls: ArchServer, params: T.InitializeParams):
        ls.configure(params.initialization_options)
        roots = [to_fs_path(f.uri) for f in params.workspace_folders or []]
        ls.root = params.root_uri and to_fs_path(params.root_uri) or params.root_path
        ls.files.roots = [Path(r).resolve() for r in roots + [ls.root] if r]
        ls.encoding = str(ls.workspace.position_encoding or "utf-16").lower()

    @server.feature(T.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: ArchServer, params: T.DidChangeWorkspaceFoldersParams):
        folders = [to_fs_path(f.uri) for f in ls.workspace.folders.values()]
        ls.files.roots = [Path(r).resolve() for r in folders + [ls.root] if r]

    @server.feature(T.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: ArchServer, params: T.DidChangeConfigurationParams):
        ls.configure(params.settings)

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ArchServer, params: T.DidOpenTextDocumentParams):
        item = params.text_document
        doc = ls.docs[item.uri] = Document(item.uri, item.text, item.version, ls.files)
        ls.schedule(doc)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ArchServer, params: T.DidChangeTextDocumentParams):
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return
        for change in params.content_changes:
            if isinstance(change, T.TextDocumentContentChangePartial):
                lines = Lines(doc.text, ls.encoding)
                start, end = lines.offset(change.range.start), lines.offset(change.range.end)
                doc.text = doc.text[:start] + change.text + doc.text[max(start, end):]
            else:
                doc.text = change.text
        doc.version = params.text_document.version
        doc.edits += 1
        ls.schedule(doc)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ArchServer, params: T.DidSaveTextDocumentParams):
        saved = ls.docs.get(params.text_document.uri)
        for doc in ls.docs.values():  # the documents that use it see its new text
            if saved is not None and doc is not saved and doc.snapshot and saved.path in doc.snapshot.used:
                ls.schedule(doc)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ArchServer, params: T.DidCloseTextDocumentParams):
        doc = ls.docs.pop(params.text_document.uri, None)
        if doc is not None:
            doc.closed = True
            ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(doc.uri, []))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    async def hover(ls: ArchServer, params: T.HoverParams):
        doc = await ls.fresh(params.text_document.uri)
        if doc is None:
            return None
        found = features.hover(doc.snapshot, *doc.lines.arch_at(params.position))
        if found is None:
            return None
        text, place = found
        rng = doc.lines.range(place) if place is not None and place.path is None else None
        return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, text), rng)

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["(", ",", '"', ">", "|"]))
    def completion(ls: ArchServer, params: T.CompletionParams):
        doc = ls.docs.get(params.text_document.uri)
        if doc is None or len(doc.text) > (1 << 20):
            return None
        lines = Lines(doc.text, ls.encoding)
        offset = lines.offset(params.position) - lines.bom
        items = complete(doc.snapshot, doc.text[lines.bom:], offset)
        return T.CompletionList(False, [T.CompletionItem(
            i["label"], kind=_KINDS.get(i["kind"]), detail=i["detail"] or None,
            documentation=T.MarkupContent(T.MarkupKind.Markdown, i["documentation"]) if i["documentation"] else None,
            insert_text=i["insert_text"], sort_text=i["sort_text"]) for i in items])

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    async def definition(ls: ArchServer, params: T.DefinitionParams):
        doc = await ls.fresh(params.text_document.uri)
        if doc is None:
            return None
        places = features.definition(doc.snapshot, *doc.lines.arch_at(params.position))
        return [ls.location(doc, p) for p in places if p is not None] or None

    @server.feature(T.TEXT_DOCUMENT_REFERENCES)
    async def references(ls: ArchServer, params: T.ReferenceParams):
        doc = await ls.fresh(params.text_document.uri)
        if doc is None:
            return None
        name = features.block_at(doc.snapshot, *doc.lines.arch_at(params.position))
        if name is None:
            return None
        declaration = params.context.include_declaration
        out = [ls.location(doc, p) for p in features.references(doc.snapshot, name, declaration)]
        home = doc.snapshot.place(doc.snapshot.defs.blocks[name].name_span)
        home_key = _home(doc, home) if home else None
        for other in list(ls.docs.values()):  # open documents that reach the same block
            snap = other.snapshot
            if other is doc or snap is None or name not in snap.defs.blocks or other.lines is None:
                continue
            theirs = snap.place(snap.defs.blocks[name].name_span)
            if theirs is not None and _home(other, theirs) == home_key:
                out += [ls.location(other, p) for p in features.references(snap, name, False)]
        return list({(loc.uri, loc.range.start.line, loc.range.start.character): loc for loc in out}.values())

    @server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(ls: ArchServer, params: T.DocumentSymbolParams):
        doc = await ls.fresh(params.text_document.uri)
        if doc is None:
            return None
        kinds = {"network": T.SymbolKind.Class, "block": T.SymbolKind.Function}
        return [T.DocumentSymbol(name, kinds[kind], doc.lines.range(full), doc.lines.range(sel), detail=detail)
                for name, kind, detail, full, sel in features.symbols(doc.snapshot)]

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: ArchServer, params: T.DocumentFormattingParams):
        from ..errors import ArchError
        from ..formatter import FormatError, format_source

        doc = ls.docs.get(params.text_document.uri)
        if doc is None or len(doc.text) > (1 << 20):
            return None
        try:
            formatted = format_source(doc.text, doc.analyzer.name)
        except (ArchError, FormatError, RecursionError):  # a spec that does not parse is left alone
            return None
        if formatted == doc.text:
            return []
        lines = Lines(doc.text, ls.encoding)
        return [T.TextEdit(T.Range(T.Position(0, 0), lines.position(len(doc.text))), formatted)]

    @server.feature(T.TEXT_DOCUMENT_INLAY_HINT)
    async def inlay_hint(ls: ArchServer, params: T.InlayHintParams):
        if not ls.settings["inlayHints"]:
            return None
        doc = await ls.fresh(params.text_document.uri)
        if doc is None:
            return None
        first = doc.lines.arch_at(params.range.start)[0]
        last = doc.lines.arch_at(params.range.end)[0]
        return [T.InlayHint(doc.lines.position(doc.lines.arch_offset(line, col)), label,
                            kind=T.InlayHintKind.Type, padding_left=True)
                for line, col, label in features.inlay_hints(doc.snapshot, first, last)]

    return server


def _home(doc: Document, place: Place) -> tuple:
    return (place.path or str(doc.path or doc.uri), place.line, place.col)


class _Short(logging.Formatter):
    """Log records cut to 2,000 characters: pygls logs whole messages, and one may be 10 MB."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if len(text) <= 2000 else text[:2000] + f"... ({len(text):,} characters)"


def main() -> int:
    import sys

    from .rpc import serve

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Short("archlang lsp: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    server = make_server()
    serve(server, sys.stdin.buffer, sys.stdout.buffer)
    return 0 if getattr(server.protocol, "_shutdown", False) else 1
