"""One connection to one ecFlow server: the only module that talks to ``ecflow.Client``.

Why it looks the way it does (measured on ecFlow 5.9; README, "Design decisions"):
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
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from .._base import serverlog as _serverlog
from .._base.child import ForkSafeLock
from .._base.serverlog import LogClock
from .._base.states import TASK_KINDS
from ..errors import (
    AccessDenied,
    AuthenticationFailed,
    EcflowMissing,
    EcfnbError,
    FileUnavailable,
    NodeNotFound,
    ServerUnreachable,
)
from . import changes, nodes, walks
from . import preview as _preview
from .connection import (
    Connection,
    captured_fd,
    connection_reason,
    parse_address,  # noqa: F401 - tests and old callers find it here too
    server_reply,
)
from .nodes import normalise_path

try:
    import ecflow
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise EcflowMissing(str(exc)) from None

T = TypeVar("T")
#: File kinds the server serves; ``output`` is accepted for ``jobout``.
FILE_KINDS = ("script", "job", "jobout", "manual", "kill", "stat")
TASK_ONLY_KINDS = ("job", "jobout", "kill", "stat")
#: How often a sync with no news also checks the server was not restarted behind our back.
IDENTITY_CHECK_SECONDS = 60.0
#: Log lines read to work out the server's time zone (state changes in them are evidence).
CLOCK_EVIDENCE_LINES = 3000


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
    #: 'running', 'halted' or 'shutdown' (``state`` is the nodes' combined state).
    server_state: str = "unknown"


@dataclass(frozen=True)
class Zombie:
    """One of the server's zombies (``ecflow_client --zombie_get``): a job talking to the
    server with the wrong password or try number. ``key`` is what stays the same while
    the zombie lives (its age, calls and last child command change with every call)."""

    path: str
    type: str
    password: str
    pid: str
    try_no: int
    age: int
    calls: int
    child: str
    host: str
    action: str
    explanation: str

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return (self.path, self.type, self.password, self.pid, self.try_no)


def library_version() -> str:
    """The ecFlow client library's version ('5.9.2'), from the binding."""
    text = ecflow.Client().version()
    found = re.search(r"Ecflow version\((\d+(?:\.\d+)*)", text) or re.search(r"(\d+\.\d+\.\d+)",
                                                                       text)
    return found.group(1) if found else text.strip()


@dataclass(frozen=True)
class Versions:
    """ecfnb's, the ecFlow client library's and one server's versions (``server`` None:
    not reachable, ``why_not`` says why)."""

    ecfnb: str
    library: str
    python: str
    address: str
    server: str | None
    why_not: str = ""

    @property
    def warning(self) -> str:
        """One line when client and server cannot work together: ecFlow documents that
        different major versions (4 and 5) do not talk to each other; '' otherwise."""
        if not self.server:
            return ""
        if self.library.split(".")[0] != self.server.split(".")[0]:
            return (f"warning: the ecFlow client library is {self.library} and the server "
                    f"{self.address} runs {self.server}: different major versions do not "
                    "talk to each other (ecFlow 4 and 5); use the client of the server's "
                    "major version")
        return ""

    def text(self) -> str:
        server = self.server or f"not reachable ({self.why_not})"
        lines = [f"ecfnb {self.ecfnb}", f"ecFlow client library {self.library} "
                 f"(Python {self.python})", f"ecFlow server {self.address}: {server}"]
        return "\n".join(lines + ([self.warning] if self.warning else []))


