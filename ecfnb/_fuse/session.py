"""A FUSE session on libfuse 3's low-level API, through ctypes, serving ``fuse``'s
operations (``_OperationsMixin``: paths in, attributes and bytes out).

Why not libfuse's high-level API (which mfusepy wraps): a first ``find`` of a big
server is a chain of ~17k synchronous requests, and the high-level layer costs on each
of them, where the low-level one lets us do better:
- a directory's readdirplus reply is built in one piece (``_Reply``), with a few
  ``struct.pack`` calls, instead of one ctypes call into libfuse per entry (722k at
  100k tasks), and it is built just after the opendir reply went out, while the reader
  wakes up and asks for the entries (see ``fuse.prepare_listing``);
- FOPEN_CACHE_DIR and FOPEN_KEEP_CACHE are ours to set on opendir (the high-level
  opendir drops them: it took a patch of libfuse's session to get them before);
- one Python call per request instead of two or three layers of wrappers;
- the loop is ours: it polls for the next request a moment before sleeping (``_loop``);
- where the kernel allows it (``FUSE_CAP_NO_OPENDIR_SUPPORT``), the kernel is told of
  changes instead of asking (``push``): opendir answers ENOSYS (the kernel then sends
  no opendir or releasedir again and caches every listing), directories' entries and
  attributes are cached for a day, and a thread syncs as soon as the view is half an
  interval old and invalidates exactly the directories a sync touched
  (``_push_changes``): a ``find`` after one change reads the few listings that
  changed, and sends nothing else (before: one opendir and one getattr a directory,
  5,494 at 100k tasks). Files keep the short timeouts (a running job's output grows
  without the server knowing). An idle mount
  stops polling (no ``news`` lines in the server log) after ``linger`` seconds without
  a request, and first drops every directory's attributes so that the next reader
  asks, which wakes it; a failed sync does the same, so a reader meets the error;
- once mounted, a background thread prepares every directory's listing and its records
  (``_prepare``, breadth first), so that the first ``find`` finds them made; it works
  only while no request has come for a moment (it would hold the GIL a request waits
  for), and stops at ``ECFNB_FUSE_PREPARE_NAMES`` names (default 3 million: ~4 bytes
  of records and ~50 of names a name, about 150 MB at most; 100k tasks make ~700k).

The inode table is ours: inode numbers are never reused within a mount (generation
0), a path keeps its number while the kernel holds it (lookup counts, FORGET).
Structures come from mfusepy (``c_stat``, ``fuse_file_info``, ``c_statvfs``), which
also finds libfuse. The readdirplus record layout is the kernel's FUSE protocol
(``struct fuse_direntplus``), stable since protocol 7.21.
"""

from __future__ import annotations

import bisect
import collections
import ctypes
import errno
import itertools
import logging
import os
import select
import stat
import threading
import time
from typing import Any

from .._base.child import pause
from ..errors import MountError
from . import abi

log = logging.getLogger(__name__)

#: How long the kernel keeps a directory's entry and attributes when changes are pushed.
PUSHED_TIMEOUT = 24 * 3600.0


class _Reply:
    """One listing as readdirplus records: ``blob`` and where each record ends, and
    which records name a subdirectory with its inode (sent with its attributes, each
    one a lookup the kernel will FORGET)."""

    __slots__ = ("listing", "blob", "ends", "plus")

    def __init__(self, listing: Any, blob: bytes, ends: list[int],
                 plus: list[tuple[int, int, str]]) -> None:
        self.listing = listing
        self.blob = blob
        self.ends = ends
        self.plus = plus  # (record index, inode, path)


class _DirHandle:
    __slots__ = ("path", "reply")

    def __init__(self, path: str) -> None:
        self.path = path
        self.reply: _Reply | None = None


def _valid(seconds: float) -> tuple[int, int]:
    whole = int(seconds)
    return whole, int((seconds - whole) * 1e9)


