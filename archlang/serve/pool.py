"""The playground's workers: child processes (archlang/serve/worker.py) that analyse specs,
each bounded in time. A request that runs past its bound kills its worker (and the worker's
process group: Graphviz's dot with it) and a fresh one takes its place, so no spec can keep
the server busy; a worker that dies is replaced the same way. Requests wait for a free worker
up to `queue_wait` seconds and at most `max_waiting` of them wait at once; beyond that the
pool says it is busy at once (the server answers 503) instead of queueing without end.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["Pool", "Busy", "TimedOut", "WorkerDied"]

STARTUP_TIMEOUT = 60.0  # seconds a fresh worker may take to import archlang
RECYCLE_AFTER = 500  # requests a worker answers before a fresh one replaces it (bounds any slow leak)


class Busy(Exception):
    """Every worker is taken and too many requests wait already."""


class TimedOut(Exception):
    """The request ran past its time bound; its worker was stopped."""


class WorkerDied(Exception):
    """The worker ended without answering (killed from outside, out of memory)."""


def _environment() -> dict:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])  # the folder that holds archlang/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


class Worker:
    """One child process and the thread that reads its answers."""

    def __init__(self) -> None:
        posix = os.name == "posix"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "archlang.serve.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=_environment(), text=True, encoding="utf-8", bufsize=1,
            start_new_session=posix,  # its own process group: Ctrl-C is the server's, and a kill takes dot too
        )
        self.answers: queue.Queue = queue.Queue()
        self.served = 0
        self.ready = False
        threading.Thread(target=self._read, name="archlang-worker-reader", daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.proc.stdout:
                self.answers.put(line)
        except (OSError, ValueError):
            pass
        self.answers.put(None)  # the end: the worker is gone

    def wait_ready(self) -> None:
        """Wait for the worker's first line (it has imported archlang): a request's time bound
        measures its analysis, not the start of Python."""
        if self.ready:
            return
        try:
            line = self.answers.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            raise WorkerDied() from None
        if line is None:
            raise WorkerDied()
        self.ready = True

    def ask(self, request: dict, timeout: float) -> dict:
        self.wait_ready()
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise WorkerDied() from None
        deadline = _now() + timeout
        while True:
            try:
                line = self.answers.get(timeout=max(0.0, deadline - _now()))
            except queue.Empty:
                raise TimedOut() from None
            if line is None:
                raise WorkerDied()
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if answer.get("id") == request["id"]:
                self.served += 1
                return answer

    def kill(self) -> None:
        try:
            if os.name == "posix":
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:  # pragma: no cover
                self.proc.kill()
        except (OSError, ProcessLookupError):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def close(self) -> None:
        """End it gently (its stdin closes: it finishes and exits), then surely."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=1)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self.kill()


def _now() -> float:
    import time

    return time.monotonic()


class Pool:
    def __init__(self, size: int = 2, queue_wait: float = 10.0, max_waiting: int = 16) -> None:
        self.size = size
        self.queue_wait = queue_wait
        self.max_waiting = max_waiting
        self._idle: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._ids = itertools.count(1)
        self._all: set[Worker] = set()
        self._closed = False
        for _ in range(size):
            self._idle.put(self._start())

    def _start(self) -> Worker:
        worker = Worker()
        with self._lock:
            self._all.add(worker)
        return worker

    def _retire(self, worker: Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.kill()

    def run(self, request: dict, timeout: float) -> dict:
        """The worker's answer to `request` within `timeout` seconds. Busy, TimedOut, WorkerDied."""
        with self._lock:
            if self._closed or self._waiting >= self.max_waiting:
                raise Busy()
            self._waiting += 1
        try:
            worker = self._idle.get(timeout=self.queue_wait)
        except queue.Empty:
            raise Busy() from None
        finally:
            with self._lock:
                self._waiting -= 1
        request = {**request, "id": next(self._ids)}
        try:
            answer = worker.ask(request, timeout)
        except (TimedOut, WorkerDied):
            self._retire(worker)
            worker = None if self._closed else self._start()
            raise
        finally:
            if worker is not None and worker.served >= RECYCLE_AFTER and not self._closed:
                self._retire(worker)
                worker = self._start()
            if worker is not None:
                self._idle.put(worker)
        return answer

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.close()
