"""FUSE operations over ``FileSystemMap``: the server as a read-only directory tree.

Why it is built this way:
- it is an adapter: names, kinds, sizes, mtimes and bytes all come from fsmap;
- freshness: the view is synced lazily, when an operation finds it older than
  ``interval / 2``, and the kernel caches entries and attributes for ``interval / 2``:
  what ``ls`` shows is at most one interval old, and an idle mount sends the server
  nothing (every ``news`` request writes a line in the server log);
- ``readdir`` hands the kernel each entry's type, so ``find -name`` never stats a file
  (a stat of ``t.ecf`` costs a server request: true sizes need the contents);
- open files keep their resolved ``MappedFile``: a big ``cat`` is ``pread`` calls;
- the Server is shared by FUSE's threads: it locks itself;
- a server that does not answer gives EIO at once for ``retry`` seconds after a failed
  sync instead of making every call wait for the connection timeout again.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from ctypes.util import find_library
from typing import Any

from .errors import EcfnbError, NodeNotFound, ServerUnreachable
from .fsmap import FileSystemMap, MappedFile

log = logging.getLogger(__name__)


class MountError(EcfnbError):
    """Mounting or unmounting failed; the message says what to do."""


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


class _OperationsMixin:
    """The FUSE callbacks; write-like ones are refused by the kernel (``-o ro``) and,
    should one arrive, by the binding's defaults, which answer EROFS."""

    FuseOSError: type[Exception]
    use_ns = True

    def __init__(self, fsmap: FileSystemMap, interval: float, retry: float = 1.0) -> None:
        self.fsmap = fsmap
        self.interval = interval
        self.retry = retry
        self._uid, self._gid = os.getuid(), os.getgid()
        self._sync_lock = threading.Lock()
        self._synced_at = 0.0
        self._failed_at = 0.0
        self._handles: dict[int, MappedFile] = {}
        self._next_fh = 1
        self._fh_lock = threading.Lock()

    # -- freshness and errors ----------------------------------------------------------
    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._failed_at < self.retry:
            raise self.FuseOSError(errno.EIO)
        if now - self._synced_at < self.interval / 2:
            return
        with self._sync_lock:
            if time.monotonic() - self._synced_at < self.interval / 2:
                return  # another thread synced while we waited
            try:
                self.fsmap.refresh()
            except ServerUnreachable as exc:
                self._failed_at = time.monotonic()
                log.warning("%s", exc)
                raise self.FuseOSError(errno.EIO) from None
            self._synced_at = time.monotonic()
            self._failed_at = 0.0

    def _call(self, fn: Any, *args: Any) -> Any:
        self._fresh()
        try:
            return fn(*args)
        except NodeNotFound:
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

    # -- callbacks -------------------------------------------------------------------
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        entry = self._call(self.fsmap.stat, path)
        size = entry.size or 0
        mtime_ns = int(entry.mtime * 1e9)
        mode = (stat.S_IFDIR | 0o555) if entry.kind == "dir" else (stat.S_IFREG | 0o444)
        return {"st_mode": mode, "st_nlink": 2 if entry.kind == "dir" else 1,
                "st_size": size, "st_blocks": (size + 511) // 512,
                "st_uid": self._uid, "st_gid": self._gid,
                "st_mtime": mtime_ns, "st_ctime": mtime_ns, "st_atime": mtime_ns}

    def readdir(self, path: str, fh: int) -> list[Any]:
        entries = self._call(self.fsmap.scandir, path)
        out: list[Any] = [(".", stat.S_IFDIR, 0), ("..", stat.S_IFDIR, 0)]
        out += [(e.name, stat.S_IFDIR if e.kind == "dir" else stat.S_IFREG, 0) for e in entries]
        return out

    def open(self, path: str, flags: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND):
            raise self.FuseOSError(errno.EROFS)
        handle = self._call(self.fsmap.open, path)
        with self._fh_lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = handle
        return fh

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
        raise self.FuseOSError(errno.ENODATA)

    def listxattr(self, path: str) -> list[str]:
        return []


def serve(fsmap: FileSystemMap, mountpoint: str, interval: float = 10.0,
          multithreaded: bool = True) -> None:
    """Run the FUSE loop in this process until unmounted (blocks)."""
    fuse_module = load_fuse()
    operations = make_operations(fsmap, interval)
    fuse_module.FUSE(operations, mountpoint, foreground=True, nothreads=not multithreaded,
                     fsname=f"ecflow:{fsmap.server.address}", subtype="ecfnb",
                     **mount_options(interval))
