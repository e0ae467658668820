"""THE mapping of an ecFlow server onto paths and files (README, "The path scheme").

FUSE, fsspec and the widgets are thin adapters over ``FileSystemMap``; none of
them builds a path or a file's content itself. The map knows nothing of them.

Rules a user can rely on:
- every node C of a parent has files ``C.att`` (its own attributes in definition
  syntax, as ``ecflow_client --get`` prints them), ``C.<sta>`` (its display state,
  ``.sus`` when suspended) and ``C.why``; tasks and aliases also ``C.ecf``, ``C.job``,
  ``C.out`` and ``C.man``; read by name, not listed: ``C.out.N`` (the output of try
  N), ``C.stat`` (what ECF_STATUS_CMD last wrote: ``Server.job_status`` runs it) and
  a suite's or family's ``C.man``;
- suites and families are directories ``C/``; a task is a directory only when it
  has aliases (an empty directory per task made ``find`` open 100k directories on
  a 100k-task server for nothing); the root has ``.server/`` (stats, version, log,
  zombies);
- a directory's name always wins over a generated name (ecFlow allows '.' in names);
- sizes are true byte sizes, reads honour offset and size, mtime is the node's
  state-change time (so ``ls -lt`` / ``find -mmin`` show recent changes);
- a task's job and output are read from local disk when ECF_JOB/ECF_JOBOUT is
  readable here and lies under the server's own ECF_HOME or a root the user named
  (``local_roots``, ECFNB_LOCAL_ROOTS) — byte-exact, any size, never held whole —
  else the server's copy (the tail of ``output_lines`` lines, ending in its
  truncation line);
- a file the server does not have yet (no job before the first run) reads as a
  one-line ``# ecfnb: ...`` explanation; an unreachable server raises.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from .._base.states import STATE_ABBREV, TASK_KINDS
from .._base.text import one_line, printable
from .._server.nodes import NodeInfo, parse_time, quoted
from .._server.server import Server, SyncResult, normalise_path
from ..errors import FileUnavailable, NodeNotFound

SERVER_DIR = ".server"
SERVER_FILES = ("stats", "version", "log", "zombies")
TASK_FILES = {"ecf": "script", "job": "job", "out": "jobout", "man": "manual"}
NODE_FILES = ("att", "why")
STATE_EXTS = frozenset(STATE_ABBREV.values())
SERVER_LOG_LINES = 500


@dataclass(frozen=True)
class Entry:
    """What ``stat`` tells: ``kind`` is 'dir' or 'file'; ``role`` says what the file is
    (dir, att, state, why, script, job, jobout, manual, or 'server:<name>'). ``size`` is
    None only from ``stat(path, fetch=False)`` when knowing it needs a server request."""

    kind: str
    size: int | None
    mtime: float
    node: str
    role: str


class DirEntry(NamedTuple):
    """One name of a directory listing, with what ``find`` and file browsers need
    without a stat: kind ('dir' or 'file') and mtime (the node's state-change time).
    A NamedTuple, not a frozen dataclass: listings make ~8 a task, and a frozen
    dataclass costs 4x more to create (100k tasks: ~1 s of a find)."""

    name: str
    kind: str
    mtime: float


class Listing(NamedTuple):
    """A directory's names, in ``scandir`` order, and where its subdirectories are
    (index in ``names`` -> mtime): what a walk needs, and nothing per file."""

    names: list[str]
    dirs: dict[int, float]


@dataclass(frozen=True)
class _Target:
    node: str          # node path ('/' for the server), or '/.server'
    role: str          # 'dir', 'att', 'state', 'why', a TASK_FILES value, 'server:<name>'
    info: NodeInfo | None = None  # the node's summary, None for '/' and '/.server'
    try_no: int | None = None  # an earlier try's output ('C.out.N'); None: the current one


class MappedFile:
    """An open file of the map: resolved once, then read by offset many times (FUSE
    reads 128 KiB at a time; a 50 MB ``cat`` must not resolve the path 400 times).
    Local job outputs stay on disk behind a descriptor; other contents are the cached
    bytes, fixed at open like a snapshot."""

    def __init__(self, entry: Entry, local: str | None, data: bytes | None,
                 path: str = "") -> None:
        self.entry = entry
        self.path = path  # the map's path it was opened by
        self._fd = os.open(local, os.O_RDONLY) if local is not None else None
        self._data = data

    @property
    def size(self) -> int:
        if self._fd is not None:
            return os.fstat(self._fd).st_size
        return len(self._data or b"")

    def read(self, offset: int, size: int) -> bytes:
        if self._fd is not None:
            return os.pread(self._fd, size, offset)
        return (self._data or b"")[offset:offset + size]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> MappedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ByteCache:
    """A small LRU of file contents bounded in bytes, shared by threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple, data: bytes) -> None:
        if len(data) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size -= len(old) if old is not None else 0
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


