"""One connection to one ecFlow server: the only module that talks to ``ecflow.Client``.

Why it looks the way it does (measured on ecFlow 5.9, see DESIGN.md):
- the binding holds the GIL while it waits, and retries 10 s apart by default, so
  the Client is made with ``ECF_CONNECT_TIMEOUT`` set and one connection attempt:
  no call blocks longer than ``timeout`` seconds;
- a full sync replaces the Defs and kills the process if an old node is touched,
  so every read happens under one lock and leaves as plain Python (``nodes.py``);
- file reads go through ``ecflow_client --file`` in a subprocess: raw bytes (the
  binding raises on non-UTF-8 and truncates at NUL) and no GIL held while waiting;
- the C++ client writes connection errors straight to fd 2, so calls run with
  fd 2 pointed at a scratch file whose text goes into the exception instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from . import nodes
from .errors import (
    AccessDenied,
    EcflowMissing,
    FileUnavailable,
    NodeNotFound,
    ServerError,
    ServerUnreachable,
)

try:
    import ecflow
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise EcflowMissing(str(exc)) from None

T = TypeVar("T")
DEFAULT_HOST = "localhost"
DEFAULT_PORT = 3141
#: File kinds the server serves; ``output`` is accepted for ``jobout``.
FILE_KINDS = ("script", "job", "jobout", "manual", "kill", "stat")
TASK_ONLY_KINDS = ("job", "jobout", "kill", "stat")
#: How often a sync with no news also checks the server was not restarted behind our back.
IDENTITY_CHECK_SECONDS = 60.0
_ENV_LOCK = threading.Lock()


@dataclass(frozen=True)
class SyncResult:
    """What a sync brought: ``full`` means every node may have changed (first sync,
    structural change, server restart); otherwise ``changed`` lists the paths."""

    full: bool
    changed: frozenset[str]
    generation: int

    @property
    def news(self) -> bool:
        return self.full or bool(self.changed)


@dataclass(frozen=True)
class ServerInfo:
    address: str
    version: str
    state: str
    pid: str
    home: str
    suites: tuple[str, ...]
    last_sync: datetime | None
    variables: dict[str, str] = field(default_factory=dict)


def parse_address(address: str | None = None, port: int | str | None = None
                  ) -> tuple[str, int]:
    """``host:port``, ``host`` + port, or nothing (ECF_HOST/ECF_PORT, then localhost:3141)."""
    host = address
    if address and port is None and ":" in address:
        host, _, port = address.rpartition(":")
    host = host or os.environ.get("ECF_HOST") or DEFAULT_HOST
    port = port if port not in (None, "") else os.environ.get("ECF_PORT", DEFAULT_PORT)
    try:
        number = int(port)
    except (TypeError, ValueError):
        raise ValueError(f"bad ecFlow port {port!r}: give a number, e.g. 'localhost:3141'"
                         ) from None
    if not 0 < number < 65536:
        raise ValueError(f"bad ecFlow port {number}: must be between 1 and 65535")
    return host, number


def connect(host: str | None = None, port: int | str | None = None, *,
            timeout: float = 2.0) -> Server:
    """A connected, synced Server. ``connect()`` uses the notebook's current server
    (``%ecf_connect``), else ECF_HOST/ECF_PORT, else localhost:3141."""
    if host is None and port is None:
        from . import magics

        if magics.current_server is not None:
            magics.current_server.sync()
            return magics.current_server
    server = Server(host, port, timeout=timeout)
    server.sync()
    return server


@contextlib.contextmanager
def _captured_fd(fd: int) -> Iterator[list[str]]:
    """Point ``fd`` at a scratch file for the duration; yields a list that receives its text.

    Safe with threads because the ecflow binding holds the GIL for the whole call."""
    sink: list[str] = []
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), fd)
        try:
            yield sink
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            scratch.seek(0)
            sink.append(scratch.read().decode(errors="replace"))


class Server:
    """A thread-safe connection with an incrementally synced view of the server's tree."""

    def __init__(self, host: str | None = None, port: int | str | None = None, *,
                 timeout: float = 2.0) -> None:
        self.host, self.port = parse_address(host, port)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._client: Any = None
        self._synced = False
        self._needs_full = True
        self._pid = ""
        self._started = ""
        self._identity_checked = 0.0
        self.generation = 0
        self.requests = 0  # requests sent to the server, for measuring polls
        self.last_sync: datetime | None = None
        self.connected = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<ecfnb.Server {self.address} ({state})>"

    def _repr_html_(self) -> str:
        from .reprs import server_html

        return server_html(self)

    # -- calling ecflow --------------------------------------------------------------
    def _new_client(self) -> Any:
        with _ENV_LOCK:
            saved = os.environ.get("ECF_CONNECT_TIMEOUT")
            os.environ["ECF_CONNECT_TIMEOUT"] = str(max(1, round(self.timeout)))
            try:
                client = ecflow.Client(self.host, str(self.port))
            finally:
                if saved is None:
                    del os.environ["ECF_CONNECT_TIMEOUT"]
                else:
                    os.environ["ECF_CONNECT_TIMEOUT"] = saved
        client.set_connection_attempts(1)
        client.set_retry_connection_period(1)
        return client

    def _call(self, what: str, fn: Callable[[Any], T], request: bool = True) -> T:
        """Run ``fn(client)`` under the lock, with C++ stderr captured and errors mapped.
        ``request=False`` for calls that only read the client's local copy."""
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            self.requests += request
            with _captured_fd(2) as noise:
                try:
                    result = fn(self._client)
                except RuntimeError as exc:
                    error: Exception | None = exc
                else:
                    error = None
            if error is None:
                self.connected = True
                return result
            raise self.map_error(what, str(error) + "\n" + "".join(noise)) from None

    def map_error(self, what: str, text: str) -> Exception:
        """The ecfnb exception for a failed request's error text: ServerUnreachable,
        NodeNotFound, AccessDenied (the server's white list) or ServerError. Public for
        callers that ran ``ecflow_client`` themselves (``actions``)."""
        first = _first_line(text)
        if re.search(r"Failed to connect|Connection error|timed out|Connection refused|"
                     r"Is the server running", text):
            self.connected = False
            self._needs_full = True
            return ServerUnreachable(self.address, _connection_reason(text))
        found = re.search(r"Cannot find node at path '([^']*)'|[Cc]ould not find [^']*'([^']*)'",
                          text)
        if found:
            return NodeNotFound(found.group(1) or found.group(2), self.address)
        if re.search(r"write\*? access|authenticat|[Aa]uthoris", text):
            return AccessDenied(what, first)
        return ServerError(f"{what} failed on {self.address}: {first}")

    # -- sync --------------------------------------------------------------------------
    def ping(self) -> float:
        """Round-trip seconds, or ServerUnreachable."""
        start = time.monotonic()
        self._call("ping", lambda c: c.ping())
        return time.monotonic() - start

    def sync(self) -> SyncResult:
        """Bring the local view up to date: one ``news_local`` when nothing changed."""
        with self._lock:
            if self._needs_full or not self._synced:
                return self._full_sync()
            news = self._call("news", lambda c: c.news_local())
            if not news:
                if time.monotonic() - self._identity_checked > IDENTITY_CHECK_SECONDS:
                    if self._server_restarted():
                        return self._full_sync()
                self.last_sync = datetime.now(timezone.utc)
                return SyncResult(False, frozenset(), self.generation)
            self._call("sync", lambda c: c.sync_local())
            changed = frozenset(self._call("sync", lambda c: list(c.changed_node_paths),
                                           request=False))
            pid = self._server_pid()
            if not changed or pid != self._pid:
                return self._after_full(pid)
            self.generation += 1
            self.last_sync = datetime.now(timezone.utc)
            return SyncResult(False, changed, self.generation)

    def _full_sync(self) -> SyncResult:
        self._call("full sync", lambda c: c.get_server_defs())
        return self._after_full(self._server_pid())

    def _after_full(self, pid: str) -> SyncResult:
        self._pid = pid
        self._synced = True
        self._needs_full = False
        self._started = self._start_time()
        self._identity_checked = time.monotonic()
        self.generation += 1
        self.last_sync = datetime.now(timezone.utc)
        return SyncResult(True, frozenset(), self.generation)

    def _server_pid(self) -> str:
        defs = self._client.get_defs()
        if defs is None:
            return ""
        return next((v.value() for v in defs.server_variables if v.name() == "ECF_PID"), "")

    def _start_time(self) -> str:
        """The server's 'Up since' line: changes when the server restarts, unlike the
        client's change numbers, which a checkpoint can bring back."""
        with self._lock, _captured_fd(1) as out:
            self._call("stats", lambda c: c.stats())
        found = re.search(r"Up since\s+(.+)", "".join(out))
        return found.group(1).strip() if found else ""

    def _server_restarted(self) -> bool:
        self._identity_checked = time.monotonic()
        return self._start_time() != self._started

    # -- reading the view ----------------------------------------------------------------
    @contextlib.contextmanager
    def _defs(self) -> Iterator[Any]:
        """The synced Defs, locked for the duration. Nothing from it may escape."""
        with self._lock:
            if not self._synced:
                self.sync()
            defs = self._client.get_defs()
            yield defs

    def _find(self, defs: Any, path: str) -> Any:
        path = normalise_path(path)
        node = defs.find_abs_node(path) if defs is not None else None
        if node is None:
            raise NodeNotFound(path, self.address)
        return node

    def node(self, path: str, detail: bool = True) -> nodes.NodeInfo:
        """The node at ``path`` ('/' is the server) as of the last sync."""
        path = normalise_path(path)
        with self._defs() as defs:
            if path == "/":
                return self._root(defs)
            found = self._find(defs, path)
            if not detail:
                return nodes.summarise(found)
            return nodes.describe(found, self._server_variables(defs))

    def summary(self, path: str, marks: bool = False) -> nodes.NodeInfo:
        """The cheapest view of one node (no attributes, variables or child names):
        what path resolution needs; ``marks`` adds labels and meters."""
        path = normalise_path(path)
        if path == "/":
            return self.node("/", detail=False)
        with self._defs() as defs:
            return nodes.summarise(self._find(defs, path), with_children=False,
                                   with_marks=marks)

    def children(self, path: str = "/", marks: bool = False, start: int = 0,
                 stop: int | None = None) -> list[nodes.NodeInfo]:
        """Summaries of the children ``start:stop`` of ``path``, in order: no attributes,
        variables or child names (see NodeInfo); ``marks`` adds labels and meters."""
        with self._defs() as defs:
            return [nodes.summarise(c, with_children=False, with_marks=marks)
                    for c in self._kids(defs, path)[start:stop]]

    def listing(self, path: str = "/",
                times: bool = True) -> list[tuple[str, str, str, str, bool]]:
        """``nodes.listing_row`` of each child of ``path``, in order: the least a
        directory listing needs (``FileSystemMap.scandir``), ~4x cheaper than
        ``children``; ``times=False``: no state-change times for plain tasks."""
        row = nodes.listing_row
        with self._defs() as defs:
            return [row(child, times) for child in self._kids(defs, path)]

    def child_count(self, path: str = "/") -> int:
        with self._defs() as defs:
            return len(self._kids(defs, path))

    def _kids(self, defs: Any, path: str) -> list[Any]:
        """The ecflow children of ``path`` (suites of '/'); only under the lock."""
        path = normalise_path(path)
        if path == "/":
            return list(defs.suites) if defs is not None else []
        found = self._find(defs, path)
        return nodes.child_nodes(found, nodes.node_kind(found))

    def find(self, states: frozenset[str] | set[str] = frozenset(), text: str = "",
             limit: int = 500) -> tuple[list[str], int]:
        """Paths of nodes in one of ``states`` whose name contains ``text`` (see
        ``nodes.matching``): the first ``limit`` in tree order, and the total."""
        with self._defs() as defs:
            return nodes.matching(defs, frozenset(states), text, limit)

    def variable(self, path: str, name: str) -> str | None:
        """The value ``path`` sees for variable ``name`` (own, generated, inherited), cheaply:
        no full variable listing."""
        path = normalise_path(path)
        with self._defs() as defs:
            if path == "/":
                return next((v.value for v in self._server_variables(defs) if v.name == name),
                            None)
            found = self._find(defs, path)
            value = found.find_gen_variable(name).value()
            if not value:
                value = found.find_parent_variable_sub_value(name)
            return value or None

    def flags(self, path: str) -> frozenset[str]:
        """The node's ecFlow flags that are set ('late', 'zombie', 'killed', ...)."""
        path = normalise_path(path)
        with self._defs() as defs:
            flag = self._find(defs, path).get_flag()
            return frozenset(name for name, value in ecflow.FlagType.names.items()
                             if name != "not_set" and flag.is_set(value))

    def why(self, path: str) -> str:
        """ecFlow's explanation of why a node is not running (ecflow_ui's Why tab)."""
        path = normalise_path(path)
        with self._defs() as defs:
            if path != "/":
                self._find(defs, path)
            return ecflow.WhyCmd(defs, "" if path == "/" else path).why()

    def _root(self, defs: Any) -> nodes.NodeInfo:
        state = defs.get_server_state().name.lower() if defs is not None else "unknown"
        if state == "running":
            state = defs.get_state().name
        suites = tuple(s.name() for s in defs.suites) if defs is not None else ()
        return nodes.NodeInfo(path="/", name=self.address, kind="server", state=state,
                              since=self.last_sync, child_names=suites,
                              variables=tuple(self._server_variables(defs)), detailed=True)

    def _server_variables(self, defs: Any) -> list[nodes.Variable]:
        if defs is None:
            return []
        own = [nodes.Variable(v.name(), v.value(), "own", "/") for v in defs.user_variables]
        names = {v.name for v in own}
        return own + [nodes.Variable(v.name(), v.value(), "generated", "/")
                      for v in defs.server_variables if v.name() not in names]

    def info(self) -> ServerInfo:
        """Version, state, pid, ECF_HOME and suites of the server at the last sync."""
        version = self._call("version", lambda c: c.server_version())
        root = self.node("/")
        variables = {v.name: v.value for v in root.variables}
        return ServerInfo(self.address, version, root.state, variables.get("ECF_PID", ""),
                          variables.get("ECF_HOME", ""), root.child_names, self.last_sync,
                          variables)

    # -- files through the command-line client -----------------------------------------
    def read_file(self, path: str, kind: str, max_lines: int | None = None) -> bytes:
        """The server's copy of a node's file as raw bytes (the tail of ``max_lines``
        lines, default the server's 10000, ending with its truncation line)."""
        kind = "jobout" if kind == "output" else kind
        if kind not in FILE_KINDS:
            raise ValueError(f"unknown file kind {kind!r}: use one of {', '.join(FILE_KINDS)}")
        info = self.node(path, detail=False)
        if kind in TASK_ONLY_KINDS and info.kind not in ("task", "alias"):
            raise FileUnavailable(info.path, kind, f"a {info.kind} has no {kind} file")
        args = [f"--file={info.path}", kind]
        if max_lines is not None:
            args.append(str(int(max_lines)))
        proc = self.run_client(*args)
        if proc.returncode != 0:
            reason = _server_reply(proc.stderr)
            if "Failed to connect" in reason or "timed out" in reason:
                raise ServerUnreachable(self.address, _connection_reason(reason))
            raise FileUnavailable(info.path, kind, reason)
        return proc.stdout

    def client_text(self, *args: str) -> bytes:
        """Output of an ``ecflow_client`` query (``--stats``, ``--log=get N``, ...) as bytes."""
        proc = self.run_client(*args)
        if proc.returncode != 0:
            reason = _server_reply(proc.stderr)
            if "Failed to connect" in reason or "timed out" in reason:
                raise ServerUnreachable(self.address, _connection_reason(reason))
            raise ServerError(f"ecflow_client {' '.join(args)} failed: {reason}")
        return proc.stdout

    def run_client(self, *args: str) -> subprocess.CompletedProcess:
        exe = shutil.which("ecflow_client")
        if exe is None:
            raise EcflowMissing("the ecflow_client command is not on PATH")
        env = dict(os.environ, ECF_HOST=self.host, ECF_PORT=str(self.port),
                   ECF_CONNECT_TIMEOUT=str(max(1, round(self.timeout))))
        env.pop("ECF_NAME", None)  # inside a job, these would make it a child command
        self.requests += 1
        try:
            # The command-line client retries a hung server for longer than its own
            # ECF_CONNECT_TIMEOUT; one second of grace, then it is killed.
            return subprocess.run([exe, "--host", self.host, "--port", str(self.port), *args],
                                  env=env, capture_output=True, timeout=self.timeout + 1)
        except subprocess.TimeoutExpired:
            raise ServerUnreachable(self.address, "no answer to ecflow_client") from None


def normalise_path(path: str) -> str:
    """'/s/f/' and 's/f' both mean '/s/f'."""
    if not isinstance(path, str):
        raise TypeError(f"node path must be a string like '/suite/family/task', not {path!r}")
    return "/" + "/".join(part for part in path.split("/") if part)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^\[[\d:. ]+\]\s*", "", line).strip()
        if line:
            return line[:300]
    return text.strip()[:300]


def _server_reply(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    found = re.search(r"Server reply:\s*(.+)", text)
    return (found.group(1) if found else _first_line(text)).strip()


def _connection_reason(text: str) -> str:
    if "timed out" in text:
        return "no answer within the timeout; the server may be hung or overloaded"
    return "connection refused or failed"
