"""Helper processes that talk to ecFlow for the notebook, one JSON object per line.

The ecflow binding holds the GIL while it waits for a server, so a kernel that polled
a hung server itself would freeze every cell for the connection timeout at each poll.
The watcher and the explorer therefore poll in a child process: the parent side
(``JsonLinesChild``) starts it, reads its lines in a thread (reading a pipe releases
the GIL) and can send it commands on stdin; the child side (``emit``, ``wait_input``)
writes lines and waits for commands while checking that its parent is still alive,
so a killed kernel leaves nothing running.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_running: set[JsonLinesChild] = set()


class JsonLinesChild:
    """A child process whose stdout lines are JSON messages for ``on_message``.

    ``on_message(dict)`` runs in the reader thread; ``on_exit()`` too, when the child
    ends without ``stop()``. Errors in either are logged, never raised into the reader.
    """

    def __init__(self, command: list[str], on_message: Callable[[dict], Any],
                 on_exit: Callable[[], Any] | None = None, name: str = "ecfnb-child",
                 commands: bool = False, env: dict[str, str] | None = None) -> None:
        self.command = command
        self.env = env  # the child's environment (None: this process's)
        self.on_message = on_message
        self.on_exit = on_exit
        self.name = name
        self.commands = commands  # keep stdin open for send()
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._send_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit code once the child has ended (None while it runs)."""
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> JsonLinesChild:
        if self.running:
            return self
        # Own session: the kernel's interrupt (SIGINT to its group) must not kill it.
        self._proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.PIPE if self.commands else subprocess.DEVNULL,
            start_new_session=True, env=self.env)
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True,
                                        name=self.name)
        self._reader.start()
        _running.add(self)
        return self

    def send(self, message: dict) -> bool:
        """Write one command line; False when the child is not there to read it."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return False
        with self._send_lock:
            try:
                proc.stdin.write((json.dumps(message) + "\n").encode())
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return False
        return True

    def stop(self) -> None:
        """End the child; the process and the reader thread are gone on return."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        # The reader reaches the end of the child's output by itself once the child is
        # gone: join it before closing that stream under its feet.
        if self._reader is not None and self._reader is not threading.current_thread():
            # Not join(5): a timed lock wait never returns under libfaketime (measured
            # with Debian's faketime), and ecfnb must work at any date.
            deadline = time.monotonic() + 5
            while self._reader.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
        self._reader = None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        _running.discard(self)

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    safely(self.on_message, message)
        except (OSError, ValueError):  # the stream was closed (stop() timed out joining)
            return
        if self._proc is proc:  # ended without stop()
            safely(self.on_exit)


class Backoff:
    """How long a helper process waits before it tries a server that did not answer
    again: ``first`` seconds, doubling up to ``most``, and back to the normal pace
    after an answer. Every poll writes a line in the server log and costs a timeout
    on a hung server; a dead one is asked less and less often, never given up on.

    A try refused at once (under ``QUICK`` seconds: nothing listens on the port) costs
    the server nothing and does not lengthen the wait: a server restarted, or replaced
    on its port, is seen at the next ``first`` (measured: after a few refusals during
    a replacement the explorer waited 8 s more, past the test's 15 s under CI load)."""

    QUICK = 0.25

    def __init__(self, first: float, most: float = 60.0) -> None:
        self.first, self.most = first, max(most, first)
        self.delay = 0.0

    def failed(self, took: float | None = None) -> float:
        """The wait before the next try, after one more failure that took ``took``
        seconds (None: unknown, count it as slow)."""
        if took is not None and took < self.QUICK:
            self.delay = self.first
            return self.delay
        self.delay = min(max(self.delay * 2, self.first), self.most)
        return self.delay

    def succeeded(self) -> None:
        self.delay = 0.0


def safely(callback: Callable[..., Any] | None, *args: Any) -> None:
    """Call ``callback``; log its error instead of raising it into a background thread."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception as exc:  # noqa: BLE001 - a background thread must keep going
        name = getattr(callback, "__qualname__", repr(callback))
        log.error("ecfnb: callback %s failed: %s: %s", name, type(exc).__name__, exc)
        log.debug("traceback", exc_info=True)


def stop_all() -> None:
    for child in list(_running):
        child.stop()


# -- the child's side ---------------------------------------------------------------------

def run_main(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int],
             argv: list[str] | None) -> int:
    """A helper process's ``main``: parse, run, and end quietly when interrupted."""
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        return 0


def emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def wait_input(seconds: float, parent_pid: int | None, commands: bool = False
               ) -> list[dict] | None:
    """Wait up to ``seconds``; with ``commands``, return early with the command lines
    that arrived on stdin. None when the parent went away or closed stdin (then the
    child must end)."""
    deadline = time.monotonic() + seconds
    while True:
        if parent_pid and os.getppid() != parent_pid:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            return []
        if not commands:
            time.sleep(min(0.5, left))
            continue
        ready, _, _ = select.select([sys.stdin.buffer], [], [], min(0.5, left))
        if ready:
            return _read_commands()


def _read_commands() -> list[dict] | None:
    """Every complete line available on stdin now (the parent writes whole lines)."""
    fd = sys.stdin.buffer.fileno()
    chunk = os.read(fd, 1 << 20)
    if not chunk:
        return None
    data = chunk
    while not data.endswith(b"\n"):
        more = os.read(fd, 1 << 20)
        if not more:
            break
        data += more
    messages: list[dict] = []
    for line in data.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages


def pause(stop: threading.Event, seconds: float) -> bool:
    """Sleep ``seconds`` in small steps, or less if ``stop`` is set; whether it is set.
    Not ``stop.wait(seconds)``: a lock's timed wait never returns under libfaketime
    (measured with Debian's faketime), and ecfnb must run at any date."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(max(0.0, min(0.05, seconds, deadline - time.monotonic())))
    return stop.is_set()
