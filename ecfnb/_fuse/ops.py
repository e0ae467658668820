"""FUSE operations over ``FileSystemMap``: the server as a read-only directory tree.

Why it is built this way:
- it is an adapter: names, kinds, sizes, mtimes and bytes all come from fsmap;
- freshness: the view is synced when an operation finds it older than ``interval /
  2``, and, where the kernel allows it, every ``interval / 2`` by the session while the
  mount is in use, which then tells the kernel which directories changed (``push``:
  see ``session``; directories are cached until told, files for ``interval / 2``);
  what ``ls`` shows is at most one interval old, and an idle mount sends the server
  nothing (every ``news`` request writes a line in the server log);
- without push (an older kernel, or ``ECFNB_FUSE_PUSH=0``) the kernel caches entries
  and attributes for ``interval / 2`` and directory listings (FOPEN_CACHE_DIR): a
  repeated ``find`` reads them from its page cache and only ``opendir`` reaches us.
  Each ``opendir`` tells the kernel whether its copy is still current
  (FOPEN_KEEP_CACHE): yes unless a sync since it was served touched that directory (a
  changed node changes its parent's listing and, through computed states, every
  ancestor's); a touched directory is listed again and compared. So listings are as
  fresh as the view, without waiting for a timeout.
  A directory the kernel never had needs no listing to answer its opendir: it is
  listed just after the reply has gone out (``prepare_listing``), while the reader
  wakes up and asks for the entries; a first ``find`` at 100k tasks takes ~15% less.
  A directory's mtime also moves (by nanoseconds) when its listing changes, which makes
  the kernel drop any copy that a race with the change left behind
  (``ECFNB_FUSE_DIR_CACHE=0`` in the daemon's environment turns listing caching off);
- ``readdir`` hands the kernel each entry's type, so ``find -name`` never stats a file
  (a stat of ``t.ecf`` costs a server request: true sizes need the contents), and each
  subdirectory's attributes (readdirplus), so ``find`` descends without a lookup: a
  round trip to this process costs more than the work it asks for;
- libfuse 3 is driven through its low-level API (``session``): the records of
  a listing are built in one piece, the cache flags are ours to set, and the loop
  polls a moment for the next request instead of sleeping at once;
- one FUSE thread: the ecflow binding holds the GIL through every server request, so
  more threads overlap nothing and cost a thread hand-over per request;
- open files keep their resolved ``MappedFile``: a big ``cat`` is ``pread`` calls;
- a server that does not answer gives EIO at once for ``retry`` seconds after a failed
  sync instead of making every call wait for the connection timeout again.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import threading
import time
from ctypes.util import find_library
from typing import Any, NamedTuple

from .._map.fsmap import Entry, FileSystemMap, MappedFile
from .._server.server import SyncResult
from ..errors import BadPath, EcfnbError, MountError, NodeNotFound, ServerUnreachable

log = logging.getLogger(__name__)

#: getxattr name on any path of the mount: the daemon's counters as JSON (tests, benchmarks).
COUNTERS_XATTR = "user.ecfnb.counters"


def load_fuse() -> Any:
    """mfusepy (libfuse 3 and 2), else fusepy's ``fuse`` (libfuse 2). mfusepy takes
    libfuse 2 when both are installed; we ask for the current one, 3."""
    if not os.environ.get("FUSE_LIBRARY_PATH") and find_library("fuse3"):
        os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")
    try:
        import mfusepy as fuse_module
    except ImportError:
        try:
            import fuse as fuse_module  # fusepy
        except ImportError:
            raise MountError("no Python FUSE binding: pip install 'ecfnb[fuse]' (mfusepy)"
                             ) from None
        except OSError as exc:
            raise MountError(f"libfuse is missing ({exc}): sudo apt-get install fuse3") from None
    except OSError as exc:
        raise MountError(f"libfuse is missing ({exc}): sudo apt-get install fuse3") from None
    return fuse_module


def make_operations(fsmap: FileSystemMap, interval: float = 10.0) -> Any:
    """An ``Operations`` instance of whichever FUSE binding is installed."""
    fuse_module = load_fuse()

    class EcflowOperations(_OperationsMixin, fuse_module.Operations):
        FuseOSError = fuse_module.FuseOSError

    return EcflowOperations(fsmap, interval)


def mount_options(interval: float) -> dict[str, Any]:
    """Kernel caching: half an interval for entries and attributes (see module doc)."""
    half = max(0.1, interval / 2)
    return {"ro": True, "entry_timeout": half, "attr_timeout": half, "negative_timeout": 0,
            "auto_cache": True}


class DirNames(NamedTuple):
    """A listing as FUSE serves it: names encoded, '.' and '..' first, and the indexes
    of the directories among them."""

    names: list[bytes]
    dirs: frozenset[int]


class _Dir:
    """What the kernel was last given for one directory."""

    __slots__ = ("signature", "version", "current", "pending")

    def __init__(self, signature: int) -> None:
        self.signature = signature  # hash of the names and directories served
        #: Bumped each time the listing changes, and added to the directory's mtime in
        #: nanoseconds: the kernel drops a cached listing whose directory's mtime moved
        #: since it began filling it, so a fill that raced a change (an old listing read
        #: slowly, or two readers across a sync) cannot outlive an attribute timeout.
        self.version = 0
        self.current = True       # no sync since it was served has touched this directory
        self.pending: tuple[int, DirNames] | None = None  # opendir's listing


class _OperationsMixin:
    """The FUSE callbacks; write-like ones are refused by the kernel (``-o ro``) and,
    should one arrive, by the binding's defaults, which answer EROFS."""

    FuseOSError: type[Exception]
    use_ns = True
    #: Extended attributes whose reading is not a reader's use of the mount (the
    #: session's idle rule): the counters a test or a benchmark polls.
    QUIET_XATTRS = frozenset({COUNTERS_XATTR})

    def __init__(self, fsmap: FileSystemMap, interval: float, retry: float = 1.0) -> None:
        self.fsmap = fsmap
        self.interval = interval
        self.retry = retry
        self._uid, self._gid = os.getuid(), os.getgid()
        self._failed_at = 0.0
        self._handles: dict[int, MappedFile] = {}
        self._next_fh = 1
        self._fh_lock = threading.Lock()
        self._dirs: dict[str, _Dir] = {}
        self._dir_lock = threading.Lock()
        self._generation = fsmap.server.generation
        #: opendir calls, and how many were told to keep the kernel's copy; readdir calls
        #: (the kernel's cache missed), listings computed and seconds spent on them and
        #: in the filler loop; getattr calls, and how many a parent's listing answered;
        #: 1 when the kernel caches listings.
        self.counters: dict[str, float] = {
            "opendir": 0, "kept": 0, "readdir": 0, "listed": 0, "listing_s": 0.0,
            "filler_s": 0.0, "prepared": 0, "getattr": 0, "getattr_listed": 0,
            "kernel_dir_cache": 0}
        #: a subdirectory's (generation, mtime) as its parent's listing gave it: its
        #: attributes in readdirplus replies and lookups, without asking fsmap again.
        self._dir_attrs: dict[str, tuple[int, float]] = {}
        #: Set by the session when it tells the kernel of changes itself (``push``):
        #: then the directories a sync touched are collected for it (``take_stale``).
        self.push = False
        self._stale: set[str] = set()
        self._stale_all = False
        self._moved: set[str] = set()  # stale directories whose mtime moved already

    # -- freshness and errors ----------------------------------------------------------
    def _fresh(self) -> None:
        """The view, synced when older than half the interval (``refresh_if_older``);
        a server that just failed gives EIO at once for ``retry`` seconds."""
        if time.monotonic() - self._failed_at < self.retry:
            raise self.FuseOSError(errno.EIO)
        try:
            result = self.fsmap.refresh_if_older(self.interval / 2)
        except ServerUnreachable as exc:
            self._failed_at = time.monotonic()
            log.warning("%s", exc)
            raise self.FuseOSError(errno.EIO) from None
        if result is not None:
            self._note_sync(result)
            self._failed_at = 0.0

    def _note_sync(self, result: SyncResult) -> None:
        """Mark the listings a sync may have changed as no longer current (and, when
        the session pushes changes to the kernel, collect them for it)."""
        with self._dir_lock:
            if result.generation == self._generation:
                return
            if result.full or result.generation != self._generation + 1:
                touched = list(self._dirs)  # everything, or a sync we did not see
                self._stale_all = self._stale_all or self.push
            else:
                touched = []
                for path in result.changed:
                    while True:  # the node itself (aliases) and every ancestor
                        touched.append(path)
                        if path == "/":
                            break
                        path = path.rpartition("/")[0] or "/"
            for path in touched:
                entry = self._dirs.get(path)
                if entry is not None:
                    entry.current = False
            if self.push:
                self._stale.update(touched)
            self._generation = result.generation

    def take_stale(self) -> tuple[bool, set[str]]:
        """(everything, the directories) the syncs since the last call touched."""
        with self._dir_lock:
            found = self._stale_all, self._stale
            self._stale_all, self._stale, self._moved = False, set(), set()
        return found

    def refresh(self) -> bool:
        """Sync when the view is due (the push thread's poll); whether the server
        answered (or was not asked)."""
        try:
            self._fresh()
        except self.FuseOSError:
            return False
        return True

    def relist(self, path: str) -> DirNames | None:
        """List a directory again after a sync touched it, for the kernel's next readdir:
        the listing if its names changed since the kernel was given them (then its
        mtime moves), else None."""
        generation, listing = self._listing(path)
        same, _changed = self._served(path, generation, listing, pending=True)
        return None if same else listing

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory of the map now (without a sync)."""
        try:
            return self.fsmap.stat(path, fetch=False).kind == "dir"
        except (EcfnbError, OSError):
            return False

    def _call(self, fn: Any, *args: Any) -> Any:
        self._fresh()
        try:
            return fn(*args)
        except (NodeNotFound, BadPath):
            raise self.FuseOSError(errno.ENOENT) from None
        except NotADirectoryError:
            raise self.FuseOSError(errno.ENOTDIR) from None
        except IsADirectoryError:
            raise self.FuseOSError(errno.EISDIR) from None
        except ServerUnreachable:
            self._failed_at = time.monotonic()
            raise self.FuseOSError(errno.EIO) from None
        except EcfnbError as exc:
            log.warning("%s", exc)
            raise self.FuseOSError(errno.EIO) from None

    # -- directory listings ------------------------------------------------------------
    def _listing(self, path: str) -> tuple[int, DirNames]:
        """The server generation and the listing of ``path`` as of that generation
        (-1 when a sync came while listing: then it may be of either)."""
        server = self.fsmap.server
        before = server.generation
        started = time.perf_counter()
        listing = self._call(self.fsmap.names, path)
        # encoded in one go (names never hold NUL): 700k names in ~40 ms, not ~200
        encoded = "\0".join((".", "..", *listing.names)).encode(
            "utf-8", "surrogateescape").split(b"\0")
        dirs = frozenset((0, 1, *[index + 2 for index in listing.dirs]))
        if server.generation != before:
            before = -1
        else:  # the subdirectories' attributes, for the lookups that follow
            synced = server.last_sync.timestamp() if server.last_sync else 0.0
            prefix = path.rstrip("/") + "/"
            attrs, names = self._dir_attrs, listing.names
            for index, mtime in listing.dirs.items():
                if mtime != synced:  # not a time that moves by itself
                    attrs[prefix + names[index]] = (before, mtime)
        self.counters["listed"] += 1
        self.counters["listing_s"] += time.perf_counter() - started
        return before, DirNames(encoded, dirs)

    def _served(self, path: str, generation: int, listing: DirNames,
                pending: bool = False) -> tuple[bool, bool]:
        """Record that the kernel has (or will have, from the coming readdir) ``listing``
        of ``path``: (same as what it was given before, changed since then)."""
        signature = hash((tuple(listing.names), listing.dirs))
        with self._dir_lock:
            entry = self._dirs.get(path)
            if entry is None:
                entry = self._dirs[path] = _Dir(signature)
                same = changed = False  # the kernel never had it: nothing to keep
            else:
                same = entry.signature == signature
                changed = not same
                if changed:
                    entry.version = (entry.version + 1) % 1_000_000_000
                    entry.signature = signature
            # current only if no sync came since the listing was made (see _note_sync)
            entry.current = generation == self.fsmap.server.generation
            # for the readdir that follows an opendir, unless the kernel keeps its copy
            entry.pending = (generation, listing) if pending and not same else None
        return same, changed

    def opendir_state(self, path: str, defer: bool = False) -> tuple[bool, bool]:
        """(keep, changed): whether the kernel may keep its cached listing of ``path``
        (FOPEN_KEEP_CACHE); whether the listing changed since the kernel was given it
        (then the directory's mtime moved: its cached attributes are stale too).
        ``defer``: the caller runs ``prepare_listing`` once the reply is sent, so a
        directory the kernel never had (a known subdirectory) is listed then."""
        self._fresh()
        self.counters["opendir"] += 1
        with self._dir_lock:
            entry = self._dirs.get(path)
            if entry is not None and entry.current:
                self.counters["kept"] += 1
                return True, False
            if defer and entry is None and path in self._dir_attrs:
                return False, False  # nothing to keep or compare: the answer needs no listing
        generation, listing = self._listing(path)
        keep, changed = self._served(path, generation, listing, pending=True)
        self.counters["kept"] += keep
        return keep, changed

    def prepare_listing(self, path: str) -> DirNames | None:
        """List a directory whose opendir was answered without its listing, for the
        readdir that follows: done after the reply, while the kernel passes it on and
        the reader asks for the entries, this work overlaps theirs instead of adding
        to it (about a tenth of a first ``find``). None if there was nothing to do
        or listing failed (the readdir lists again and reports it)."""
        with self._dir_lock:
            if path in self._dirs:
                return None
        try:
            generation, listing = self._listing(path)
        except Exception:  # noqa: BLE001 - the readdir lists again and reports it
            return None
        self.counters["prepared"] += 1
        self._served(path, generation, listing, pending=True)
        return listing

    def dir_entries(self, path: str) -> DirNames:
        """The names of ``path``, encoded, with '.' and '..'."""
        self._fresh()
        self.counters["readdir"] += 1
        with self._dir_lock:
            entry = self._dirs.get(path)
            pending = entry.pending if entry is not None else None
            if pending is not None and pending[0] == self.fsmap.server.generation:
                entry.pending = None  # recorded by _served when it was made
                return pending[1]
        generation, listing = self._listing(path)
        self._served(path, generation, listing)
        return listing

    def _dir_version(self, path: str) -> int:
        """The nanoseconds added to a directory's mtime. A directory a sync touched
        before the session pushed it (``push``; after an idle mount wakes, the reader's
        own request brings the sync) moves its mtime once: the kernel that asks for its
        attributes now drops its copy of the listing by itself."""
        entry = self._dirs.get(path)
        if entry is None:
            return 0
        if self.push and path not in self._moved and (self._stale_all or path in self._stale):
            with self._dir_lock:
                entry.version = (entry.version + 1) % 1_000_000_000
                self._moved.add(path)
        return entry.version

    def listed_dir_attrs(self, path: str) -> dict[str, Any] | None:
        """A subdirectory's attributes as its parent's listing at this generation gave
        them (what ``getattr`` would answer), else None."""
        known = self._dir_attrs.get(path)
        if known is None or known[0] != self.fsmap.server.generation:
            return None
        mtime_ns = int(known[1] * 1e9) + self._dir_version(path)
        return {"st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2, "st_size": 0,
                "st_blocks": 0, "st_uid": self._uid, "st_gid": self._gid,
                "st_mtime": mtime_ns, "st_ctime": mtime_ns, "st_atime": mtime_ns}

    # -- callbacks -------------------------------------------------------------------
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        self.counters["getattr"] += 1
        if path in self._dir_attrs:
            self._fresh()
            attrs = self.listed_dir_attrs(path)
            if attrs is not None:
                self.counters["getattr_listed"] += 1
                return attrs
        handle = self._open_handle(path, fh)
        if handle is not None:  # an open file keeps its size, whatever happened since
            entry = Entry(handle.entry.kind, handle.size, handle.entry.mtime,
                          handle.entry.node, handle.entry.role)
        else:
            try:
                entry = self._call(self.fsmap.stat, path)
            except self.FuseOSError as exc:
                # POSIX: a file opened before its node was deleted stays readable to
                # its end, fstat included; the kernel asks for its attributes by path.
                handle = self._open_handle(path, None, any_open=True)
                if handle is None or exc.errno != errno.ENOENT:
                    raise
                entry = Entry(handle.entry.kind, handle.size, handle.entry.mtime,
                              handle.entry.node, handle.entry.role)
        size = entry.size or 0
        mtime_ns = int(entry.mtime * 1e9)
        if entry.kind == "dir":
            mtime_ns += self._dir_version(path)
        mode = (stat.S_IFDIR | 0o555) if entry.kind == "dir" else (stat.S_IFREG | 0o444)
        return {"st_mode": mode, "st_nlink": 2 if entry.kind == "dir" else 1,
                "st_size": size, "st_blocks": (size + 511) // 512,
                "st_uid": self._uid, "st_gid": self._gid,
                "st_mtime": mtime_ns, "st_ctime": mtime_ns, "st_atime": mtime_ns}

    def opendir(self, path: str) -> int:
        """Bindings that cannot pass FOPEN flags (fusepy): check the path exists."""
        self.opendir_state(path)
        return 0

    def readdir(self, path: str, fh: int) -> list[Any]:
        listing = self.dir_entries(path)
        return [(name.decode("utf-8", "surrogateescape"),
                 stat.S_IFDIR if index in listing.dirs else stat.S_IFREG, 0)
                for index, name in enumerate(listing.names)]

    def open(self, path: str, flags: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND):
            raise self.FuseOSError(errno.EROFS)
        handle = self._call(self.fsmap.open, path)
        with self._fh_lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = handle
        return fh

    def _open_handle(self, path: str, fh: int | None, any_open: bool = False
                     ) -> MappedFile | None:
        """The open file ``fh`` (of ``path``), or with ``any_open`` any open file of it."""
        with self._fh_lock:
            handle = self._handles.get(fh) if fh is not None else None
            if handle is not None and handle.path == path:  # (a directory's fh is another)
                return handle
            if any_open:
                return next((h for h in reversed(list(self._handles.values()))
                             if h.path == path), None)
        return None

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        handle = self._handles.get(fh)
        if handle is None:
            return self._call(self.fsmap.read, path, offset, size)
        try:
            return handle.read(offset, size)
        except OSError as exc:
            raise self.FuseOSError(exc.errno or errno.EIO) from None

    def release(self, path: str, fh: int) -> int:
        with self._fh_lock:
            handle = self._handles.pop(fh, None)
        if handle is not None:
            handle.close()
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 0, "f_bfree": 0, "f_bavail": 0,
                "f_files": 0, "f_ffree": 0, "f_favail": 0, "f_namemax": 255}

    def access(self, path: str, amode: int) -> int:
        if amode & os.W_OK:
            raise self.FuseOSError(errno.EROFS)
        return 0

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if name == COUNTERS_XATTR:
            return json.dumps(self.counters).encode()
        raise self.FuseOSError(errno.ENODATA)

    def listxattr(self, path: str) -> list[str]:
        return []


def serve(fsmap: FileSystemMap, mountpoint: str, interval: float = 10.0) -> None:
    """Run the FUSE loop in this thread until unmounted (blocks). One thread: the
    ecflow binding holds the GIL through every server request, so more threads overlap
    nothing (with libfuse's thread pool a first ``find`` of a 100k-task server measured
    10-35% slower, a repeated one up to twice as slow). libfuse 3 is served through its
    low-level API (``session``); another binding through its own high-level loop."""
    fuse_module = load_fuse()
    operations = make_operations(fsmap, interval)
    fsname = f"ecflow:{fsmap.server.address}"
    if getattr(fuse_module, "fuse_version_major", 2) == 3 and hasattr(fuse_module, "_libfuse"):
        from .session import LowLevelSession

        LowLevelSession(fuse_module, operations, os.path.abspath(mountpoint), fsname,
                        interval,
                        dir_cache=os.environ.get("ECFNB_FUSE_DIR_CACHE", "1") != "0",
                        plus=os.environ.get("ECFNB_FUSE_READDIRPLUS", "1") != "0",
                        poll_s=float(os.environ.get("ECFNB_FUSE_POLL_US", "200")) / 1e6,
                        push=os.environ.get("ECFNB_FUSE_PUSH", "1") != "0").run()
        return
    fuse_module.FUSE(operations, mountpoint, foreground=True, nothreads=True, fsname=fsname,
                     subtype="ecfnb", **mount_options(interval))
