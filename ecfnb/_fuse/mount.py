"""Mounting a server: checks with messages for people, a daemon per mount, unmounting.

The FUSE loop runs in its own process (``ecfnb mount --foreground``): a notebook
kernel that served its own mount could deadlock the moment it touched a file of it.
A mount made for a kernel is given the kernel's pid and unmounts itself when that
process is gone, so a crashed or restarted kernel leaves nothing mounted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MountError
from .ops import load_fuse

FSNAME_PREFIX = "ecflow:"


@dataclass(frozen=True)
class MountInfo:
    """A mounted ecfnb filesystem as the kernel's mount table shows it."""

    mountpoint: str
    address: str
    pid: int | None = None
    #: False when the daemon that served it is gone (killed): every access then fails
    #: with "Transport endpoint is not connected" until it is unmounted.
    alive: bool = True

    def __str__(self) -> str:
        if not self.alive:
            gone = f" (pid {self.pid})" if self.pid else ""
            return (f"{self.address} on {self.mountpoint}: DEAD, its daemon{gone} is gone; "
                    f"clean up with: ecfnb umount {self.mountpoint}")
        pid = f" (pid {self.pid})" if self.pid else ""
        return f"{self.address} on {self.mountpoint}{pid}"


def mounts() -> list[MountInfo]:
    """Every ecfnb mount on this machine, from /proc/mounts."""
    out = []
    with open("/proc/mounts") as fh:
        for line in fh:
            source, point, fstype = line.split()[:3]
            if fstype == "fuse.ecfnb" or source.startswith(FSNAME_PREFIX):
                point = point.replace("\\040", " ")
                pid = _pid_file_pid(point)
                out.append(MountInfo(point, source[len(FSNAME_PREFIX):], pid,
                                     alive=pid is not None and _is_daemon(pid)))
    return out


def _is_daemon(pid: int) -> bool:
    """The pid file's process is alive and is an ecfnb mount daemon (not a reused pid)."""
    if not _alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # another user's process: cannot tell, so trust the file
    return b"ecfnb" in command and b"mount" in command


def is_mounted(mountpoint: str) -> bool:
    path = os.path.realpath(mountpoint)
    with open("/proc/mounts") as fh:
        return any(line.split()[1].replace("\\040", " ") == path for line in fh)


def check_fuse() -> None:
    """Raise MountError naming what to install when this machine cannot mount FUSE."""
    if not os.path.exists("/dev/fuse"):
        raise MountError("this machine has no /dev/fuse: FUSE is not available here (in a "
                         "container, run it with --device /dev/fuse; on Binder use the fsspec "
                         "view 'ecflow://HOST:PORT/' instead)")
    if not (shutil.which("fusermount3") or shutil.which("fusermount")):
        raise MountError("fusermount3 is missing: sudo apt-get install fuse3")
    load_fuse()


def fuse_available() -> tuple[bool, str]:
    """``(True, "")`` when this machine can mount, else ``(False, why)`` with
    check_fuse's sentence: for code that takes another way (the fsspec view) instead."""
    try:
        check_fuse()
    except MountError as exc:
        return False, str(exc)
    return True, ""


def check_mountpoint(mountpoint: str) -> str:
    path = os.path.abspath(mountpoint)
    if not os.path.exists(path):
        raise MountError(f"mountpoint {path} does not exist: create it with 'mkdir -p {path}'")
    if not os.path.isdir(path):
        raise MountError(f"mountpoint {path} is not a directory")
    if is_mounted(path):
        raise MountError(f"{path} is already mounted: unmount it with 'ecfnb umount {path}'")
    if os.listdir(path):
        raise MountError(f"mountpoint {path} is not empty: the mount would hide its files; "
                         "choose an empty directory")
    return path


