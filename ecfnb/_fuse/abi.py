"""libfuse 3's low-level ABI as ctypes declarations: the constants, the structures, the
readdirplus record layout, ``struct fuse_lowlevel_ops`` and the functions the session
calls. Declarations only, no logic: what must match libfuse (and the kernel's FUSE
protocol) to the byte lives here, apart from the session that uses it.

Structures shared with mfusepy (``c_stat``, ``fuse_file_info``, ``c_statvfs``) come
from it; the readdirplus record is the kernel's ``struct fuse_direntplus``, stable
since protocol 7.21.
"""

from __future__ import annotations

import ctypes
import stat
import struct
from collections.abc import Callable
from typing import Any

FUSE_CAP_READDIRPLUS = 1 << 13
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14
#: The kernel takes ENOSYS from opendir for "never send opendir or releasedir again",
#: and then caches every listing until told otherwise (Linux 5.1, libfuse 3.5).
FUSE_CAP_NO_OPENDIR_SUPPORT = 1 << 24
UNKNOWN_INO = 0xFFFFFFFF
ROOT_INO = 1
DT_DIR, DT_REG = stat.S_IFDIR >> 12, stat.S_IFREG >> 12

# struct fuse_direntplus: fuse_entry_out (nodeid, generation, entry_valid, attr_valid,
# their nsecs, then fuse_attr) followed by fuse_dirent (ino, off, namelen, type, name
# padded to 8 bytes)
ENTRY_OUT = struct.Struct("<QQQQII" "QQQQQQIIIIIIIIII")
DIRENT = struct.Struct("<QQII")


def _bare_entry_out(mode: int) -> bytes:
    """An entry without attributes: nodeid 0 (the kernel takes only name and type)."""
    return ENTRY_OUT.pack(0, 0, 0, 0, 0, 0, UNKNOWN_INO, 0, 0, 0, 0, 0, 0, 0, 0, mode,
                           0, 0, 0, 0, 0, 0)


FILE_ENTRY_OUT, DIR_ENTRY_OUT = _bare_entry_out(stat.S_IFREG), _bare_entry_out(stat.S_IFDIR)
PADS = tuple(b"\0" * ((8 - n % 8) % 8) for n in range(8))


class EntryParam(ctypes.Structure):
    pass


class Args(ctypes.Structure):
    _fields_ = [("argc", ctypes.c_int), ("argv", ctypes.POINTER(ctypes.c_char_p)),
                ("allocated", ctypes.c_int)]


class Buf(ctypes.Structure):
    """struct fuse_buf (libfuse 3), with room to spare should a later version add to
    its end: libfuse allocates ``mem`` and we free it."""

    _fields_ = [("size", ctypes.c_size_t), ("flags", ctypes.c_int), ("mem", ctypes.c_void_p),
                ("fd", ctypes.c_int), ("pos", ctypes.c_int64),
                ("spare", ctypes.c_uint64 * 8)]


def libc_free(address: int | None) -> None:
    if address:
        libc = ctypes.CDLL(None)
        libc.free.argtypes = [ctypes.c_void_p]
        libc.free(address)


class ForgetData(ctypes.Structure):
    _fields_ = [("ino", ctypes.c_uint64), ("nlookup", ctypes.c_uint64)]


def declare(fm: Any, lib: Any, handler: Callable[[str], Callable[..., None]]
            ) -> tuple[Any, Any, list[Any]]:
    """Declare libfuse's functions on ``lib`` and build the ops structure whose entries
    call ``handler(name)`` ('lookup', 'getattr', ...). Returns (the file-info pointer
    type, the ops structure, the callbacks, which must outlive the session)."""
    c = ctypes
    EntryParam._fields_ = [("ino", c.c_uint64), ("generation", c.c_uint64),
                            ("attr", fm.c_stat), ("attr_timeout", c.c_double),
                            ("entry_timeout", c.c_double)]
    req, ino, info_p = c.c_void_p, c.c_uint64, c.POINTER(fm.fuse_file_info)
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
        "forget_multi": c.CFUNCTYPE(none, req, c.c_size_t, c.POINTER(ForgetData)),
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

    ops = Ops()
    callbacks = []  # the ctypes callbacks must outlive the session
    for name, proto in protos.items():
        callback = proto(handler(name))
        callbacks.append(callback)
        setattr(ops, name, callback)
    for name, restype, argtypes in [
        ("fuse_session_new", c.c_void_p, [c.POINTER(Args), c.c_void_p, c.c_size_t,
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
        ("fuse_reply_entry", c.c_int, [c.c_void_p, c.POINTER(EntryParam)]),
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
        ("fuse_lowlevel_notify_inval_entry", c.c_int, [c.c_void_p, c.c_uint64,
                                                       c.c_char_p, c.c_size_t]),
    ]:
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return info_p, ops, callbacks
