"""The stdio transport: LSP's framing (`Content-Length` headers) read on a thread of its own,
with every malformed message answered as JSON-RPC says instead of dropped or fatal.

pygls' own loop logs a body that is not JSON and carries on without a reply, reads a header
line or body of any length into memory, and joins its reading thread at exit. This one:
- a body that is not JSON (or not UTF-8): a Parse error (-32700, id null);
- JSON that is not a request, notification or response (an array, no "jsonrpc": "2.0", a
  method that is not a string): Invalid Request (-32600), with the id where it has one;
- params of the wrong shape for a known method: Invalid params (-32602) from pygls;
- a header block without a Content-Length: a Parse error, and reading goes on at the next;
- a body over MAX_MESSAGE bytes: skipped without being kept, then Invalid Request;
- header lines over MAX_HEADER bytes: cut there;
- at most MAX_PENDING messages wait to be handled: a flood slows the reader, not the memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading

__all__ = ["serve", "MAX_MESSAGE", "MAX_HEADER", "MAX_PENDING"]

MAX_MESSAGE = 64 << 20  # bytes of one message (a 10 MB document fits; a runaway length does not)
MAX_HEADER = 8192  # bytes of one header line
MAX_PENDING = 256  # messages read but not yet handled

PARSE_ERROR, INVALID_REQUEST, INTERNAL_ERROR = -32700, -32600, -32603
# searched, not matched: after a body shorter than its header said, the next header line
# starts with that body's rest, and reading picks up again there
_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*$", re.I)

log = logging.getLogger(__name__)


class _Stream:
    """Buffered reading straight from a file descriptor: a daemon thread blocked in a
    BufferedReader holds its lock, and Python aborts at exit on a lock held by a daemon."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, bytearray()

    def _fill(self) -> bool:
        chunk = os.read(self.fd, 1 << 16)
        self.buffer += chunk
        return bool(chunk)

    def readline(self, limit: int) -> bytes:
        while True:
            end = self.buffer.find(b"\n", 0, limit)
            if end >= 0 or len(self.buffer) >= limit or not self._fill():
                n = end + 1 if end >= 0 else min(limit, len(self.buffer))
                line = bytes(self.buffer[:n])
                del self.buffer[:n]
                return line

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and self._fill():
            pass
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data


class _Reader(threading.Thread):
    """Reads framed messages from `stream` and hands each to the event loop as ("body",
    bytes) or ("error", code, message); ("eof",) at the end. A daemon: exiting never waits
    for it."""

    def __init__(self, stream, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        super().__init__(name="archlang-lsp-reader", daemon=True)
        self.stream = _Stream(stream.fileno())
        self.loop, self.queue = loop, queue
        self.slots = threading.Semaphore(MAX_PENDING)

    def _put(self, item: tuple) -> None:
        self.slots.acquire()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _line(self) -> bytes | None:
        line = self.stream.readline(MAX_HEADER)
        if not line:
            return None
        if not line.endswith(b"\n"):  # over-long: skip the rest of it
            while True:
                rest = self.stream.readline(MAX_HEADER)
                if not rest or rest.endswith(b"\n"):
                    break
            return b"?\n"
        return line

    def run(self) -> None:
        try:
            self._read()
        except (OSError, ValueError):  # the stream closed under us
            pass
        self.loop.call_soon_threadsafe(self.queue.put_nowait, ("eof",))

    def _read(self) -> None:
        length, junk = None, False
        while True:
            line = self._line()
            if line is None:
                return
            stripped = line.strip()
            if stripped:
                match = _LENGTH.search(stripped)
                if match:
                    length = int(match.group(1))
                    junk = junk or match.start() > 0
                elif b":" not in stripped:
                    junk = True
                continue
            if junk:
                self._put(("error", PARSE_ERROR, "a message needs a Content-Length header"))
                junk = False
            if length is None:
                continue
            if length > MAX_MESSAGE:
                left = length
                while left > 0:  # skip it without keeping it
                    chunk = self.stream.read(min(left, 1 << 20))
                    if not chunk:
                        return
                    left -= len(chunk)
                self._put(("error", INVALID_REQUEST, f"a message of {length:,} bytes is over the "
                                                     f"{MAX_MESSAGE:,}-byte limit"))
            else:
                body = self.stream.read(length)
                if len(body) < length:
                    return
                self._put(("body", body))
            length = None


def _send(writer, message: dict) -> None:
    body = json.dumps(message).encode("utf-8")
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _error(writer, msg_id, code: int, text: str) -> None:
    _send(writer, {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": text}})


def _handle(protocol, writer, body: bytes) -> None:
    from pygls.exceptions import JsonRpcException

    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as err:  # not JSON, not UTF-8, or nested past the parser
        _error(writer, None, PARSE_ERROR, f"Parse error: {type(err).__name__}: {str(err)[:200]}")
        return
    msg_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(msg_id, (int, str)) or isinstance(msg_id, bool):
        msg_id = None
    if not isinstance(raw, dict) or raw.get("jsonrpc") != "2.0" or (
            "method" in raw and not isinstance(raw["method"], str)) or (
            "method" not in raw and "result" not in raw and "error" not in raw):
        _error(writer, msg_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 request, notification or response")
        return
    request = "method" in raw and "id" in raw
    try:
        message = protocol.structure_message(raw)
    except JsonRpcException as err:
        if request:
            _error(writer, msg_id, err.code, err.message or "Invalid params")
        return
    try:
        protocol.handle_message(message)
    except Exception as err:  # a bug: answer it, and stay up
        log.exception("failed to handle %s", raw.get("method"))
        if request:
            _error(writer, msg_id, INTERNAL_ERROR, f"Internal error: {type(err).__name__}")


async def _loop(server, stdin, writer) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    reader = _Reader(stdin, loop, queue)
    reader.start()
    while True:
        item = await queue.get()
        if item[0] == "eof":
            return
        reader.slots.release()
        if item[0] == "error":
            _error(writer, None, item[1], item[2])
        else:
            _handle(server.protocol, writer, item[1])
        await asyncio.sleep(0)  # let the handlers' tasks run between messages


def serve(server, stdin, stdout) -> None:
    """Run `server` (a pygls LanguageServer) over binary streams until the input ends or the
    client sends `exit` (which exits the process, as pygls does)."""
    from pygls.io_ import StdoutWriter

    writer = StdoutWriter(stdout)
    server.protocol.set_writer(writer)
    try:
        asyncio.run(_loop(server, stdin, writer))
    except BrokenPipeError:
        log.error("the client is gone")
