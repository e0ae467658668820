"""Helper processes that talk to ecFlow for the notebook, one JSON object per line.

The ecflow binding holds the GIL while it waits for a server, so a kernel that polled
a hung server itself would freeze every cell for the connection timeout at each poll.
The watcher and the explorer therefore poll in a child process: the parent side
(``JsonLinesChild``) starts it, reads its lines in a thread (reading a pipe releases
the GIL) and can send it commands on stdin; the child side (``emit``, ``wait_input``)
writes lines and waits for commands while checking that its parent is still alive,
so a killed kernel leaves nothing running.

A child may also be a ``fork`` of the parent (``fork_child``): the explorer's poller
is forked from the kernel once the kernel has synced, so that both share the synced
tree's memory (copy-on-write) instead of holding two copies of a big server (at 100k
tasks, 140 MB + 170 MB measured; at 1M, 1.3 GB each).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_running: set[JsonLinesChild] = set()


class ForkSafeLock:
    """A lock (``reentrant``: an RLock) that is new in a forked child.

    The explorer's poller is a fork of the kernel (``fork_child``), and a kernel has
    other threads: one of them may hold a lock at the fork, and in the child nothing
    would ever release it — the child's first call to take it would wait for ever (a
    poller that says nothing again). Python renews its own locks (logging, imports) in
    a forked child; ecfnb's locks that a child may take are made this way so they are
    renewed too (``os.register_at_fork``)."""

    def __init__(self, reentrant: bool = False) -> None:
        self.reentrant = reentrant
        self._lock = self._new()
        _fork_safe.add(self)

    def _new(self) -> Any:
        return threading.RLock() if self.reentrant else threading.Lock()

    def renew(self) -> None:
        self._lock = self._new()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


_fork_safe: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()


def _renew_locks() -> None:
    for lock in list(_fork_safe):
        lock.renew()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks)


class JsonLinesChild:
    """A child process whose stdout lines are JSON messages for ``on_message``.

    ``on_message(dict)`` runs in the reader thread; ``on_exit()`` too, when the child
    ends without ``stop()``. Errors in either are logged, never raised into the reader.
    """

    def __init__(self, command: list[str], on_message: Callable[[dict], Any],
                 on_exit: Callable[[], Any] | None = None, name: str = "ecfnb-child",
                 commands: bool = False, env: dict[str, str] | None = None,
                 fork: Callable[[], int] | None = None) -> None:
        self.command = command
        #: Run in a forked copy of this process instead of ``command`` (``fork_child``).
        self.fork = fork
        self.env = env  # the child's environment (None: this process's)
        self.on_message = on_message
        self.on_exit = on_exit
        self.name = name
        self.commands = commands  # keep stdin open for send()
        self._proc: subprocess.Popen | Forked | None = None
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
        if self.fork is not None:
            self._proc = fork_child(self.fork)
        else:
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

    def _read(self, proc: subprocess.Popen | Forked) -> None:
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


class Forked:
    """A forked child, seen as ``subprocess.Popen`` sees its child (what
    ``JsonLinesChild`` uses: pid, stdin, stdout, poll, wait, terminate, kill)."""

    def __init__(self, pid: int, stdin: Any, stdout: Any) -> None:
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        # polled, not waitpid() with a timer: timed waits never return under libfaketime
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"forked child {self.pid}", timeout or 0)
            time.sleep(0.01)
        return self.returncode  # type: ignore[return-value]

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass


def fork_child(target: Callable[[], int]) -> Forked:
    """Run ``target()`` in a forked copy of this process, its stdin and stdout pipes to
    this one, stderr to /dev/null, in its own session; it ends with ``os._exit``.

    Why it is safe in a Jupyter kernel, which has threads (Python 3.12+ warns about
    forking one): the child runs only ``target``, in the thread that forked, and
    touches nothing the other threads may have held at the fork — ``sys.stdin``,
    ``stdout`` and ``stderr`` are new files on the pipes (the kernel's are zmq
    streams), every other descriptor is closed (zmq's sockets, the kernel's files),
    SIGINT and SIGTERM are the defaults again, and it never returns into the kernel's
    stack nor runs its exit handlers. No other thread can be inside the ecflow binding
    at the fork (the binding holds the GIL for each whole call, and ``os.fork`` is
    called holding it), so the client's C++ state is whole; the caller holds the
    ``Server`` still (``Server.held_for_fork``) so its Python state is too, and the
    child's locks are new (``ForkSafeLock``). The objects of this process are
    frozen for the fork (``gc.freeze``) so the child's collector does not write to
    every page of them."""
    commands_read, commands_write = os.pipe()
    out_read, out_write = os.pipe()
    gc.freeze()
    try:
        # Python 3.12+ warns (DeprecationWarning, raised in the parent after the fork)
        # that forking a process with threads may deadlock the child: not this child,
        # for the reasons above. Ignored here, or it shows under every cell that opens
        # an explorer and in pytest's warnings summary (measured with 3.12.1 and 3.13.0:
        # shown with -W always, dropped silently with -W error, never raised: the fork
        # has happened). catch_warnings swaps the process's filters: for the fork's few
        # milliseconds, another thread's DeprecationWarning is not shown either.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        gc.unfreeze()
        for fd in (commands_read, commands_write, out_read, out_write):
            os.close(fd)
        raise
    if pid == 0:  # the child
        code = 1
        try:
            os.setsid()
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(commands_read, 0)
            os.dup2(out_write, 1)
            os.dup2(null, 2)
            os.closerange(3, _max_fd())
            sys.stdin = open(0, closefd=False)  # noqa: SIM115 - for the child's life
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            code = target()
        except BaseException:  # noqa: BLE001 - nothing may unwind into the kernel's stack
            code = 1
        finally:
            os._exit(code if isinstance(code, int) else 1)
    gc.unfreeze()
    os.close(commands_read)
    os.close(out_write)
    return Forked(pid, os.fdopen(commands_write, "wb"), os.fdopen(out_read, "rb"))


def own_memory(pid: int) -> tuple[int, int] | None:
    """(the bytes of memory only process ``pid`` holds, its resident bytes), from Linux's
    ``/proc/PID/smaps_rollup``: how much of a forked child's memory is no longer shared
    with its parent. None where that cannot be read (another system, the process gone)."""
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                if name in ("Rss", "Private_Clean", "Private_Dirty"):
                    fields[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    if "Rss" not in fields:
        return None
    return fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0), fields["Rss"]


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536


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