def mount(server_or_address: Any, mountpoint: str, interval: float = 10.0,
          parent_pid: int | None = None, timeout: float = 20.0, *, ssl: bool | None = None,
          user: str | None = None, password_file: str | None = None) -> MountInfo:
    """Check everything, then mount in a daemon process; return once it is mounted.
    ``server_or_address``: a Server (its connection settings are the daemon's) or
    "host:port" with ``ssl``/``user``/``password_file`` (default: the environment's)."""
    from .._server.server import Server

    if isinstance(server_or_address, Server):
        server = server_or_address
    else:  # a malformed address is the first thing to say
        server = Server(server_or_address or None, ssl=ssl, user=user,
                        password_file=password_file)
    check_fuse()
    path = check_mountpoint(mountpoint)
    server.sync()  # ServerUnreachable now, with its message, rather than in the daemon
    log_path = _log_path(path)
    cmd = [sys.executable, "-m", "ecfnb", "mount", server.address, path, "--foreground",
           "--interval", str(interval)]
    if parent_pid:
        cmd += ["--parent-pid", str(parent_pid)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=server.child_env())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_mounted(path):
            return MountInfo(path, server.address, proc.pid)
        if proc.poll() is not None:
            raise MountError(f"mount of {server.address} on {path} failed:\n"
                             + Path(log_path).read_text(errors="replace")[-2000:])
        time.sleep(0.05)
    proc.kill()
    raise MountError(f"mount of {server.address} on {path} did not appear within {timeout} s; "
                     f"see {log_path}")


def umount(mountpoint: str, timeout: float = 10.0) -> None:
    """Unmount; the daemon's FUSE loop then ends by itself."""
    path = os.path.abspath(mountpoint)
    if not is_mounted(path):
        raise MountError(f"{path} is not mounted")
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    pid = _pid_file_pid(path)
    dead = pid is None or not _is_daemon(pid)
    # A mount whose daemon was killed cannot be unmounted normally ("Transport endpoint
    # is not connected"): it is detached lazily, which is all there is left to do.
    lazy = ["-z"] if dead else []
    cmd = [tool, "-u", *lazy, path] if tool else ["umount", *(["-l"] if dead else []), path]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        reason = proc.stderr.strip() or proc.stdout.strip()
        if "busy" in reason:
            raise MountError(f"{path} is busy (a shell or program has it open): close it, "
                             f"or force with 'umount -l {path}'")
        raise MountError(f"unmounting {path} failed: {reason}")
    if dead:
        Path(_pid_path(path)).unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while pid and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def serve_foreground(address: str, mountpoint: str, interval: float,
                     parent_pid: int | None) -> None:
    """The daemon's body: mount, serve until unmounted (or the parent is gone)."""
    from .._map.fsmap import FileSystemMap
    from .._server.server import Server
    from .ops import serve

    server = Server(address)
    server.sync()
    path = os.path.abspath(mountpoint)
    pid_file = Path(_pid_path(path))
    pid_file.write_text(str(os.getpid()))
    if parent_pid:
        threading.Thread(target=_watch_parent, args=(parent_pid, path), daemon=True).start()
    try:
        serve(FileSystemMap(server), path, interval)
    finally:
        pid_file.unlink(missing_ok=True)


def _watch_parent(parent_pid: int, mountpoint: str) -> None:
    started = _start_time(parent_pid)
    while _alive(parent_pid) and _start_time(parent_pid) == started:
        time.sleep(1.0)
    # Lazy unmount: a shell still inside the mount must not keep us mounted forever.
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    subprocess.run([tool, "-u", "-z", mountpoint] if tool else ["umount", "-l", mountpoint],
                   capture_output=True)
    time.sleep(2)
    os.kill(os.getpid(), signal.SIGTERM)  # if the loop is still running, end it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _state_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), f"ecfnb-mounts-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _key(mountpoint: str) -> str:
    return mountpoint.strip("/").replace("/", "_") or "root"


def _pid_path(mountpoint: str) -> str:
    return os.path.join(_state_dir(), _key(mountpoint) + ".pid")


def _log_path(mountpoint: str) -> str:
    return os.path.join(_state_dir(), _key(mountpoint) + ".log")


def _pid_file_pid(mountpoint: str) -> int | None:
    try:
        return int(Path(_pid_path(mountpoint)).read_text())
    except (OSError, ValueError):
        return None