def versions(server: Server) -> Versions:
    """The versions, asking the server only if it answers a quick probe (no waiting on
    a hung one)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("ecfnb")
    except PackageNotFoundError:
        mine = "unknown (not installed)"
    unreachable = server.probe(within=2.0)
    answer, why = None, ""
    if unreachable is None:
        try:
            answer = server.server_version()
        except EcfnbError as exc:
            why = str(exc)
    else:
        why = getattr(unreachable, "detail", "") or str(unreachable)
    return Versions(mine, library_version(), platform.python_version(), server.address,
                    answer, why)


def connect(host: str | None = None, port: int | str | None = None, *,
            timeout: float = 2.0, **options: Any) -> Server:
    """A connected, synced Server. ``connect()`` uses the notebook's current server
    (``%ecf_connect``, ``Server.make_current``), else ECF_HOST/ECF_PORT, else
    localhost:3141."""
    if host is None and port is None and not options:
        current = Server.current()
        if current is not None:
            current.sync()
            return current
    server = Server(host, port, timeout=timeout, **options)
    server.sync()
    return server


def resolve(server_or_address: Server | str | None = None, *, sync: bool = True) -> Server:
    """The Server that every surface means by "a Server, an address or nothing": a
    Server as it is; "host:port"; None for the current server (``%ecf_connect``), else
    ECF_HOST/ECF_PORT, else localhost:3141. With ``sync`` it is brought up to date (an
    unreachable server raises ServerUnreachable); without, nothing is sent."""
    if isinstance(server_or_address, Server):
        server = server_or_address
    elif server_or_address is None:
        server = Server.current() or Server(None)
    elif isinstance(server_or_address, str):
        server = Server(server_or_address)
    else:
        raise TypeError(f"expected a Server or an address like 'localhost:3141', not "
                        f"{server_or_address!r}")
    if sync:
        server.sync()
    return server


class Server:
    """A thread-safe connection with an incrementally synced view of the server's tree.

    ``Server.current()`` is the process's default server (fsspec's ``current()``
    pattern): frontends such as ``%ecf_connect`` set it with ``make_current()``, and
    everything that takes "a Server or an address" falls back on it (``resolve``)."""

    _current: Server | None = None

    def __init__(self, host: str | None = None, port: int | str | None = None, *,
                 timeout: float = 2.0, log_zone: Any = None, ssl: bool | None = None,
                 user: str | None = None,
                 password_file: str | os.PathLike | None = None) -> None:
        #: Address and settings (SSL, user, password file): the environment's unless
        #: given; every helper process and ecflow_client run with the same.
        self.connection = Connection.of(host, port, timeout=timeout, ssl=ssl, user=user,
                                        password_file=password_file)
        #: How the server's log stamps relate to UTC when the caller knows (a zone name,
        #: hours, a timedelta; default ECFNB_SERVER_TZ); None: ``log_clock()`` detects it.
        self.log_zone = LogClock.of(log_zone or os.environ.get("ECFNB_SERVER_TZ") or None)
        self._detected_clock: tuple[str, LogClock] | None = None
        self._expressions: tuple[int, list[walks.Expression]] | None = None
        self._lock = ForkSafeLock(reentrant=True)  # renewed in a forked poller
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
    def host(self) -> str:
        return self.connection.host

    @property
    def port(self) -> int:
        return self.connection.port

    @property
    def timeout(self) -> float:
        return self.connection.timeout

    @property
    def address(self) -> str:
        return self.connection.address

    @classmethod
    def current(cls) -> Server | None:
        """The default server of this process (set by ``make_current``), or None."""
        return Server._current

    def make_current(self) -> Server:
        """Make this the default server (what ``connect()`` and ``resolve(None)`` use)."""
        Server._current = self
        return self

    @classmethod
    def clear_current(cls) -> None:
        Server._current = None

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<ecfnb.Server {self.address} ({state})>"

    def _repr_html_(self) -> str:
        from .._base.html import server_html

        return server_html(self)

    # -- calling ecflow --------------------------------------------------------------
    # -- calling ecflow --------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[Any], T], request: bool = True) -> T:
        """Run ``fn(client)`` under the lock, with C++ stderr captured and errors mapped.
        ``request=False`` for calls that only read the client's local copy. The first
        call makes the Client with the connection's settings in the environment (the
        binding reads the password file at its first request)."""
        with self._lock:
            first = self._client is None
            settings = self.connection.settings_in_environment() if first else \
                contextlib.nullcontext()
            self.requests += request
            started = time.monotonic()
            with settings, captured_fd(2) as noise:
                try:
                    if first:
                        self._client = self.connection.new_client()
                    result = fn(self._client)
                except RuntimeError as exc:
                    error: Exception | None = exc
                    if first:
                        self._client = None  # settings again at the next first request
                else:
                    error = None
            if error is None:
                self.connected = True
                return result
            text = str(error) + "\n" + "".join(noise)
            if time.monotonic() - started >= 0.8 * max(1, round(self.timeout)):
                text += "\n(ecfnb: the call waited out its timeout: timed out)"
            raise self.map_error(what, text) from None

    def map_error(self, what: str, text: str) -> Exception:
        """The ecfnb exception for a failed request's error text (``Connection.error``);
        a connection failure also marks the view for a full sync. Public for callers
        that ran ``ecflow_client`` themselves (``actions``)."""
        error = self.connection.error(what, text)
        if isinstance(error, ServerUnreachable):
            self.connected = False
            self._needs_full = True
        return error

    @property
    def user(self) -> str:
        """The user name the server sees for this client's requests."""
        return self.connection.user_name

    @property
    def password_file(self) -> str | None:
        """The custom password file the client reads, if any."""
        return self.connection.password_file

    @property
    def ssl(self) -> bool:
        return self.connection.ssl

    def reset(self) -> None:
        """Forget the view and the connection: the next call starts with a new client
        and a full sync (after an error nothing else explains)."""
        with self._lock:
            self._client = None
            self._synced = False
            self._needs_full = True

    # -- sync --------------------------------------------------------------------------
    def probe(self, within: float = 0.5) -> ServerUnreachable | None:
        """None if the server answers a ping within ``within`` seconds, else why not (a
        ServerUnreachable, not raised). Asked from a subprocess: waiting for it holds no
        GIL (the binding's calls do), so a notebook can decide not to ask a hung server
        anything itself."""
        import socket

        started = time.monotonic()
        try:  # a closed port or a bad name is known at once (the CLI would retry)
            socket.create_connection((self.host, self.port), timeout=within).close()
        except socket.gaierror:
            return ServerUnreachable(self.address, connection_reason(
                "Host not found", self.host, self.port))
        except ConnectionRefusedError:
            return ServerUnreachable(self.address, connection_reason(
                "Connection refused", self.host, self.port))
        except OSError:
            return ServerUnreachable(self.address, connection_reason(
                "no answer", self.host, self.port))
        try:
            command, env = self.client_command("--ping")
        except EcflowMissing as exc:
            return ServerUnreachable(self.address, str(exc))
        env["ECF_CONNECT_TIMEOUT"] = "1"
        self.requests += 1
        left = max(0.05, within - (time.monotonic() - started))
        try:
            proc = subprocess.run(command, env=env, capture_output=True, timeout=left)
        except subprocess.TimeoutExpired:
            return ServerUnreachable(self.address, connection_reason(
                "no answer", self.host, self.port))
        if proc.returncode == 0:
            return None
        return ServerUnreachable(self.address, connection_reason(
            proc.stderr.decode(errors="replace"), self.host, self.port))

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
            try:
                self._call("sync", lambda c: c.sync_local())
            except ServerUnreachable:
                raise
            except EcfnbError:
                # The changes did not apply to our copy: another server answers on this
                # port (measured: "could not find path /gen00", and every later news
                # said nothing while the old tree was served). Start again from scratch.
                self._needs_full = True
                return self._full_sync()
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
        found = re.search(r"Up since\s+(.+)", self.stats_text())
        return found.group(1).strip() if found else ""

    def stats_text(self) -> str:
        """The server's statistics (``ecflow_client --stats``). ecFlow 5.10+ returns them
        from ``stats(to_stdout=False)``; 5.9's ``stats()`` only prints them, to the C++
        stdout, which is read back from a scratch file."""
        def read(client: Any) -> str | None:
            try:
                return client.stats(False)  # 5.10 and later
            except TypeError:  # Boost.Python's ArgumentError: 5.9 takes no argument
                return None

        with self._lock, captured_fd(1) as out:
            text = self._call("stats", read)
            if text is None:
                self._call("stats", lambda c: c.stats())
        return text if text is not None else "".join(out)

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

    def menu_info(self, path: str) -> nodes.NodeInfo:
        """The node's summary with what its menu's conditions need (``facts``: has a
        trigger, a time, a date; its defstatus)."""
        path = normalise_path(path)
        with self._defs() as defs:
            if path == "/":
                return self._root(defs)
            node = self._find(defs, path)
            return replace(nodes.summarise(node, with_children=False),
                           facts=nodes.menu_facts(node))

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

    def expressions(self, path: str | None = None) -> list[walks.Expression]:
        """The trigger and complete expressions of ``path`` and of its ancestors (what
        holds it back), nearest first, each with whether it holds now; with no path,
        those of every node (kept until the next sync with news: the triggers view asks
        for all of them to find what waits on a node)."""
        with self._defs() as defs:
            if path is None:
                cached = self._expressions
                if cached is not None and cached[0] == self.generation:
                    return cached[1]
                found = walks.expressions(defs)
                self._expressions = (self.generation, found)
                return found
            node = None if normalise_path(path) == "/" else self._find(defs, path)
            return walks.expressions(defs, node) if node is not None else []

    def externs(self) -> list[str]:
        """The paths the synced definition declares ``extern`` (nodes of another server).
        Often none: a sync does not carry them (5.9), so the triggers view also calls
        a reference into a suite this server lacks an extern."""
        with self._defs() as defs:
            return [nodes.text_of(str, e) for e in defs.externs] if defs is not None else []

    def rows(self, path: str = "/") -> list[walks.Row]:
        """A ``Row`` (path, name, kind, state, since, try, flags) of every node under
        ``path``, ~3 µs a node."""
        with self._defs() as defs:
            node = None if normalise_path(path) == "/" else self._find(defs, path)
            return walks.rows(walks.subtree(defs, node))

    def table(self, path: str, spec: walks.TableSpec
              ) -> tuple[list[walks.Row], int, dict[str, tuple[nodes.Attribute, ...]]]:
        """The rows of a table of the nodes under ``path`` (``walks.table``): the page
        ``spec`` asks for, how many nodes pass its filters, and the page's marks."""
        with self._defs() as defs:
            node = None if normalise_path(path) == "/" else self._find(defs, path)
            return walks.table(walks.subtree(defs, node), spec)

    def marks(self, paths: Iterable[str]) -> dict[str, tuple[nodes.Attribute, ...]]:
        """What a tree draws beside each node (``nodes.marks``: labels, meters, events,
        ...), for the given paths (~20 µs a node: a table reads it for its page only)."""
        with self._defs() as defs:
            found: dict[str, tuple[nodes.Attribute, ...]] = {}
            for path in paths:
                node = defs.find_abs_node(path) if defs is not None else None
                if node is not None:
                    found[path] = nodes.marks(node)
            return found

    def search(self, query: walks.SearchQuery, limit: int = 500) -> tuple[list[str], int]:
        """Paths of the nodes that match ``query`` (``walks.SearchQuery``): the first
        ``limit`` in tree order, and how many there are."""
        with self._defs() as defs:
            return walks.search(defs, query, limit)

    def variable(self, path: str, name: str) -> str | None:
        """The value ``path`` sees for variable ``name`` (own, generated, inherited), cheaply:
        no full variable listing."""
        path = normalise_path(path)
        with self._defs() as defs:
            if path == "/":
                return next((v.value for v in self._server_variables(defs) if v.name == name),
                            None)
            return nodes.variable_value(self._find(defs, path), name) or None

    def server_home(self) -> str:
        """The ECF_HOME the server was started with (its generated variable, which no
        client command changes; a suite's own ECF_HOME may say otherwise)."""
        with self._defs() as defs:
            if defs is None:
                return ""
            return next((nodes.text_of(v.value) for v in defs.server_variables
                         if v.name() == "ECF_HOME"), "")

    def flags(self, path: str) -> frozenset[str]:
        """The node's ecFlow flags that are set ('late', 'zombie', 'killed', ...)."""
        path = normalise_path(path)
        with self._defs() as defs:
            return nodes.node_flags(self._find(defs, path))

    def why(self, path: str) -> str:
        """ecFlow's explanation of why a node is not running (ecflow_ui's Why tab)."""
        path = normalise_path(path)
        with self._defs() as defs:
            if path != "/":
                self._find(defs, path)
            return nodes.text_of(ecflow.WhyCmd(defs, "" if path == "/" else path).why)

    def plan(self, suites: Iterable[str], seconds: float = 1.0,
             paths: Iterable[str] = ()) -> walks.Plan:
        """What an action preview reads: every node of ``suites`` (names) and the nodes
        at ``paths`` (references into other suites), within ``seconds`` (the Plan says
        if it stopped early). One walk under the lock, plain tuples out."""
        deadline = time.monotonic() + seconds
        with self._defs() as defs:
            def why(path: str) -> str:
                return nodes.text_of(ecflow.WhyCmd(defs, path).why)

            found = walks.plan(defs, suites, deadline, why)
            for path in paths:
                node = defs.find_abs_node(normalise_path(path)) if defs is not None else None
                if node is not None and path not in found.nodes:
                    found.nodes[path] = walks.plan_node(node, why)
            return found

    def preview(self, action: str, paths: str | Iterable[str],
                seconds: float = 1.0) -> _preview.Preview:
        """What ``action`` (a name of ``ACTIONS``) on the node(s) at ``paths`` would set
        in motion, from the last sync: the nodes that change state at once, the tasks
        the server then submits, those released later and why, the limits taken
        (``preview`` module). Bounded by ``seconds``: past it, the result says where it
        stopped."""
        return _preview.preview(self, action, paths, seconds)

    def _root(self, defs: Any) -> nodes.NodeInfo:
        server_state = defs.get_server_state().name.lower() if defs is not None else "unknown"
        state = defs.get_state().name if server_state == "running" else server_state
        suites = tuple(s.name() for s in defs.suites) if defs is not None else ()
        return nodes.NodeInfo(path="/", name=self.address, kind="server", state=state,
                              since=self.last_sync, child_names=suites,
                              has_children=bool(suites),
                              variables=tuple(self._server_variables(defs)), detailed=True,
                              own_state=server_state)

    def _server_variables(self, defs: Any) -> list[nodes.Variable]:
        if defs is None:
            return []
        text = nodes.text_of
        own = [nodes.Variable(v.name(), text(v.value), "own", "/") for v in defs.user_variables]
        names = {v.name for v in own}
        return own + [nodes.Variable(v.name(), text(v.value), "generated", "/")
                      for v in defs.server_variables if v.name() not in names]

    def server_version(self) -> str:
        """The server's ecFlow version ('5.13.8')."""
        return self._call("version", lambda c: c.server_version()).strip()

    def info(self) -> ServerInfo:
        """Version, state, pid, ECF_HOME and suites of the server at the last sync."""
        version = self.server_version()
        root = self.node("/")
        variables = {v.name: v.value for v in root.variables}
        return ServerInfo(self.address, version, root.state, variables.get("ECF_PID", ""),
                          variables.get("ECF_HOME", ""), root.child_names, self.last_sync,
                          variables, root.own_state)

    def zombies(self) -> list[Zombie]:
        """The server's zombies now (one request)."""
        def read(client: Any) -> list[Zombie]:
            return [_zombie(z) for z in client.zombie_get(0)]
        return self._call("zombies", read)

    # -- the server log ------------------------------------------------------------------
    def log_tail(self, lines: int = 500) -> bytes:
        """The last ``lines`` lines of the server log, raw (``ecflow_client --log=get``,
        less the newline the command line client adds: ``cli_string``)."""
        return cli_string(self.client_text("--log=get", str(int(lines))))

    def log_file(self) -> str | None:
        """The server's log file (ECF_LOG) when it is readable on this machine."""
        name = self.variable("/", "ECF_LOG") or ""
        if name and not os.path.isabs(name):
            name = os.path.join(self.variable("/", "ECF_HOME") or "", name)
        if name and os.path.isfile(name) and os.access(name, os.R_OK):
            return name
        return None

    def log_clock(self) -> LogClock:
        """How this server's log stamps map to UTC (``_serverlog``): ``log_zone`` when given,
        else detected once per server run from state changes that are both in the log
        and in the nodes' ``since`` (the server's own clock), else from the line our log
        request itself writes (this machine's clock), else UTC with that said."""
        if self.log_zone is not None:
            return self.log_zone
        with self._lock:
            if not self._synced:
                self.sync()
            if self._detected_clock is not None and self._detected_clock[0] == self._pid:
                return self._detected_clock[1]
        asked = datetime.now(timezone.utc)
        raw = self.log_tail(CLOCK_EVIDENCE_LINES)
        clock = self._clock_from(raw, asked)
        with self._lock:
            self._detected_clock = (self._pid, clock)
        return clock

    def clock_skew(self) -> timedelta:
        """How far the server's clock is ahead of this machine's (0 within two seconds):
        the line our own ``--log=get`` request writes, read through ``log_clock()``,
        against the moment we asked. What a moment on this machine is on the server's
        clock (a server under ``faketime``, a remote one without NTP)."""
        clock = self.log_clock()
        if clock.source == "detected from this machine's clock":
            return timedelta(0)
        asked = datetime.now(timezone.utc)
        own = [line for line in _serverlog.parse_lines(self.log_tail(3).splitlines())
               if "--log=get" in line.text]
        if not own:
            return timedelta(0)
        skew = clock.to_utc(own[-1].local) - asked.replace(microsecond=0)
        return skew if abs(skew) >= timedelta(seconds=2) else timedelta(0)

    def suite_clock(self, suite: str) -> datetime:
        """The suite's clock now, naive, as its time attributes and ``late`` read it.

        Not the log's clock: measured on 5.9 under ``TZ=Asia/Tokyo``, the log stamps are
        Tokyo time while the suite's calendar (``ECF_TIME``, what ``time 12:05`` is
        compared with) is UTC. A suite clock may also gain (``clock real +01:00``): its
        generated ECF_DATE/ECF_TIME against the server's UTC now say by how much (a
        difference under 5 minutes is the calendar's one-minute tick, not a gain)."""
        now = datetime.now(timezone.utc) + self.clock_skew()
        name = "/" + normalise_path(suite).strip("/").split("/", 1)[0]
        day, hour = self.variable(name, "ECF_DATE") or "", self.variable(name, "ECF_TIME") or ""
        base = now.replace(tzinfo=None)
        try:
            shown = datetime.strptime(f"{day} {hour}", "%Y%m%d %H:%M")
        except ValueError:
            return base
        gain = shown - base.replace(second=0, microsecond=0)
        return base if abs(gain) < timedelta(minutes=5) else base + gain

    def _clock_from(self, raw: bytes, asked: datetime) -> LogClock:
        last: dict[str, _serverlog.StateChange] = {}
        own: list[_serverlog.LogLine] = []
        for line in raw.splitlines(keepends=True):
            change = _serverlog.state_change(line)
            if change is not None:
                last[change.path] = change
            elif b"--log=get" in line:
                parsed = _serverlog.parse_line(line)
                if parsed is not None:
                    own.append(parsed)
        with self._defs() as defs:
            pairs = nodes.state_change_pairs(defs, last.values())
        found = _serverlog.estimate_offset(pairs)
        if found is not None:
            offset, agreeing = found
            return LogClock(offset, source=f"detected from {agreeing} of {len(pairs)} state "
                                           "change(s) in the log")
        found = _serverlog.estimate_offset([(own[-1].local, asked)]) if own else None
        if found is not None:
            return LogClock(found[0], source="detected from this machine's clock")
        return LogClock(source="assumed UTC: no evidence in the log")

    # -- files through the command-line client -----------------------------------------
    def read_file(self, path: str, kind: str, max_lines: int | None = None) -> bytes:
        """The server's copy of a node's file as raw bytes (the tail of ``max_lines``
        lines, default the server's 10000, ending with its truncation line)."""
        kind = "jobout" if kind == "output" else kind
        if kind not in FILE_KINDS:
            raise ValueError(f"unknown file kind {kind!r}: use one of {', '.join(FILE_KINDS)}")
        info = self.node(path, detail=False)
        if kind in TASK_ONLY_KINDS and info.kind not in TASK_KINDS:
            raise FileUnavailable(info.path, kind, f"a {info.kind} has no {kind} file")
        args = [f"--file={info.path}", kind]
        if max_lines is not None:
            args.append(str(int(max_lines)))
        return cli_string(self._file_request(info, kind, kind, *args).stdout)

    def job_status(self, path: str) -> None:
        """Ask the server to run the task's ECF_STATUS_CMD (``ecflow_client --status``),
        which writes ``%ECF_JOB%.stat``: read it as the file kind 'stat' (the map's
        ``C.stat``) once the command had time to run. Raises FileUnavailable when the
        server refuses (no ECF_STATUS_CMD, not a task, no job running)."""
        info = self._task(path, "stat", "job status")
        self._file_request(info, "stat", "job status", f"--status={info.path}")

    def _task(self, path: str, role: str, what: str) -> nodes.NodeInfo:
        """The task at ``path``; FileUnavailable for ``role`` if it is another kind."""
        info = self.node(path, detail=False)
        if info.kind not in TASK_KINDS:
            raise FileUnavailable(info.path, role, f"a {info.kind} has no {what}: "
                                  "select a task")
        return info

    def _file_request(self, info: nodes.NodeInfo, role: str, what: str, *args: str
                      ) -> subprocess.CompletedProcess:
        """Run ``ecflow_client args`` about a node's file: a refusal about the file (no
        such file, no ECF_STATUS_CMD) raises FileUnavailable for ``role``; a connection
        or rights problem raises as such."""
        proc = self.run_client(*args)
        if proc.returncode != 0:
            error = self.map_error(f"the {what} of {info.path}",
                                   proc.stderr.decode(errors="replace"))
            if isinstance(error, (ServerUnreachable, AccessDenied, AuthenticationFailed)):
                raise error
            raise FileUnavailable(info.path, role, server_reply(proc.stderr))
        return proc

    # -- changes: edits of a node (``changes`` checks them first) ---------------------
    def change(self, what: str, paths: list[str], *commands: tuple[str, ...]) -> str:
        """Run ``ecflow_client`` ``commands`` that change the server, each recorded in the
        session's action log; the server's refusal raised as for any request."""
        for command in commands:
            proc = self.run_client(*command)
            reply = server_reply(proc.stderr) if proc.returncode else ""
            changes.record(self, what, paths, command, proc.returncode == 0,
                           reply or "done")
            if proc.returncode != 0:
                raise self.map_error(f"{what} on {', '.join(paths)}",
                                     reply + "\n" + proc.stderr.decode(errors="replace"))
        return f"{what}: done on {', '.join(paths)}"

    def _edit(self, path: str, what: str, make: Callable[[nodes.NodeInfo],
                                                         tuple[str, ...] | list]) -> str:
        info = self.node(path)
        built = make(info)
        commands = built if isinstance(built, list) else [built]
        return self.change(what, [info.path], *commands)

    def set_variable(self, path: str, name: str, value: str) -> str:
        """Give ``path`` its own variable ``name`` = ``value`` (added, or changed if it
        has it; an inherited one is overridden here). '/' sets a server variable."""
        return self._edit(path, f"set variable {name}",
                          lambda info: changes.variable_change(info, name, value))

    def delete_variable(self, path: str, name: str) -> str:
        """Delete ``path``'s own variable ``name`` (ValueError for an inherited one)."""
        return self._edit(path, f"delete variable {name}",
                          lambda info: changes.variable_delete(info, name))

    def set_label(self, path: str, name: str, value: str) -> str:
        return self._edit(path, f"set label {name}",
                          lambda info: changes.label_change(info, name, value))

    def set_meter(self, path: str, name: str, value: int) -> str:
        """Set meter ``name`` (checked against its range first)."""
        return self._edit(path, f"set meter {name}",
                          lambda info: changes.meter_change(info, name, value))

    def set_event(self, path: str, name: str, value: bool = True) -> str:
        """Set (True) or clear (False) event ``name``."""
        return self._edit(path, f"{'set' if value else 'clear'} event {name}",
                          lambda info: changes.event_change(info, name, value))

    def set_limit(self, path: str, name: str, value: int | None = None,
                  maximum: int | None = None) -> str:
        """Change limit ``name``: its ``maximum``, and/or its ``value`` (tokens in use)."""
        return self._edit(path, f"set limit {name}",
                          lambda info: changes.limit_change(info, name, value, maximum))

    def set_repeat(self, path: str, value: str | int) -> str:
        """Set the node's repeat to ``value`` (checked against the repeat first)."""
        return self._edit(path, "set repeat",
                          lambda info: changes.repeat_change(info, value))

    def set_late(self, path: str, late: str) -> str:
        """Set the late attribute, e.g. ``'-s +00:15 -c +02:00'``."""
        return self._edit(path, "set late", lambda info: changes.late_change(info, late))

    def add_time(self, path: str, kind: str, value: str) -> str:
        """Add a ``time``, ``today``, ``date`` or ``day`` attribute."""
        return self._edit(path, f"add {kind} {value}",
                          lambda info: changes.time_change(info, kind, value, add=True))

    def delete_time(self, path: str, kind: str, value: str) -> str:
        """Delete a ``time``, ``today``, ``date``, ``day`` or ``cron`` attribute."""
        return self._edit(path, f"delete {kind} {value}",
                          lambda info: changes.time_change(info, kind, value, add=False))

    def edit_script(self, path: str) -> changes.EditableScript:
        """The task's script as ecflow_ui's Edit panel shows it, with the variables it
        uses (``ecflow_client --edit_script PATH edit``) and its includes expanded."""
        info = self._task(path, "script", "script to edit")
        texts = [cli_string(self._file_request(info, "script", "script to edit",
                                               f"--edit_script={info.path}", mode).stdout
                            ).decode(errors="replace") for mode in ("edit", "pre_process")]
        return changes.EditableScript(info.path, texts[0],
                                      changes.script_variables(texts[0]),
                                      texts[1])

    def submit_script(self, path: str, text: str, variables: dict[str, str] | None = None,
                      alias: bool = False) -> str:
        """Submit ``text`` as the task's job (ecflow_ui's Edit panel, "Submit"): its
        ``%comment`` variables set from ``variables``; the server makes the job from
        this text (``--edit_script PATH submit_file FILE``), as an alias with ``alias``."""
        import tempfile

        info = self.node(path, detail=False)
        if info.kind not in TASK_KINDS:
            raise ValueError(f"only a task's script can be submitted, not a {info.kind}'s")
        body = changes.with_variables(text, variables or {})
        with tempfile.NamedTemporaryFile("w", suffix=".ecf", prefix="ecfnb-edit-",
                                         delete=False) as handle:
            handle.write(body)
        try:
            command = (f"--edit_script={info.path}", "submit_file", handle.name,
                       *(("create_alias",) if alias else ()))
            self.change("submit edited script", [info.path], command)
        finally:
            os.unlink(handle.name)
        return f"Submitted the edited script of {info.path}" + (" as an alias" if alias
                                                                 else "")

    def client_text(self, *args: str) -> bytes:
        """Output of an ``ecflow_client`` query (``--stats``, ``--log=get N``, ...) as bytes."""
        proc = self.run_client(*args)
        if proc.returncode != 0:
            text = server_reply(proc.stderr) + "\n" + proc.stderr.decode(errors="replace")
            raise self.map_error(f"ecflow_client {' '.join(args)}", text)
        return proc.stdout

    def client_command(self, *args: str) -> tuple[list[str], dict[str, str]]:
        """The ``ecflow_client`` command line and environment that reach this server with
        this connection's settings, for callers that run it themselves."""
        return self.connection.client_command(*args)

    @contextlib.contextmanager
    def held_for_fork(self) -> Iterator[None]:
        """Hold this Server still while the process forks a child that will use it
        (``ServerView.start_poller``): no other thread of this process is half-way
        through a call on it (a sync updating its state in several steps), so the
        child's copy is whole."""
        with self._lock:
            yield

    def child_env(self) -> dict[str, str]:
        """The environment of a helper process that must reach the server as this one
        does (the pollers, a mount's daemon)."""
        return self.connection.child_env()

    def run_client(self, *args: str) -> subprocess.CompletedProcess:
        command, env = self.client_command(*args)
        self.requests += 1
        try:
            # The command-line client retries a hung server for longer than its own
            # ECF_CONNECT_TIMEOUT; one second of grace, then it is killed.
            return subprocess.run(command, env=env, capture_output=True,
                                  timeout=self.timeout + 1)
        except subprocess.TimeoutExpired:
            raise ServerUnreachable(self.address, connection_reason(
                "no answer to ecflow_client", self.host, self.port)) from None

    def mark_log(self, text: str) -> subprocess.Popen | None:
        """Write ``text`` into the server log (``--msg``) without waiting for the answer:
        a marker of 'now' in the log's own order, which no clock can shift. None when
        ecflow_client cannot be run."""
        try:
            command, env = self.client_command(f"--msg={text}")
        except EcflowMissing:
            return None
        self.requests += 1
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)


def _zombie(z: Any) -> Zombie:
    """A Zombie from the binding's object (only under the lock)."""
    cause = z.user_cmd() or z.type_str()
    explanation = (f"Created by user action({z.user_cmd()})" if z.user_cmd() else
                   f"{z.type_str()} zombie: the job's password or try does not match")
    return Zombie(path=z.path_to_task(), type=z.type_str(), password=z.jobs_password(),
                  pid=str(z.process_or_remote_id()), try_no=int(z.try_no()),
                  age=int(z.duration()), calls=int(z.calls()), child=str(z.last_child_cmd()),
                  host=str(z.host()), action=str(z.user_action_str()) or cause,
                  explanation=explanation)


def cli_string(data: bytes) -> bytes:
    """A string reply as the server sent it: ``ecflow_client`` prints a file or the log
    with one newline more (``std::cout << str_ << "\\n"`` in ecFlow's SStringCmd;
    measured on 5.9: a job file of 1143 bytes printed as 1144), so that one goes."""
    return data[:-1] if data.endswith(b"\n") else data


