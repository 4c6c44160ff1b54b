"""`archlang serve`: the playground's HTTP server (the standard library's ThreadingHTTPServer;
no framework, no dependency).

    GET  /                    the page (static/index.html); ?spec=...&network=... is a shared spec
    GET  /static/NAME         the page's script, style and icon, shipped inside the package
    GET  /api/meta            the served spec, the bundled examples, op names, limits
    GET  /api/spec/STEM       a bundled spec's text (STEM: resnet, vgg, ...)
    POST /api/check           {spec, name, network, collapse, fold, rankdir} -> {networks, network,
                              errors, summary, table, svg, diagram_error, ms}
    GET  /api/check?spec=...  the same, the spec URL-encoded (curl-friendly)
    POST /api/onnx            {spec, name, network} -> the .onnx file (weights drawn with seed 0)

Spec errors are never HTTP errors: /api/check answers 200 with located `errors` (as `archlang
check --json` gives them). HTTP errors are for requests that are not what the API takes, each
with a one-line JSON {"error": ...}: 400 (not JSON, not UTF-8, wrong fields), 403 (a Host or
Origin that is not this server's: DNS rebinding, other sites), 404, 411 (no Content-Length),
413 (a body over MAX_BODY), 414 (a URL over MAX_URL), 415 (not application/json), 503 (every
worker busy and the queue full; Retry-After says when to try again).

Bounds: a spec of 1 MiB (the library's own limit), a body of MAX_BODY, a URL of MAX_URL, each
analysis `timeout` seconds in a worker process that is killed past it (pool.py), at most
MAX_CONNECTIONS requests handled at once (beyond them, 503 at once), a socket timeout for slow
clients. It binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from ..reading import MAX_FILE_BYTES
from . import analysis
from .pool import Busy, Pool, TimedOut, WorkerDied

__all__ = ["Playground", "make_server", "MAX_BODY", "MAX_URL", "MAX_CONNECTIONS"]

MAX_BODY = 4 * MAX_FILE_BYTES  # a 1 MiB spec as JSON, with room for escapes
MAX_URL = 64 * 1024  # a shared spec travels in the URL; http.server refuses longer request lines itself
MAX_CONNECTIONS = 64  # requests handled at once; the rest are answered 503 straight away
SOCKET_TIMEOUT = 10.0  # seconds a client may take to send its request
BODY_SECONDS = 30.0  # the most time a client may take to send a body
DRAIN_LIMIT = 16 * 1024 * 1024  # bytes of a refused body read (and dropped) so the client sees the answer

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                 ".txt": "text/plain; charset=utf-8"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SHOW = ("params", "macs", "flops", "mem", "rf")  # backends/dot.SHOW, without importing graphviz here
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\.arch")


class RequestError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Playground:
    """What the server serves: the spec it was started on (or none), where `use` may read,
    and the analysis bounds."""

    spec: str | None = None  # the served .arch file
    network: str | None = None  # the network to show first
    timeout: float = 10.0  # seconds per analysis
    onnx_timeout: float = 120.0  # seconds per ONNX export
    workers: int = 2
    roots: tuple[Path, ...] = field(default=())
    anchor: Path = field(default=Path("."))  # the folder the editor's text lives in, for `use`

    def __post_init__(self) -> None:
        self.roots = analysis.roots_for(self.spec)
        self.anchor = self.roots[-1]  # the served spec's folder, else the bundled library

    def served(self) -> dict | None:
        """The served spec as it is on disk now (so a reload shows edits made elsewhere)."""
        if self.spec is None:
            return None
        from ..errors import ArchError
        from ..reading import read_spec_file

        path = Path(self.spec)
        try:
            text = read_spec_file(path)
        except ArchError as err:
            text = f"# {err.message}\n"
        return {"name": path.name, "text": text, "network": self.network}

    def filename(self, name: object) -> str:
        """Where the editor's text is taken to live: `name` (a plain file name, else the served
        spec's) in the anchor folder; `use` paths are relative to it."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            name = Path(self.spec).name if self.spec else "playground.arch"
        return str(self.anchor / name)


def _examples() -> list[dict]:
    from ..program import bundled_networks

    files: dict[str, list[str]] = {}
    for network, path in bundled_networks(exercises=True).items():
        files.setdefault(path.stem, []).append(network)
    return [{"spec": stem, "name": f"{stem}.arch", "networks": networks} for stem, networks in files.items()]