class LowLevelSession:
    """Mount ``operations`` on ``mountpoint`` and serve it in this thread until it is
    unmounted (``run``)."""

    def __init__(self, fuse_module: Any, operations: Any, mountpoint: str, fsname: str,
                 interval: float, dir_cache: bool = True, plus: bool = True,
                 poll_s: float = 200e-6, push: bool = True) -> None:
        self.fm = fuse_module
        self.lib = fuse_module._libfuse
        self.ops = operations
        self.mountpoint = mountpoint
        self.fsname = fsname
        self.interval = interval
        self.timeout = max(0.1, interval / 2)  # kernel caching of entries and attributes
        #: Whether changes are pushed to the kernel (decided at INIT: ``_ll_init``).
        self.push = False
        self._may_push = push and dir_cache
        self.linger = float(os.environ.get("ECFNB_FUSE_LINGER", max(60.0, 4 * interval)))
        self._ready = threading.Event()  # INIT answered: ``push`` is known
        self._stopping = threading.Event()  # the session's stop, once it runs
        self._dir_inos: set[int] = {abi.ROOT_INO}  # the directories the kernel was given
        self._subdirs: dict[str, set[str]] = {}  # their names, by parent
        self.dir_cache = dir_cache
        self.plus = plus  # readdirplus; without it a walk looks up every subdirectory
        self.poll_s = poll_s  # see _loop
        self._paths: dict[int, str] = {abi.ROOT_INO: "/"}
        self._inos: dict[str, int] = {"/": abi.ROOT_INO}
        self._lookups: dict[int, int] = {}
        self._next_ino = itertools.count(abi.ROOT_INO + 1)
        self._dirs: dict[int, _DirHandle] = {}
        self._next_dir = itertools.count(1)
        self._table_lock = threading.Lock()
        self._session: Any = None
        #: records prepared in the background, by path (taken by the first readdir)
        self._prepared: dict[str, _Reply] = {}
        self._last_request = 0.0
        self.prepare_names = int(os.environ.get("ECFNB_FUSE_PREPARE_NAMES", "3000000"))
        self._declare()

    # -- libfuse ---------------------------------------------------------------------
    def _declare(self) -> None:
        """The session's callbacks, as libfuse's ``struct fuse_lowlevel_ops`` (``abi``)."""
        self.info_p, self._ops, self._callbacks = abi.declare(
            self.fm, self.lib, lambda name: getattr(self, "_ll_" + name))

    def run(self) -> None:
        """Mount, serve until unmounted or signalled, then tidy up."""

        options = f"ro,fsname={self.fsname},subtype=ecfnb".encode()
        argv = (ctypes.c_char_p * 3)(b"ecfnb", b"-o", options)
        args = abi.Args(3, argv, 0)
        lib = self.lib
        session = lib.fuse_session_new(ctypes.byref(args), ctypes.byref(self._ops),
                                       ctypes.sizeof(self._ops), None)
        if not session:
            raise MountError("libfuse could not start a session (see the log above)")
        self._session = session
        try:
            if lib.fuse_set_signal_handlers(session) != 0:
                raise MountError("libfuse could not set its signal handlers")
            try:
                if lib.fuse_session_mount(session, self.mountpoint.encode()) != 0:
                    raise MountError(f"mounting on {self.mountpoint} failed (see the log)")
                stop = threading.Event()
                preparer = threading.Thread(target=self._prepare, args=(stop,),
                                            name="ecfnb-fuse-prepare", daemon=True)
                if self.prepare_names > 0:
                    preparer.start()
                pusher = threading.Thread(target=self._push_changes, args=(stop,),
                                          name="ecfnb-fuse-push", daemon=True)
                pusher.start()
                try:
                    self._loop(session)
                finally:
                    stop.set()
                    pusher.join(10)  # no notification into a session being destroyed
                    lib.fuse_session_unmount(session)
            finally:
                lib.fuse_remove_signal_handlers(session)
        finally:
            lib.fuse_session_destroy(session)
            self._session = None

    def _prepare(self, stop: threading.Event, quiet: float = 0.05) -> None:
        """List every directory and build its records, breadth first, while no request
        came in the last ``quiet`` seconds; then say so in the counters (``prepared_s``,
        ``prepared_dirs``, ``prepared_done``)."""
        counters = self.ops.counters
        while not self._ready.is_set():  # the records carry the timeouts INIT decides
            if pause(stop, 0.01):
                return
        started, names = time.perf_counter(), 0
        queue = collections.deque(["/"])
        try:
            while queue and not stop.is_set() and names < self.prepare_names:
                if time.monotonic() - self._last_request < quiet:
                    stop.wait(quiet / 2)
                    continue
                path = queue.popleft()
                try:
                    reply = self._prepared_reply(path)
                except Exception:  # noqa: BLE001 - the readdir lists it and reports it
                    continue
                if reply is None:
                    continue
                names += len(reply.listing.names)
                prefix = path.rstrip("/") + "/"
                queue.extend(prefix + reply.listing.names[i].decode("utf-8", "surrogateescape")
                             for i in sorted(reply.listing.dirs) if i > 1)
        finally:
            counters["prepared_s"] = time.perf_counter() - started
            counters["prepared_names"] = names
            counters["prepared_done"] = 1

    def _push_changes(self, stop: threading.Event) -> None:
        """Sync every half interval while the mount is in use, and tell the kernel which
        directories changed (see the module doc)."""
        self._stopping = stop
        idle, failed, wait = True, False, 0.2
        while not pause(stop, wait):
            # the next look: when the view is due for a sync (half an interval old), or in
            # a second at most (to see the mount go idle), never busier than 20 a second
            wait = min(1.0, max(0.05, self.interval / 2 - self.ops.fsmap.age()))
            if not self.push:
                if self._ready.is_set():
                    return  # the kernel asks: nothing to push
                continue
            if time.monotonic() - self._last_request > self.linger:
                if not idle:
                    self._invalidate_attributes()
                    idle = True
                continue
            idle = False
            answered = self.ops.refresh()
            if not answered and not failed:
                self._invalidate_attributes()
            failed = not answered
            everything, paths = self.ops.take_stale()
            if everything or paths:
                self._invalidate(everything, paths)

    def _known_dirs(self, paths: set[str] | None = None) -> list[tuple[str, int]]:
        """(path, inode) of the directories the kernel holds (of ``paths``, if given)."""
        with self._table_lock:
            inos, dirs = self._inos, self._dir_inos
            return [(p, inos[p]) for p in (inos if paths is None else paths)
                    if p in inos and inos[p] in dirs]

    def _invalidate_attributes(self) -> None:
        """Drop every directory's attributes in the kernel: its next reader asks us."""
        for _path, ino in self._known_dirs():
            if self._stopping.is_set():
                return
            self.lib.fuse_lowlevel_notify_inval_inode(self._session, ino, -1, 0)
        self.ops.counters["invalidated_all"] = self.ops.counters.get("invalidated_all", 0) + 1

    def _invalidate(self, everything: bool, paths: set[str]) -> None:
        """Tell the kernel what changed in the directories a sync touched: a directory
        whose names changed loses its cached listing (listed again here first, and
        compared with what the kernel was given: a meter or a label changes its node's
        ancestors but no name), every one its attributes (a state moves an mtime), and
        one no longer there its entry. After a full sync every listing goes."""
        counters, lib, session = self.ops.counters, self.lib, self._session
        for path, ino in self._known_dirs(None if everything else paths):
            if self._stopping.is_set():
                return
            if path == "/" or self.ops.is_dir(path):
                listing, names_changed = None, True
                try:
                    if not everything:
                        listing = self.ops.relist(path)
                        names_changed = listing is not None
                except Exception:  # noqa: BLE001 - let the kernel ask: the readdir reports it
                    pass
                lib.fuse_lowlevel_notify_inval_inode(session, ino, 0 if names_changed else -1, 0)
                if listing is not None:  # a subdirectory it no longer has: its entry goes
                    names = set(listing.names)
                    with self._table_lock:
                        kids = list(self._subdirs.get(path, ()))
                    for kid in kids:
                        raw = kid.encode("utf-8", "surrogateescape")
                        if raw not in names:
                            lib.fuse_lowlevel_notify_inval_entry(session, ino, raw, len(raw))
                key = "pushed_listing" if names_changed else "pushed_attributes"
                counters[key] = counters.get(key, 0) + 1
            else:
                parent, _slash, name = path.rpartition("/")
                parent_ino = self._inos.get(parent or "/")
                if parent_ino is not None:
                    raw = name.encode("utf-8", "surrogateescape")
                    lib.fuse_lowlevel_notify_inval_entry(session, parent_ino, raw, len(raw))
            counters["invalidated"] = counters.get("invalidated", 0) + 1

    def _prepared_reply(self, path: str) -> _Reply | None:
        """Prepare ``path``'s listing for the kernel's first readdir (None if it has
        had one already: the kernel's cache or an opendir takes it from there)."""
        listing = self.ops.prepare_listing(path)
        if listing is None:
            return None
        reply = self._records(path, listing)
        self._prepared[path] = reply
        self.ops.counters["prepared_dirs"] = self.ops.counters.get("prepared_dirs", 0) + 1
        return reply

    def _loop(self, session: Any) -> None:
        """libfuse's single-threaded loop, but after each request it polls for the next
        one for ``poll_s`` before it sleeps. A walker's next request comes some tens of
        microseconds after our reply; asleep, we would be woken by an inter-processor
        interrupt and the wake-up of an idle CPU, which on a virtual machine cost more
        than the request itself. Awake, the request is simply there: a first ``find``
        of a 100k-task server measured ~25% faster. The price is at most ``poll_s`` of
        CPU after the last request of a burst; an idle mount sleeps."""
        lib, poll_s = self.lib, self.poll_s
        buf = abi.Buf()
        poller = select.poll()
        poller.register(lib.fuse_session_fd(session), select.POLLIN)
        poll, clock = poller.poll, time.perf_counter
        try:
            while not lib.fuse_session_exited(session):
                if poll_s:
                    deadline = clock() + poll_s
                    while not poll(0) and clock() < deadline:
                        pass
                res = lib.fuse_session_receive_buf(session, ctypes.byref(buf))
                if res == -errno.EINTR:
                    continue
                if res <= 0:
                    break
                lib.fuse_session_process_buf(session, ctypes.byref(buf))
        finally:
            abi.libc_free(buf.mem)
            lib.fuse_session_reset(session)

    # -- inodes ----------------------------------------------------------------------
    def _path(self, ino: int) -> str:
        path = self._paths.get(ino)
        if path is None:
            raise OSError(errno.ESTALE, "unknown inode")
        return path

    def _ino(self, path: str) -> int:
        """The inode of ``path``, numbered on first sight (no lookup counted)."""
        with self._table_lock:
            ino = self._inos.get(path)
            if ino is None:
                ino = self._inos[path] = next(self._next_ino)
                self._paths[ino] = path
            return ino

    def _looked_up(self, ino: int, path: str, is_dir: bool = False) -> None:
        with self._table_lock:
            if is_dir:
                self._given_dir(ino, path)
            self._lookups[ino] = self._lookups.get(ino, 0) + 1
            self._paths[ino] = path
            self._inos.setdefault(path, ino)

    def _given_dir(self, ino: int, path: str) -> None:
        """Note that the kernel holds directory ``path`` (under ``_table_lock``)."""
        self._dir_inos.add(ino)
        parent, _slash, name = path.rpartition("/")
        if name:
            self._subdirs.setdefault(parent or "/", set()).add(name)

    def _forget(self, ino: int, count: int) -> None:
        with self._table_lock:
            left = self._lookups.get(ino, 0) - count
            if left > 0 or ino == abi.ROOT_INO:
                self._lookups[ino] = max(left, 0)
                return
            self._lookups.pop(ino, None)
            self._dir_inos.discard(ino)
            path = self._paths.pop(ino, None)
            if path is not None and self._inos.get(path) == ino:
                del self._inos[path]

    def _stat(self, attrs: dict[str, Any], ino: int) -> Any:
        st = self.fm.c_stat()
        self.fm.set_st_attrs(st, attrs, use_ns=True)
        st.st_ino = ino
        return st

    def _dir_timeout(self) -> float:
        """How long the kernel may keep a directory's entry and attributes."""
        return PUSHED_TIMEOUT if self.push else self.timeout

    def _timeout(self, attrs: dict[str, Any]) -> float:
        """How long the kernel may keep this entry and its attributes."""
        return self._dir_timeout() if stat.S_ISDIR(attrs["st_mode"]) else self.timeout

    def _entry(self, path: str, attrs: dict[str, Any]) -> abi.EntryParam:
        ino = self._ino(path)
        entry = abi.EntryParam()
        entry.ino = ino
        entry.attr = self._stat(attrs, ino)
        entry.attr_timeout = entry.entry_timeout = self._timeout(attrs)
        if stat.S_ISDIR(attrs["st_mode"]):
            with self._table_lock:
                self._given_dir(ino, path)
        return entry

    # -- requests --------------------------------------------------------------------
    def _answer(self, req: int, work: Any, *args: Any, use: bool = True) -> None:
        """Run ``work`` (which replies); any error becomes the request's errno. ``use``:
        the request is a reader's (the mount is in use: see ``linger``)."""
        if use:
            self._last_request = time.monotonic()
        try:
            work(req, *args)
        except OSError as exc:
            self.lib.fuse_reply_err(req, exc.errno or errno.EIO)
        except Exception:  # noqa: BLE001 - never let an exception into libfuse
            log.exception("FUSE request failed")
            self.lib.fuse_reply_err(req, errno.EIO)

    def _ll_init(self, userdata: int, conn: int) -> None:
        info = ctypes.cast(conn, ctypes.POINTER(self.fm.fuse_conn_info)).contents
        # readdirplus always (not only for the first read of a directory): one format
        if self.plus:
            info.want = (info.want | abi.FUSE_CAP_READDIRPLUS) & ~abi.FUSE_CAP_READDIRPLUS_AUTO
        else:
            info.want &= ~(abi.FUSE_CAP_READDIRPLUS | abi.FUSE_CAP_READDIRPLUS_AUTO)
        self.ops.counters["kernel_dir_cache"] = 1 if self.dir_cache else 0
        capable = info.capable | getattr(info, "capable_ext", 0)  # (64 bits since 3.17)
        self.push = self._may_push and bool(capable & abi.FUSE_CAP_NO_OPENDIR_SUPPORT)
        self.ops.push = self.push
        self.ops.counters["push"] = 1 if self.push else 0
        self._ready.set()

    def _ll_lookup(self, req: int, parent: int, name: bytes) -> None:
        def work(req: int) -> None:
            base = self._path(parent)
            path = base.rstrip("/") + "/" + name.decode("utf-8", "surrogateescape")
            entry = self._entry(path, self.ops.getattr(path))
            self._looked_up(entry.ino, path)
            self.lib.fuse_reply_entry(req, ctypes.byref(entry))
        self._answer(req, work)

    def _ll_forget(self, req: int, ino: int, count: int) -> None:
        self._forget(ino, count)
        self.lib.fuse_reply_none(req)

    def _ll_forget_multi(self, req: int, count: int, forgets: Any) -> None:
        for index in range(count):
            self._forget(forgets[index].ino, forgets[index].nlookup)
        self.lib.fuse_reply_none(req)

    def _ll_getattr(self, req: int, ino: int, info: Any) -> None:
        fh = info.contents.fh if info else None  # fstat of an open file: its handle

        def work(req: int) -> None:
            attrs = self.ops.getattr(self._path(ino), fh)
            self.lib.fuse_reply_attr(req, ctypes.byref(self._stat(attrs, ino)),
                                     self._timeout(attrs))
        self._answer(req, work)

    def _ll_open(self, req: int, ino: int, info: Any) -> None:
        def work(req: int) -> None:
            fi = info.contents
            fi.fh = self.ops.open(self._path(ino), fi.flags)
            self.lib.fuse_reply_open(req, info)
        self._answer(req, work)

    def _ll_read(self, req: int, ino: int, size: int, offset: int, info: Any) -> None:
        def work(req: int) -> None:
            data = self.ops.read(self._path(ino), size, offset, info.contents.fh)
            self.lib.fuse_reply_buf(req, data, len(data))
        self._answer(req, work)

    def _ll_release(self, req: int, ino: int, info: Any) -> None:
        def work(req: int) -> None:
            self.ops.release(self._paths.get(ino, ""), info.contents.fh)
            self.lib.fuse_reply_err(req, 0)
        self._answer(req, work)

    def _ll_opendir(self, req: int, ino: int, info: Any) -> None:
        if self.push:  # never again: the kernel caches every listing, we tell it of changes
            self._answer(req, lambda req: self.lib.fuse_reply_err(req, errno.ENOSYS))
            return
        handle: _DirHandle | None = None

        def work(req: int) -> None:
            nonlocal handle
            path = self._path(ino)
            keep, changed = self.ops.opendir_state(path, defer=True)
            fi = info.contents
            if self.dir_cache:
                fi.cache_readdir = 1
                fi.keep_cache = 1 if keep else 0
                if changed:  # its mtime moved: have the kernel fetch its attributes
                    self.lib.fuse_lowlevel_notify_inval_inode(self._session, ino, -1, 0)
            fh = next(self._next_dir)
            handle = self._dirs[fh] = _DirHandle(path)
            fi.fh = fh
            self.lib.fuse_reply_open(req, info)
            if not keep:
                self._answered_opendir(handle)
        self._answer(req, work)

    def _answered_opendir(self, handle: _DirHandle) -> None:
        """The reply is out: list the directory and build its records now, while the
        reader wakes up and asks for them."""
        try:
            listing = self.ops.prepare_listing(handle.path)
            if listing is not None:
                handle.reply = self._records(handle.path, listing)
        except Exception:  # noqa: BLE001 - the readdir lists again and reports it
            handle.reply = None

    def _ll_releasedir(self, req: int, ino: int, info: Any) -> None:
        self._dirs.pop(info.contents.fh, None)
        self.lib.fuse_reply_err(req, 0)

    def _handle(self, fh: int, ino: int, offset: int) -> _DirHandle:
        """The directory's handle: its open's, or without opendir (``push``) one per
        directory, made afresh at offset 0 (the kernel asks only when its copy went)."""
        key = fh or -ino
        handle = self._dirs.get(key)
        if handle is None or (key < 0 and offset == 0):  # an open we did not see
            handle = self._dirs[key] = _DirHandle(self._path(ino))
        return handle

    def _done(self, fh: int, ino: int) -> None:
        """The listing was read to its end: a handle of no open goes."""
        if not fh:
            self._dirs.pop(-ino, None)

    def _listing_reply(self, fh: int, ino: int, offset: int = 0) -> _Reply:
        handle = self._handle(fh, ino, offset)
        if handle.reply is None:
            listing = self.ops.dir_entries(handle.path)
            prepared = self._prepared.pop(handle.path, None)
            handle.reply = prepared if prepared is not None and \
                prepared.listing is listing else self._records(handle.path, listing)
        return handle.reply

    def _ll_readdirplus(self, req: int, ino: int, size: int, offset: int,
                        info: Any) -> None:
        def work(req: int) -> None:
            fh = info.contents.fh
            handle = self._dirs.get(fh) if fh else None
            if offset == 0 and handle is not None and handle.reply is not None:
                # the prepared records: account for them as a readdir (served, counters)
                if self.ops.dir_entries(handle.path) is not handle.reply.listing:
                    handle.reply = None  # a sync came in between: build again
            reply = self._listing_reply(fh, ino, offset)
            started = time.perf_counter()
            count = len(reply.ends)
            if offset >= count:
                self._done(fh, ino)
                self.lib.fuse_reply_buf(req, None, 0)
                return
            begin = reply.ends[offset - 1] if offset else 0
            stop = bisect.bisect_right(reply.ends, begin + size, lo=offset)
            if stop == offset:
                self.lib.fuse_reply_err(req, errno.EINVAL)  # not even one record fits
                return
            for index, child_ino, path in reply.plus:
                if offset <= index < stop:
                    self._looked_up(child_ino, path, True)
            end = reply.ends[stop - 1]
            self.lib.fuse_reply_buf(req, reply.blob[begin:end], end - begin)
            self.ops.counters["filler_s"] += time.perf_counter() - started
        self._answer(req, work)

    def _ll_readdir(self, req: int, ino: int, size: int, offset: int, info: Any) -> None:
        """Plain records, for a kernel without readdirplus (``ECFNB_FUSE_READDIRPLUS=0``
        in the daemon's environment: for tests)."""
        def work(req: int) -> None:
            names = self._listing_reply(info.contents.fh, ino, offset).listing
            if offset >= len(names.names):
                self._done(info.contents.fh, ino)
            buf = ctypes.create_string_buffer(size)
            used = 0
            st = self.fm.c_stat()
            st.st_ino = abi.UNKNOWN_INO  # readdir(3) skips an entry whose d_ino is 0
            for index in range(offset, len(names.names)):
                st.st_mode = stat.S_IFDIR if index in names.dirs else stat.S_IFREG
                add = self.lib.fuse_add_direntry(
                    req, ctypes.addressof(buf) + used, size - used, names.names[index],
                    ctypes.byref(st), index + 1)
                if used + add > size:
                    break
                used += add
            self.lib.fuse_reply_buf(req, buf.raw[:used], used)
        self._answer(req, work)

    def _records(self, path: str, listing: Any) -> _Reply:
        """The readdirplus records of ``listing``: files without attributes (nodeid
        0: ``find -name`` needs only name and type), subdirectories with them when
        the listing gave them, so that a walk descends without a lookup."""
        started = time.perf_counter()
        names, dirs = listing.names, listing.dirs
        file_head, dirent, pads = abi.FILE_ENTRY_OUT, abi.DIRENT.pack, abi.PADS
        parts = [file_head + dirent(abi.UNKNOWN_INO, index + 1, len(name), abi.DT_REG) + name
                 + pads[len(name) & 7] for index, name in enumerate(names)]
        plus: list[tuple[int, int, str]] = []
        prefix = path.rstrip("/") + "/"
        valid, valid_ns = _valid(self._dir_timeout())
        for index in dirs:
            name = names[index]
            child = prefix + name.decode("utf-8", "surrogateescape")
            # '.' and '..' never with attributes
            attrs = self.ops.listed_dir_attrs(child) if index > 1 else None
            if attrs is None:
                head, child_ino = abi.DIR_ENTRY_OUT, abi.UNKNOWN_INO
            else:
                child_ino = self._ino(child)
                mtime = attrs["st_mtime"]
                head = abi.ENTRY_OUT.pack(
                    child_ino, 0, valid, valid, valid_ns, valid_ns,
                    child_ino, 0, 0, mtime // 10**9, mtime // 10**9, mtime // 10**9,
                    mtime % 10**9, mtime % 10**9, mtime % 10**9, attrs["st_mode"],
                    attrs["st_nlink"], attrs["st_uid"], attrs["st_gid"], 0, 0, 0)
                plus.append((index, child_ino, child))
            parts[index] = head + dirent(child_ino, index + 1, len(name), abi.DT_DIR) + name \
                + pads[len(name) & 7]
        ends = list(itertools.accumulate(map(len, parts)))
        reply = _Reply(listing, b"".join(parts), ends, plus)
        self.ops.counters["records_s"] = self.ops.counters.get("records_s", 0.0) \
            + time.perf_counter() - started
        return reply

    def _ll_statfs(self, req: int, ino: int) -> None:
        def work(req: int) -> None:
            stv = self.fm.c_statvfs()
            for key, value in self.ops.statfs("/").items():
                if hasattr(stv, key):
                    setattr(stv, key, value)
            self.lib.fuse_reply_statfs(req, ctypes.byref(stv))
        self._answer(req, work)

    def _ll_getxattr(self, req: int, ino: int, name: bytes, size: int) -> None:
        def work(req: int) -> None:
            value = self.ops.getxattr(self._path(ino), name.decode("utf-8", "surrogateescape"))
            self._reply_sized(req, value, size)
        # (reading the counters does not keep an idle mount polling)
        self._answer(req, work, use=name.decode("utf-8", "replace") not in self.ops.QUIET_XATTRS)

    def _ll_listxattr(self, req: int, ino: int, size: int) -> None:
        def work(req: int) -> None:
            names = self.ops.listxattr(self._path(ino))
            self._reply_sized(req, b"".join(n.encode() + b"\0" for n in names), size)
        self._answer(req, work)

    def _reply_sized(self, req: int, value: bytes, size: int) -> None:
        if size == 0:
            self.lib.fuse_reply_xattr(req, len(value))
        elif len(value) > size:
            self.lib.fuse_reply_err(req, errno.ERANGE)
        else:
            self.lib.fuse_reply_buf(req, value, len(value))

    def _ll_access(self, req: int, ino: int, mask: int) -> None:
        def work(req: int) -> None:
            self.ops.access(self._path(ino), mask)
            self.lib.fuse_reply_err(req, 0)
        self._answer(req, work)