class FileSystemMap:
    """Paths and files of one ecFlow server. ``refresh()`` syncs; everything else reads
    the view of the last sync (the first call syncs once)."""

    def __init__(self, server: Server, output_lines: int = 10000,
                 cache_bytes: int = 32 * 1024 * 1024, prefer_local: bool = True,
                 local_roots: Iterable[str | os.PathLike] | None = None) -> None:
        self.server = server
        self.output_lines = output_lines
        #: False when ECF_JOB/ECF_JOBOUT paths here may be other files than the server's.
        self.prefer_local = prefer_local
        #: Where a job or output may be read from this machine's disk, besides the
        #: server's own ECF_HOME: ``local_roots`` and ECFNB_LOCAL_ROOTS (``:``-separated).
        extra = os.environ.get("ECFNB_LOCAL_ROOTS", "")
        self.local_roots = tuple(os.fspath(root) for root in (local_roots or ())) + \
            tuple(root for root in extra.split(os.pathsep) if root)
        self._cache = _ByteCache(cache_bytes)
        self._refresh_lock = threading.Lock()
        self._refreshed_at = -math.inf

    def __repr__(self) -> str:
        return f"<FileSystemMap of {self.server.address}>"

    def refresh(self) -> SyncResult:
        """Sync with the server now.

        Returns
        -------
        SyncResult
            What the sync brought (``news`` false: nothing changed)."""
        result = self.server.sync()
        self._refreshed_at = time.monotonic()
        return result

    def refresh_if_older(self, seconds: float) -> SyncResult | None:
        """Sync only when the view is older than ``seconds``: the freshness rule of every
        surface that serves this map (a mount: half its interval; the fsspec view: its
        interval). Threads that ask together get one sync.

        Parameters
        ----------
        seconds
            How old the view may be.

        Returns
        -------
        SyncResult or None
            The sync's result, or None when the view was fresh enough.

        Raises
        ------
        ServerUnreachable
            The server did not answer (the view stays as it was)."""
        if time.monotonic() - self._refreshed_at < seconds:
            return None
        with self._refresh_lock:
            if time.monotonic() - self._refreshed_at < seconds:
                return None  # another thread synced while we waited
            return self.refresh()

    def age(self) -> float:
        """How old the view is.

        Returns
        -------
        float
            Seconds since the last sync (``inf`` before the first): a surface that
            syncs on its own (a mount that pushes changes) syncs when it is due."""
        return time.monotonic() - self._refreshed_at

    def invalidate(self) -> None:
        """The next ``refresh_if_older`` syncs, however young the view."""
        self._refreshed_at = -math.inf

    # -- names ---------------------------------------------------------------------
    def listdir(self, path: str = "/") -> list[str]:
        """The names in directory ``path``, in ``scandir`` order.

        Parameters
        ----------
        path
            A directory of the map ('/', a suite, a family, a task with aliases).

        Returns
        -------
        list of str
            Child directories first where they are, each node's files after it.

        Raises
        ------
        NodeNotFound, NotADirectoryError, ServerUnreachable"""
        return [entry.name for entry in self.scandir(path)]

    def scandir(self, path: str = "/") -> list[DirEntry]:
        """Every entry with its kind and mtime, from one listing of the children: what
        ``find -name`` and ``ls -t`` need, without a stat (or a file fetch) per entry.

        Parameters
        ----------
        path
            A directory of the map.

        Returns
        -------
        list of DirEntry
            (name, 'dir' or 'file', mtime: the node's state-change time, epoch seconds).

        Raises
        ------
        NodeNotFound, NotADirectoryError, ServerUnreachable"""
        out: list[DirEntry] = []
        append = out.append
        for mtime, is_dir, names in self._groups(path, times=True):
            for index, name in enumerate(names):
                append(DirEntry(name, "dir" if is_dir and not index else "file", mtime))
        return out

    def names(self, path: str = "/") -> Listing:
        """The names of ``scandir`` in the same order, and which are subdirectories (with
        their mtimes): all a ``find -name`` walk needs, at half the cost (no entry
        objects, no state-change time of a plain task: 100k tasks 0.4 s, not 0.9).

        Parameters
        ----------
        path
            A directory of the map.

        Returns
        -------
        Listing
            ``names`` and ``dirs`` (index in names -> mtime of that subdirectory).

        Raises
        ------
        NodeNotFound, NotADirectoryError, ServerUnreachable"""
        names: list[str] = []
        dirs: dict[int, float] = {}
        extend = names.extend
        for mtime, is_dir, group in self._groups(path, times=False):
            if is_dir:
                dirs[len(names)] = mtime
            extend(group)
        return Listing(names, dirs)

    def _groups(self, path: str, times: bool) -> Iterator[tuple[float, bool, list[str]]]:
        """Per child node of directory ``path``: (mtime, is a directory, its names), the
        directory's name first; the one place the naming rules of the module doc are
        applied to a listing."""
        target = self._resolve(path)
        if target.role != "dir":
            raise NotADirectoryError(f"not a directory: {path!r}")
        synced = _epoch(self.server.last_sync)
        if target.node == "/" + SERVER_DIR:
            yield synced, False, list(SERVER_FILES)
            return
        rows = self.server.listing(target.node, times)  # (name, kind, state, since, aliases)
        taken = {row[0] for row in rows if _makes_directory(row[1], row[4])}
        # a generated name always has a '.': it can only clash with a child's if one has
        clashes = taken if any("." in name for name in taken) else None
        if target.node == "/":
            yield synced, True, [SERVER_DIR]
        for name, kind, state, since, _aliases in rows:
            mtime = _since_epoch(since) or synced
            files = [name + suffix for suffix in _suffixes(kind, state)]
            if clashes is not None:
                files = [file_name for file_name in files if file_name not in clashes]
            if name in taken:
                yield mtime, True, [name, *files]
            else:
                yield mtime, False, files

    def _resolve(self, path: str) -> _Target:
        """What ``path`` names; NodeNotFound quotes the path as the caller wrote it (not
        the node looked up on the way: 'post.att.att' is not 'post.att')."""
        try:
            return self._resolve_normal(normalise_path(path))
        except NodeNotFound:
            raise NodeNotFound(path, self.server.address) from None

    def _resolve_normal(self, path: str) -> _Target:
        if path == "/":
            return _Target("/", "dir")
        parent, _, last = path.rpartition("/")
        parent = parent or "/"
        if parent == "/" and last == SERVER_DIR:
            return _Target(path, "dir")
        if parent == "/" + SERVER_DIR:
            if last in SERVER_FILES:
                return _Target(parent, f"server:{last}")
            raise NodeNotFound(path, self.server.address)
        try:
            info = self.server.summary(path)
        except NodeNotFound:
            info = None  # not a node: a generated name
        if info is not None and is_directory(info):
            return _Target(path, "dir", info)
        base, dot, ext = last.rpartition(".")
        if not dot or not base:
            raise NodeNotFound(path, self.server.address)
        if ext.isdigit() and base.endswith(".out") and len(base) > 4:
            return self._try_output(parent, base[:-4], int(ext), path)
        node_path = f"{parent.rstrip('/')}/{base}"
        info = self.server.summary(node_path)  # raises NodeNotFound
        if ext in NODE_FILES:
            return _Target(node_path, ext, info)
        if ext == info.abbrev:
            return _Target(node_path, "state", info)
        if ext == "stat" and info.kind in TASK_KINDS:
            return _Target(node_path, "stat", info)
        if ext in TASK_FILES and (info.kind in TASK_KINDS or ext == "man"):
            return _Target(node_path, TASK_FILES[ext], info)
        raise NodeNotFound(path, self.server.address)

    def _try_output(self, parent: str, name: str, try_no: int, path: str) -> _Target:
        """``C.out.N``: the output of try N of task C (not listed: read by name)."""
        node_path = f"{parent.rstrip('/')}/{name}"
        info = self.server.summary(node_path)
        if info.kind not in TASK_KINDS or try_no < 1:
            raise NodeNotFound(path, self.server.address)
        return _Target(node_path, "jobout", info, None if try_no == info.try_no else try_no)

    # -- stat and read -------------------------------------------------------------
    def stat(self, path: str, fetch: bool = True) -> Entry:
        """Kind, true size and mtime of ``path``.

        Parameters
        ----------
        path
            Any path of the map.
        fetch
            False: a size that costs a server request or a full node description
            (script, manual, a remote job or output, .att, .why, .server files) is None
            unless already cached, so that listings of big trees stay cheap.

        Returns
        -------
        Entry
            ``kind`` ('dir' or 'file'), ``size`` (bytes, or None, see ``fetch``),
            ``mtime`` (the node's state-change time), ``node`` and ``role``.

        Raises
        ------
        NodeNotFound, BadPath, ServerUnreachable"""
        target = self._resolve(path)
        mtime = self._mtime(target)
        if target.role == "dir":
            return Entry("dir", 0, mtime, target.node, "dir")
        local = self._local_file(target)
        if local is not None:
            return Entry("file", os.stat(local).st_size, mtime, target.node, target.role)
        if not fetch and target.role != "state":
            cached = self._cache.get(self._cache_key(target))
            size = None if cached is None else len(cached)
            return Entry("file", size, mtime, target.node, target.role)
        return Entry("file", len(self._content(target)), mtime, target.node, target.role)

    def read(self, path: str, offset: int = 0, size: int = -1) -> bytes:
        """``size`` bytes of file ``path`` from ``offset``: what every surface serves.

        Parameters
        ----------
        path
            A file of the map.
        offset
            Where to start, in bytes (>= 0).
        size
            How many bytes; -1: to the end.

        Returns
        -------
        bytes
            The bytes, byte-exact (a local job output is read with ``pread``, never
            more than asked); fewer than ``size`` at the end of the file.

        Raises
        ------
        NodeNotFound, IsADirectoryError, ValueError (negative offset), ServerUnreachable"""
        if offset < 0:
            raise ValueError("offset must be >= 0")
        target = self._resolve(path)
        if target.role == "dir":
            raise IsADirectoryError(f"is a directory: {path!r}")
        local = self._local_file(target)
        if local is not None:
            fd = os.open(local, os.O_RDONLY)
            try:
                if size < 0:
                    size = max(0, os.fstat(fd).st_size - offset)
                return os.pread(fd, size, offset)
            finally:
                os.close(fd)
        data = self._content(target)
        end = len(data) if size < 0 else offset + size
        return data[offset:end]

    @staticmethod
    def path_of(node: str, role: str, try_no: int | None = None) -> str:
        """The map's path of a node's file.

        Parameters
        ----------
        node
            The node's path ('/s/t').
        role
            'att', 'why', 'script', 'job', 'jobout', 'manual' (or an extension).
        try_no
            For 'jobout': the output of that try ('/s/t.out.1'; ecFlow keeps each try's
            output beside ECF_JOBOUT; a path that is read by name, not listed).

        Returns
        -------
        str
            ``path_of('/s/t', 'jobout') == '/s/t.out'``."""
        ext = {value: key for key, value in TASK_FILES.items()}.get(role, role)
        if try_no is not None:
            if role != "jobout":
                raise ValueError(f"only the job output has one file per try, not {role!r}")
            return f"{normalise_path(node)}.{ext}.{int(try_no)}"
        return f"{normalise_path(node)}.{ext}"

    def local_path(self, path: str) -> str | None:
        """The file on this machine that ``path`` is read from, if any.

        Parameters
        ----------
        path
            A file of the map (a job or an output; other files are never local).

        Returns
        -------
        str or None
            The local path (under the server's ECF_HOME or a trusted root), or None
            when the server's copy is served."""
        return self._local_file(self._resolve(path))

    def open(self, path: str) -> MappedFile:
        """Resolve ``path`` once for many reads (FUSE reads 128 KiB at a time).

        Parameters
        ----------
        path
            A file of the map.

        Returns
        -------
        MappedFile
            Open: a local output behind a descriptor (it may grow), other contents
            fixed at open. Close it, or use ``with``.

        Raises
        ------
        NodeNotFound, IsADirectoryError, ServerUnreachable"""
        target = self._resolve(path)
        if target.role == "dir":
            raise IsADirectoryError(f"is a directory: {path!r}")
        mtime = self._mtime(target)
        local = self._local_file(target)
        data = None if local is not None else self._content(target)
        size = os.stat(local).st_size if local is not None else len(data or b"")
        return MappedFile(Entry("file", size, mtime, target.node, target.role), local, data,
                          path=normalise_path(path))

    def tail(self, path: str, lines: int = 1000, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        """The end of file ``path``, without reading the whole file.

        Parameters
        ----------
        path
            A file of the map (usually a job output).
        lines
            How many lines at most (cut at newlines only: a ``\r`` progress bar is one
            line); negative: all lines in the window.
        max_bytes
            The window read from the end.

        Returns
        -------
        bytes
            The last lines; a last line longer than the window is shown by its end,
            after a line saying it was cut (not dropped).

        Raises
        ------
        NodeNotFound, ServerUnreachable"""
        size = self.stat(path).size
        start = max(0, size - max_bytes)
        data = self.read(path, start, size - start)
        cut = _lines(data)
        if start > 0 and len(cut) > 1:
            cut = cut[1:]  # the first line is partial
        elif start > 0 and cut:
            marker = (f"[ecfnb: line cut: its first {start} bytes are not shown, only its "
                      f"last {len(data)}]\n").encode()
            return marker + data
        return b"".join(cut[-lines:]) if lines >= 0 else b"".join(cut)

    def _mtime(self, target: _Target) -> float:
        since = target.info.since if target.info else None
        return _epoch(since or self.server.last_sync)

    def _local_file(self, target: _Target) -> str | None:
        """ECF_JOB / ECF_JOBOUT when readable on this machine (as ecflow_ui does); for an
        earlier try, ECF_JOBOUT with that try's number in place of the current one's
        (ecFlow names them ``<stem>.<try>``)."""
        variable = {"job": "ECF_JOB", "jobout": "ECF_JOBOUT"}.get(target.role)
        if variable is None or not self.prefer_local:
            return None
        local = self.server.variable(target.node, variable)
        if local and target.try_no is not None:
            local = _other_try(local, target.info.try_no if target.info else 0, target.try_no)
        if local and self._trusted(local) and os.path.isfile(local) and \
                os.access(local, os.R_OK):
            return local
        return None

    def _trusted(self, local: str) -> bool:
        """Whether ``local`` lies where the server writes jobs and outputs: under its own
        ECF_HOME (the one it was started with, which no client can change) or a root the
        user named. Anyone with write access can point a task's ECF_JOBOUT at any file
        (``/etc/...``, another user's); that file is then not read from this disk, for
        the mount, the explorer, an incident record or a mail: the server is asked."""
        roots = [*self.local_roots]
        home = self.server.server_home()
        if home:
            roots.append(home)
        real = os.path.realpath(local)
        return any(real.startswith(os.path.realpath(root).rstrip("/") + "/") for root in roots)

    def _cache_key(self, target: _Target) -> tuple:
        """Task files change with a new try or state; generated texts with any sync."""
        if target.try_no is not None:
            return (target.node, target.role, "try", target.try_no)
        if target.role in TASK_FILES.values() and target.info:
            return (target.node, target.role, target.info.try_no, target.info.since)
        return (target.node, target.role, self.server.generation)

    def _content(self, target: _Target) -> bytes:
        if target.role == "stat":  # rewritten by each status command: never cached
            return self._build(target)
        key = self._cache_key(target)
        data = self._cache.get(key)
        if data is None:
            data = self._build(target)
            self._cache.put(key, data)
        return data

    def _build(self, target: _Target) -> bytes:
        role = target.role
        if role.startswith("server:"):
            return self._server_file(role.split(":", 1)[1])
        if role == "att":
            return attributes_text(self.server.node(target.node)).encode()
        if role == "state" and target.info:
            return state_text(target.info).encode()
        if role == "why":
            return (printable(self.server.why(target.node).rstrip("\n")) + "\n").encode()
        lines = self.output_lines if role == "jobout" else None
        if target.try_no is not None:
            return (f"# ecfnb: the output of try {target.try_no} of {target.node} is not "
                    "readable on this machine (the server serves only the current try's)\n"
                    ).encode()
        try:
            return self.server.read_file(target.node, role, max_lines=lines)
        except FileUnavailable as exc:
            return f"# ecfnb: {exc}\n".encode()

    def _server_file(self, name: str) -> bytes:
        if name == "version":
            return (self.server.info().version + "\n").encode()
        if name == "stats":
            return self.server.client_text("--stats")
        if name == "log":
            return self.server.log_tail(SERVER_LOG_LINES)
        return self.server.client_text("--zombie_get")


@functools.lru_cache(maxsize=64)
def _suffixes(kind: str, state: str) -> tuple[str, ...]:
    """A node's generated names less its own name, in listing order (module doc)."""
    abbrev = STATE_ABBREV.get(state, "unk")
    if kind in TASK_KINDS:
        return (".att", f".{abbrev}", *[f".{ext}" for ext in TASK_FILES], ".why")
    # A suite's or family's C.man is read by name, not listed: asking the server for a
    # manual a family does not have writes an ERR line in its log, and a walk of the
    # mount (grep -r) would write one per family.
    return (".att", f".{abbrev}", ".why")


@functools.lru_cache(maxsize=4096)
def _since_epoch(text: str) -> float:
    """A state-change time as ecFlow prints it, in seconds (0.0 if unreadable); cached:
    the nodes of a listing often share their time."""
    return _epoch(parse_time(text))


def _lines(data: bytes) -> list[bytes]:
    """``data`` cut after each newline only (``bytes.splitlines`` also cuts at ``\r``,
    which a progress bar writes thousands of times on one line)."""
    pieces = data.split(b"\n")
    lines = [piece + b"\n" for piece in pieces[:-1]]
    return lines + [pieces[-1]] if pieces[-1] else lines


def _other_try(jobout: str, current: int, wanted: int) -> str | None:
    """ECF_JOBOUT of the current try turned into that of try ``wanted``, or None when it
    does not end in the current try's number (a site's own ECF_JOBOUT)."""
    stem, dot, number = jobout.rpartition(".")
    if not dot or not number.isdigit() or (current and int(number) != current):
        return None
    return f"{stem}.{wanted}"


def _makes_directory(kind: str, has_children: bool) -> bool:
    """Suites and families (and the server) always; tasks only when they hold aliases."""
    return kind not in TASK_KINDS or has_children


def is_directory(info: NodeInfo) -> bool:
    return _makes_directory(info.kind, info.has_children)


def _epoch(when: datetime | None) -> float:
    return when.timestamp() if when else 0.0


def _status(info: NodeInfo) -> list[tuple[str, str]]:
    """State, since when, try and abort reason: what both marker and .att tell."""
    fields = [("since", f"{info.since:%Y-%m-%dT%H:%M:%SZ}")] if info.since else []
    if info.try_no:
        fields.append(("try", str(info.try_no)))
    if info.aborted_reason:
        fields.append(("reason", info.aborted_reason))
    return fields


def state_text(info: NodeInfo) -> str:
    """The one line in a ``C.<sta>`` marker: 'aborted since ... try 1 reason: ...' (an
    abort reason's control characters shown as ``\\xNN``: ``cat`` must not hand a
    job's escapes to the terminal)."""
    parts = [info.state] + [f"{key}{':' if key == 'reason' else ''} {value}"
                            for key, value in _status(info)]
    return one_line(" ".join(parts)) + "\n"


def attributes_text(info: NodeInfo) -> str:
    """A node's own attributes in ecFlow definition syntax: its header with the state as
    a comment, then its lines exactly as ``ecflow_client --get`` prints them, then the
    live values (``# now: meter progress 42``) that ``--get`` leaves out."""
    status = [f"state:{info.state}"] + [f"{key}:{value!r}" if key == "reason" else
                                        f"{key}:{value}" for key, value in _status(info)]
    if info.kind == "server":
        lines = [f"defs {info.name}  # " + " ".join(status)]
        lines += [f"  edit {v.name} '{v.value}'" for v in info.variables if v.origin == "own"]
    else:
        definition = list(info.definition) or [f"{info.kind} {info.name}"]
        lines = [f"{definition[0]}  # " + " ".join(status), *definition[1:]]
        lines += [f"  # now: {text}" for text in _live_values(info)]
    return "\n".join(one_line(line) for line in lines) + "\n"


def _live_values(info: NodeInfo) -> list[str]:
    """What changes while a suite runs, which the definition lines do not show."""
    out = []
    for attr in info.attributes:
        if attr.kind == "meter":
            out.append(f"meter {attr.name} {attr.value}")
        elif attr.kind == "label" and attr.value:
            out.append(f"label {attr.name} {quoted(attr.value)}")
        elif attr.kind == "event":
            out.append(f"event {attr.name} {attr.value}")
        elif attr.kind == "repeat":
            out.append(f"repeat {attr.name} {attr.value}")
        elif attr.kind == "limit":
            out.append(f"limit {attr.name} {attr.value} in use")
    return out