def _meta(playground: Playground) -> dict:
    from .. import __version__
    from ..ops import REGISTRY
    from ..parser import KEYWORDS

    ops = sorted({name for name in REGISTRY} | {a for op in REGISTRY.values() for a in op.aliases})
    kernel = sorted(name for name, op in REGISTRY.items() if op.kernel_suffix)
    return {"version": __version__, "served": playground.served(), "examples": _examples(), "ops": ops,
            "kernel_ops": kernel, "keywords": list(KEYWORDS), "special": ["residual"],
            "limits": {"spec_bytes": MAX_FILE_BYTES, "timeout_s": playground.timeout}}


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a cap on requests handled at once."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog (socketserver's 5 drops connections under a burst)

    def __init__(self, address, handler, playground: Playground, pool: Pool) -> None:
        self.playground = playground
        self.pool = pool
        self.tmp = Path(tempfile.mkdtemp(prefix="archlang-serve-"))
        self._active = 0
        self._active_lock = threading.Lock()
        self.quiet = True
        host = address[0]
        try:
            self.open_to_all = ipaddress.ip_address(host).is_unspecified
        except ValueError:
            self.open_to_all = False
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host = self.server_address[0]
        if self.open_to_all:
            host = "127.0.0.1"
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    def allowed_hosts(self) -> set[str]:
        host = self.server_address[0]
        names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
        return {f"{n}:{self.port}" for n in names}

    def process_request(self, request, client_address) -> None:
        with self._active_lock:
            busy = self._active >= MAX_CONNECTIONS
            if not busy:
                self._active += 1
        if busy:  # answered here, in the accepting thread, without reading the request
            try:
                request.settimeout(1.0)
                body = b'{"error": "the server is busy; try again in a moment"}\n'
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                                + str(len(body)).encode() + b"\r\n\r\n" + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._active_lock:
            self._active -= 1

    def server_close(self) -> None:
        super().server_close()
        self.pool.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "archlang-serve"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles on a thread
    timeout = SOCKET_TIMEOUT

    # -- plumbing

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-cache")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", CSP)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client went away: nothing to do
                pass

    def _json(self, data: dict, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, (json.dumps(data) + "\n").encode("ascii"), "application/json", headers)

    def _error(self, status: HTTPStatus, message: str, headers: dict | None = None) -> None:
        if self.path.startswith("/api/"):
            self._json({"error": message}, status, headers)
        else:
            page = (f"<!doctype html><meta charset=utf-8><title>{status.value} {status.phrase}</title>"
                    f"<p style='font:15px system-ui;margin:3em'>{_escape(message)}</p>")
            self._send(status, page.encode("utf-8"), "text/html; charset=utf-8", headers)

    def send_error(self, code, message=None, explain=None) -> None:
        """http.server's own refusals (a request line over 64 KiB: 414, a malformed one: 400) as
        one clear line, like the API's."""
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.BAD_REQUEST
        text = {HTTPStatus.REQUEST_URI_TOO_LONG: f"the URL is over the {MAX_URL // 1024} KiB limit; a spec this "
                "long cannot be shared in a URL (download the .arch instead)"}.get(status, message or status.phrase)
        self.close_connection = True
        if not getattr(self, "command", None) or not hasattr(self, "path"):  # the request line was refused
            raw = getattr(self, "raw_requestline", b"") or b""
            self.path = "/api/" if raw.split(b" ", 2)[1:2] and raw.split(b" ", 2)[1].startswith(b"/api/") else ""
        self._error(status, text, {"Connection": "close"})

    def _guard_host(self) -> None:
        if self.server.open_to_all:
            return
        host = self.headers.get("Host")
        if host is not None and host.lower() not in self.server.allowed_hosts():
            raise RequestError(HTTPStatus.FORBIDDEN, f"this server answers to {self.server.url}, not to the host "
                               f"'{host[:100]}'")
        if self.path.startswith("/api/") and self.headers.get("Sec-Fetch-Site") == "cross-site":
            raise RequestError(HTTPStatus.FORBIDDEN, "requests from other sites are refused")
        origin = self.headers.get("Origin")
        if origin is not None and self.command == "POST":
            netloc = urlsplit(origin).netloc.lower()
            if netloc not in self.server.allowed_hosts():
                raise RequestError(HTTPStatus.FORBIDDEN, "requests from other sites are refused")

    def _query(self) -> dict[str, str]:
        query = urlsplit(self.path).query
        if len(self.path) > MAX_URL:
            raise RequestError(HTTPStatus.REQUEST_URI_TOO_LONG, f"the URL is over the {MAX_URL // 1024} KiB limit")
        try:
            return dict(parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict",
                                  max_num_fields=16))
        except UnicodeDecodeError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the URL's spec is not UTF-8 text once decoded (byte "
                               f"{err.start} of a parameter is {err.object[err.start:err.start + 1]!r}); "
                               "share links encode a spec as UTF-8") from None
        except ValueError as err:  # too many fields
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the URL's query is malformed: {err}") from None

    def _body(self) -> dict:
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a POST needs a Content-Length")
        try:
            size = int(length)
            if size < 0:
                raise ValueError
        except ValueError:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"Content-Length '{length[:40]}' is not a size") from None
        if size > MAX_BODY:
            self._drain(size)
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"the body is {size:,} bytes, over the {MAX_BODY:,}-byte limit (a spec may have "
                               f"{MAX_FILE_BYTES:,} bytes)")
        kind = self.headers.get_content_type()
        if kind != "application/json":
            self._drain(size)
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                               f"send JSON (Content-Type: application/json), not {kind}: "
                               '{"spec": "network n : 3x32x32 = conv3x3(16)"}')
        data = self._read(size, BODY_SECONDS)
        if len(data) < size:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body ended after {len(data):,} of {size:,} bytes "
                               f"(or took more than {BODY_SECONDS:g} s)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not UTF-8 text (byte {err.start}); send "
                               "JSON") from None
        try:
            body = json.loads(text)
        except ValueError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {err}") from None
        except RecursionError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body's JSON nests too deeply") from None
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, 'the body must be a JSON object: {"spec": "..."}')
        return body

    def _read(self, size: int, seconds: float) -> bytes:
        """Up to `size` bytes of the body, within `seconds` in all (a client that trickles its
        body does not hold a thread for longer)."""
        deadline = time.monotonic() + seconds
        chunks, left = [], size
        try:
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(min(SOCKET_TIMEOUT, remaining))
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        except OSError:
            pass
        return b"".join(chunks)

    def _drain(self, size: int) -> None:
        """Read and drop up to DRAIN_LIMIT bytes of a refused body (for at most 2 s), so that a
        client still sending it reads the answer instead of a reset connection."""
        self.close_connection = True
        self._read(min(size, DRAIN_LIMIT), 2.0)

    # -- routes

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._route(self._get)

    def do_POST(self) -> None:
        self._route(self._post)

    def _route(self, method) -> None:
        try:
            self._guard_host()
            method(urlsplit(self.path).path)
        except RequestError as err:
            headers = {"Connection": "close"} if self.close_connection else None
            self._error(err.status, err.message, headers)
        except Busy:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "every analysis worker is busy; try again in a moment",
                        {"Retry-After": "1"})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as err:  # a bug in the server itself: said, and the server goes on
            if os.environ.get("ARCHLANG_DEBUG"):
                import traceback

                traceback.print_exc()
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(err).__name__}: {err}"[:300])

    def _get(self, path: str) -> None:
        if path in ("/", "/index.html"):
            query = self._query()  # a shared spec is checked here: bad bytes get a page that says so
            if len(query.get("spec", "").encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the shared spec is over the limit")
            self._static("index.html")
        elif path.startswith("/static/"):
            self._static(path.removeprefix("/static/"))
        elif path == "/favicon.ico":
            self._static("icon.svg")
        elif path == "/api/meta":
            self._json(_meta(self.server.playground))
        elif path.startswith("/api/spec/"):
            from ..program import bundled_specs

            stem = path.removeprefix("/api/spec/")
            specs = bundled_specs()
            if stem not in specs:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no bundled spec named '{stem[:60]}'; there are: "
                                   + ", ".join(specs))
            self._send(200, specs[stem].read_bytes(), "text/plain; charset=utf-8")
        elif path == "/api/check":
            query = self._query()
            if "spec" not in query:
                raise RequestError(HTTPStatus.BAD_REQUEST, "give the spec: /api/check?spec=network%20n%20...")
            self._check({**query, "collapse": query.get("collapse") in ("1", "true"),
                         "fold": query.get("fold") in ("1", "true")})
        else:
            raise RequestError(HTTPStatus.NOT_FOUND, f"nothing at {path[:100]}")

    def _post(self, path: str) -> None:
        if path == "/api/check":
            self._check(self._body())
        elif path == "/api/onnx":
            self._onnx(self._body())
        else:
            raise RequestError(HTTPStatus.NOT_FOUND, f"nothing to POST to at {path[:100]}")

    def _static(self, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+\.[a-z]+", name) or Path(name).suffix not in CONTENT_TYPES:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no file {name[:100]}")
        path = STATIC / name
        try:
            data = path.read_bytes()
        except OSError:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no file {name[:100]}") from None
        self._send(200, data, CONTENT_TYPES[path.suffix])

    def _fields(self, body: dict) -> dict:
        spec = body.get("spec")
        if not isinstance(spec, str):
            raise RequestError(HTTPStatus.BAD_REQUEST, '"spec" must be the spec\'s text (a string)')
        network = body.get("network")
        if network is not None and not isinstance(network, str):
            raise RequestError(HTTPStatus.BAD_REQUEST, '"network" must be a network\'s name (a string)')
        rankdir = body.get("rankdir") or "TB"
        if rankdir not in ("TB", "LR"):
            raise RequestError(HTTPStatus.BAD_REQUEST, '"rankdir" is "TB" or "LR"')
        show = body.get("show") or []
        if not isinstance(show, list) or not all(isinstance(s, str) and s in SHOW for s in show):
            raise RequestError(HTTPStatus.BAD_REQUEST, f'"show" is a list of {", ".join(SHOW)}')
        playground = self.server.playground
        return {"spec": spec, "network": network, "filename": playground.filename(body.get("name")),
                "roots": [str(r) for r in playground.roots], "collapse": bool(body.get("collapse")),
                "fold": bool(body.get("fold")), "rankdir": rankdir, "show": show}

    def _check(self, body: dict) -> None:
        request = {"job": "check", **self._fields(body), "timeout": self.server.playground.timeout}
        playground = self.server.playground
        try:
            answer = self.server.pool.run(request, playground.timeout)
        except TimedOut:
            answer = {**_empty(request), "errors": [analysis._failure(
                "limit", f"the analysis took longer than {playground.timeout:g} s and was stopped",
                "a network this large is better checked with archlang check; archlang serve --timeout raises the "
                "bound")]}
        except WorkerDied:
            answer = {**_empty(request), "errors": [analysis._failure(
                "limit", "the analysis stopped without an answer (out of memory?)",
                "a network this large is better checked with archlang check")]}
        answer.pop("id", None)
        self._json(answer)

    def _onnx(self, body: dict) -> None:
        fields = self._fields(body)
        playground = self.server.playground
        folder = Path(tempfile.mkdtemp(dir=self.server.tmp))
        try:
            request = {"job": "onnx", **fields, "path": str(folder / "model.onnx")}
            try:
                answer = self.server.pool.run(request, playground.onnx_timeout)
            except TimedOut:
                raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE,
                                   f"the export took longer than {playground.onnx_timeout:g} s and was stopped; "
                                   "archlang compile SPEC -o model.onnx has no time bound") from None
            except WorkerDied:
                raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE,
                                   "the export stopped without an answer (out of memory?)") from None
            if "errors" in answer:  # the spec does not analyse: located errors, as /api/check gives them
                self._json({"errors": answer["errors"]}, HTTPStatus.UNPROCESSABLE_ENTITY)
                return
            data = Path(answer["written"]).read_bytes()
            name = answer["network"]
            self._send(200, data, "application/octet-stream",
                       {"Content-Disposition": f'attachment; filename="{name}.onnx"'})
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _empty(request: dict) -> dict:
    return {"name": Path(request["filename"]).name, "networks": [], "network": request.get("network"),
            "errors": [], "summary": None, "table": [], "table_truncated": False, "svg": None,
            "diagram_error": None}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def make_server(playground: Playground, host: str = "127.0.0.1", port: int = 8000) -> Server:
    """A bound server with its workers started; `serve_forever()` runs it, `server_close()`
    stops the workers. OSError where the address cannot be bound."""
    pool = Pool(size=playground.workers, queue_wait=max(playground.timeout, 5.0))
    try:
        return Server((host, port), Handler, playground, pool)
    except BaseException:
        pool.close()
        raise


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
