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
- the loop is ours: it polls for the next request a moment before sleeping (``_loop``).

The inode table is ours: inode numbers are never reused within a mount (generation
0), a path keeps its number while the kernel holds it (lookup counts, FORGET).
Structures come from mfusepy (``c_stat``, ``fuse_file_info``, ``c_statvfs``), which
also finds libfuse. The readdirplus record layout is the kernel's FUSE protocol
(``struct fuse_direntplus``), stable since protocol 7.21.
"""

from __future__ import annotations

import bisect
import ctypes
import errno
import itertools
import logging
import select
import stat
import struct
import threading
import time
from typing import Any

from ..errors import MountError

log = logging.getLogger(__name__)

FUSE_CAP_READDIRPLUS = 1 << 13
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14
UNKNOWN_INO = 0xFFFFFFFF
ROOT_INO = 1
DT_DIR, DT_REG = stat.S_IFDIR >> 12, stat.S_IFREG >> 12

# struct fuse_direntplus: fuse_entry_out (nodeid, generation, entry_valid, attr_valid,
# their nsecs, then fuse_attr) followed by fuse_dirent (ino, off, namelen, type, name
# padded to 8 bytes)
_ENTRY_OUT = struct.Struct("<QQQQII" "QQQQQQIIIIIIIIII")
_DIRENT = struct.Struct("<QQII")


def _bare_entry_out(mode: int) -> bytes:
    """An entry without attributes: nodeid 0 (the kernel takes only name and type)."""
    return _ENTRY_OUT.pack(0, 0, 0, 0, 0, 0, UNKNOWN_INO, 0, 0, 0, 0, 0, 0, 0, 0, mode,
                           0, 0, 0, 0, 0, 0)


_FILE_ENTRY_OUT, _DIR_ENTRY_OUT = _bare_entry_out(stat.S_IFREG), _bare_entry_out(stat.S_IFDIR)
_PADS = tuple(b"\0" * ((8 - n % 8) % 8) for n in range(8))


class _EntryParam(ctypes.Structure):
    pass


class _Args(ctypes.Structure):
    _fields_ = [("argc", ctypes.c_int), ("argv", ctypes.POINTER(ctypes.c_char_p)),
                ("allocated", ctypes.c_int)]


class _Buf(ctypes.Structure):
    """struct fuse_buf (libfuse 3), with room to spare should a later version add to
    its end: libfuse allocates ``mem`` and we free it."""

    _fields_ = [("size", ctypes.c_size_t), ("flags", ctypes.c_int), ("mem", ctypes.c_void_p),
                ("fd", ctypes.c_int), ("pos", ctypes.c_int64),
                ("spare", ctypes.c_uint64 * 8)]


def _libc_free(address: int | None) -> None:
    if address:
        libc = ctypes.CDLL(None)
        libc.free.argtypes = [ctypes.c_void_p]
        libc.free(address)


class _ForgetData(ctypes.Structure):
    _fields_ = [("ino", ctypes.c_uint64), ("nlookup", ctypes.c_uint64)]


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
                 poll_s: float = 200e-6) -> None:
        self.fm = fuse_module
        self.lib = fuse_module._libfuse
        self.ops = operations
        self.mountpoint = mountpoint
        self.fsname = fsname
        self.timeout = max(0.1, interval / 2)  # kernel caching of entries and attributes
        self.dir_cache = dir_cache
        self.plus = plus  # readdirplus; without it a walk looks up every subdirectory
        self.poll_s = poll_s  # see _loop
        self._paths: dict[int, str] = {ROOT_INO: "/"}
        self._inos: dict[str, int] = {"/": ROOT_INO}
        self._lookups: dict[int, int] = {}
        self._next_ino = itertools.count(ROOT_INO + 1)
        self._dirs: dict[int, _DirHandle] = {}
        self._next_dir = itertools.count(1)
        self._table_lock = threading.Lock()
        self._session: Any = None
        self._declare()

    # -- libfuse ---------------------------------------------------------------------
    def _declare(self) -> None:
        fm, lib, c = self.fm, self.lib, ctypes
        _EntryParam._fields_ = [("ino", c.c_uint64), ("generation", c.c_uint64),
                                ("attr", fm.c_stat), ("attr_timeout", c.c_double),
                                ("entry_timeout", c.c_double)]
        req, ino, info_p = c.c_void_p, c.c_uint64, c.POINTER(fm.fuse_file_info)
        self.info_p = info_p
        none = None
        protos = {
            "init": c.CFUNCTYPE(none, c.c_void_p, c.c_void_p),
            "lookup": c.CFUNCTYPE(none, req, ino, c.c_char_p),
            "forget": c.CFUNCTYPE(none, req, ino, c.c_uint64),
            "getattr": c.CFUNCTYPE(none, req, ino, info_p),
            "open": c.CFUNCTYPE(none, req, ino, info_p),
            "read": c.CFUNCTYPE(none, req, ino, c.c_size_t, c.c_int64, info_p),
            "release": c.CFUNCTYPE(none, req, ino, info_p),
            "opendir": c.CFUNCTYPE(none, req, ino, info_p),
            "readdir": c.CFUNCTYPE(none, req, ino, c.c_size_t, c.c_int64, info_p),
            "releasedir": c.CFUNCTYPE(none, req, ino, info_p),
            "statfs": c.CFUNCTYPE(none, req, ino),
            "getxattr": c.CFUNCTYPE(none, req, ino, c.c_char_p, c.c_size_t),
            "listxattr": c.CFUNCTYPE(none, req, ino, c.c_size_t),
            "access": c.CFUNCTYPE(none, req, ino, c.c_int),
            "forget_multi": c.CFUNCTYPE(none, req, c.c_size_t, c.POINTER(_ForgetData)),
            "readdirplus": c.CFUNCTYPE(none, req, ino, c.c_size_t, c.c_int64, info_p),
        }
        # struct fuse_lowlevel_ops, in libfuse 3's order, up to readdirplus
        order = ["init", "destroy", "lookup", "forget", "getattr", "setattr", "readlink",
                 "mknod", "mkdir", "unlink", "rmdir", "symlink", "rename", "link", "open",
                 "read", "write", "flush", "release", "fsync", "opendir", "readdir",
                 "releasedir", "fsyncdir", "statfs", "setxattr", "getxattr", "listxattr",
                 "removexattr", "access", "create", "getlk", "setlk", "bmap", "ioctl",
                 "poll", "write_buf", "retrieve_reply", "forget_multi", "flock",
                 "fallocate", "readdirplus"]

        class Ops(ctypes.Structure):
            _fields_ = [(name, protos.get(name, c.c_void_p)) for name in order]

        self._ops = Ops()
        self._callbacks = []  # the ctypes callbacks must outlive the session
        for name, proto in protos.items():
            callback = proto(getattr(self, "_ll_" + name))
            self._callbacks.append(callback)
            setattr(self._ops, name, callback)
        for name, restype, argtypes in [
            ("fuse_session_new", c.c_void_p, [c.POINTER(_Args), c.c_void_p, c.c_size_t,
                                              c.c_void_p]),
            ("fuse_session_mount", c.c_int, [c.c_void_p, c.c_char_p]),
            ("fuse_session_receive_buf", c.c_int, [c.c_void_p, c.c_void_p]),
            ("fuse_session_process_buf", None, [c.c_void_p, c.c_void_p]),
            ("fuse_session_exited", c.c_int, [c.c_void_p]),
            ("fuse_session_fd", c.c_int, [c.c_void_p]),
            ("fuse_session_reset", None, [c.c_void_p]),
            ("fuse_session_unmount", None, [c.c_void_p]),
            ("fuse_session_destroy", None, [c.c_void_p]),
            ("fuse_set_signal_handlers", c.c_int, [c.c_void_p]),
            ("fuse_remove_signal_handlers", None, [c.c_void_p]),
            ("fuse_reply_err", c.c_int, [c.c_void_p, c.c_int]),
            ("fuse_reply_none", None, [c.c_void_p]),
            ("fuse_reply_entry", c.c_int, [c.c_void_p, c.POINTER(_EntryParam)]),
            ("fuse_reply_attr", c.c_int, [c.c_void_p, c.POINTER(fm.c_stat), c.c_double]),
            ("fuse_reply_open", c.c_int, [c.c_void_p, info_p]),
            ("fuse_reply_buf", c.c_int, [c.c_void_p, c.c_char_p, c.c_size_t]),
            ("fuse_reply_statfs", c.c_int, [c.c_void_p, c.POINTER(fm.c_statvfs)]),
            ("fuse_reply_xattr", c.c_int, [c.c_void_p, c.c_size_t]),
            ("fuse_add_direntry", c.c_size_t, [c.c_void_p, c.c_void_p, c.c_size_t,
                                               c.c_char_p, c.POINTER(fm.c_stat),
                                               c.c_int64]),
            ("fuse_lowlevel_notify_inval_inode", c.c_int, [c.c_void_p, c.c_uint64,
                                                           c.c_int64, c.c_int64]),
        ]:
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes

    def run(self) -> None:
        """Mount, serve until unmounted or signalled, then tidy up."""

        options = f"ro,fsname={self.fsname},subtype=ecfnb".encode()
        argv = (ctypes.c_char_p * 3)(b"ecfnb", b"-o", options)
        args = _Args(3, argv, 0)
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
                try:
                    self._loop(session)
                finally:
                    lib.fuse_session_unmount(session)
            finally:
                lib.fuse_remove_signal_handlers(session)
        finally:
            lib.fuse_session_destroy(session)
            self._session = None

    def _loop(self, session: Any) -> None:
        """libfuse's single-threaded loop, but after each request it polls for the next
        one for ``poll_s`` before it sleeps. A walker's next request comes some tens of
        microseconds after our reply; asleep, we would be woken by an inter-processor
        interrupt and the wake-up of an idle CPU, which on a virtual machine cost more
        than the request itself. Awake, the request is simply there: a first ``find``
        of a 100k-task server measured ~25% faster. The price is at most ``poll_s`` of
        CPU after the last request of a burst; an idle mount sleeps."""
        lib, poll_s = self.lib, self.poll_s
        buf = _Buf()
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
            _libc_free(buf.mem)
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

    def _looked_up(self, ino: int, path: str) -> None:
        with self._table_lock:
            self._lookups[ino] = self._lookups.get(ino, 0) + 1
            self._paths[ino] = path
            self._inos.setdefault(path, ino)

    def _forget(self, ino: int, count: int) -> None:
        with self._table_lock:
            left = self._lookups.get(ino, 0) - count
            if left > 0 or ino == ROOT_INO:
                self._lookups[ino] = max(left, 0)
                return
            self._lookups.pop(ino, None)
            path = self._paths.pop(ino, None)
            if path is not None and self._inos.get(path) == ino:
                del self._inos[path]

    def _stat(self, attrs: dict[str, Any], ino: int) -> Any:
        st = self.fm.c_stat()
        self.fm.set_st_attrs(st, attrs, use_ns=True)
        st.st_ino = ino
        return st

    def _entry(self, path: str, attrs: dict[str, Any]) -> _EntryParam:
        ino = self._ino(path)
        entry = _EntryParam()
        entry.ino = ino
        entry.attr = self._stat(attrs, ino)
        entry.attr_timeout = entry.entry_timeout = self.timeout
        return entry

    # -- requests --------------------------------------------------------------------
    def _answer(self, req: int, work: Any, *args: Any) -> None:
        """Run ``work`` (which replies); any error becomes the request's errno."""
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
            info.want = (info.want | FUSE_CAP_READDIRPLUS) & ~FUSE_CAP_READDIRPLUS_AUTO
        else:
            info.want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO)
        self.ops.counters["kernel_dir_cache"] = 1 if self.dir_cache else 0

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
            st = self._stat(self.ops.getattr(self._path(ino), fh), ino)
            self.lib.fuse_reply_attr(req, ctypes.byref(st), self.timeout)
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

    def _listing_reply(self, fh: int, ino: int) -> _Reply:
        handle = self._dirs.get(fh)
        if handle is None:  # an open we did not see: list afresh
            handle = self._dirs[fh] = _DirHandle(self._path(ino))
        if handle.reply is None:
            listing = self.ops.dir_entries(handle.path)
            handle.reply = self._records(handle.path, listing)
        return handle.reply

    def _ll_readdirplus(self, req: int, ino: int, size: int, offset: int,
                        info: Any) -> None:
        def work(req: int) -> None:
            handle = self._dirs.get(info.contents.fh)
            if offset == 0 and handle is not None and handle.reply is not None:
                # the prepared records: account for them as a readdir (served, counters)
                if self.ops.dir_entries(handle.path) is not handle.reply.listing:
                    handle.reply = None  # a sync came in between: build again
            reply = self._listing_reply(info.contents.fh, ino)
            started = time.perf_counter()
            count = len(reply.ends)
            if offset >= count:
                self.lib.fuse_reply_buf(req, None, 0)
                return
            begin = reply.ends[offset - 1] if offset else 0
            stop = bisect.bisect_right(reply.ends, begin + size, lo=offset)
            if stop == offset:
                self.lib.fuse_reply_err(req, errno.EINVAL)  # not even one record fits
                return
            for index, child_ino, path in reply.plus:
                if offset <= index < stop:
                    self._looked_up(child_ino, path)
            end = reply.ends[stop - 1]
            self.lib.fuse_reply_buf(req, reply.blob[begin:end], end - begin)
            self.ops.counters["filler_s"] += time.perf_counter() - started
        self._answer(req, work)

    def _ll_readdir(self, req: int, ino: int, size: int, offset: int, info: Any) -> None:
        """Plain records, for a kernel without readdirplus (``ECFNB_FUSE_READDIRPLUS=0``
        in the daemon's environment: for tests)."""
        def work(req: int) -> None:
            names = self._listing_reply(info.contents.fh, ino).listing
            buf = ctypes.create_string_buffer(size)
            used = 0
            st = self.fm.c_stat()
            st.st_ino = UNKNOWN_INO  # readdir(3) skips an entry whose d_ino is 0
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
        file_head, dirent, pads = _FILE_ENTRY_OUT, _DIRENT.pack, _PADS
        parts = [file_head + dirent(UNKNOWN_INO, index + 1, len(name), DT_REG) + name
                 + pads[len(name) & 7] for index, name in enumerate(names)]
        plus: list[tuple[int, int, str]] = []
        prefix = path.rstrip("/") + "/"
        valid, valid_ns = _valid(self.timeout)
        for index in dirs:
            name = names[index]
            child = prefix + name.decode("utf-8", "surrogateescape")
            # '.' and '..' never with attributes
            attrs = self.ops.listed_dir_attrs(child) if index > 1 else None
            if attrs is None:
                head, child_ino = _DIR_ENTRY_OUT, UNKNOWN_INO
            else:
                child_ino = self._ino(child)
                mtime = attrs["st_mtime"]
                head = _ENTRY_OUT.pack(
                    child_ino, 0, valid, valid, valid_ns, valid_ns,
                    child_ino, 0, 0, mtime // 10**9, mtime // 10**9, mtime // 10**9,
                    mtime % 10**9, mtime % 10**9, mtime % 10**9, attrs["st_mode"],
                    attrs["st_nlink"], attrs["st_uid"], attrs["st_gid"], 0, 0, 0)
                plus.append((index, child_ino, child))
            parts[index] = head + dirent(child_ino, index + 1, len(name), DT_DIR) + name \
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
        self._answer(req, work)

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
