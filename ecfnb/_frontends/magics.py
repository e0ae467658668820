"""IPython magics (``%load_ext ecfnb``).

``%ecf_connect [HOST:PORT]`` sets the notebook's current server: the default of every
later magic and of ``ecfnb.connect()`` with no arguments.
``%ecf_mount [HOST:PORT] MOUNTPOINT``, ``%ecf_umount [MOUNTPOINT]``, ``%ecf_mounts``:
FUSE mounts served by a child process (never by the kernel itself), unmounted when
the kernel exits or restarts (atexit here, and the child watches the kernel's pid).
``%ecf_tree [HOST:PORT] [PATH]``: the explorer, a live node tree beside the selected
node's files; its refresh polls in a child process.
``%ecf_forecast [HOST:PORT] /suite/family [--deadline WHEN] [--rerun]``: when it will be
done (a range, the critical path, the verdict against WHEN).
``%ecf_watch [HOST:PORT] [/path ...] [--interval S]``: a live abort panel; its watcher polls in a
child process, stopped when the kernel exits (AbortWatcher's atexit hook stops every
running watcher, and the child ends by itself when the kernel's pid goes away).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import EcfnbError

if TYPE_CHECKING:
    from .._fuse.mount import MountInfo
    from .._incident import IncidentRecord
    from .._map.forecast import Forecast
    from .._server.server import Server
    from .._watch.watcher import AbortWatcher
    from ..widgets.explorer import Explorer
    from ..widgets.watch_panel import WatchPanel

#: Mounts made from this kernel: mountpoint -> MountInfo.
kernel_mounts: dict[str, MountInfo] = {}
#: Watchers started by ``%ecf_watch`` in this kernel that are still running.
kernel_watchers: list[AbortWatcher] = []


CONNECT_USAGE = ("usage: %ecf_connect [HOST:PORT] [--ssl] [--user USER] [--password-file FILE]"
                 "  (default: ECF_HOST/ECF_PORT, then localhost:3141; ECF_SSL, ECF_USER, "
                 "ECF_CUSTOM_PASSWD)")


def ecf_connect(line: str = "") -> Server:
    """``%ecf_connect [HOST:PORT] [--ssl] [--user USER] [--password-file FILE]``: connect,
    sync, make it the notebook's server (every later magic, ``ecfnb.connect()``, the
    watcher and the explorer use it and its settings), and say which versions talk."""
    import shlex

    from .._server.server import Server, versions

    args = shlex.split(line)
    settings: dict[str, object] = {}
    rest: list[str] = []
    while args:
        arg = args.pop(0)
        if arg == "--ssl":
            settings["ssl"] = True
        elif arg in ("--user", "--password-file"):
            if not args:
                raise EcfnbError(f"{arg} needs a value; {CONNECT_USAGE}")
            settings[arg[2:].replace("-", "_")] = args.pop(0)
        elif arg.startswith("-"):
            raise EcfnbError(f"unknown option {arg}; {CONNECT_USAGE}")
        else:
            rest.append(arg)
    if len(rest) > 1:
        raise EcfnbError(CONNECT_USAGE)
    server = Server(rest[0] if rest else None, **settings)  # type: ignore[arg-type]
    server.sync()
    found = versions(server)
    print(f"ecfnb {found.ecfnb} · ecFlow client {found.library} · server {server.address}: "
          f"ecFlow {found.server or '?'}")
    if found.warning:
        print(found.warning)
    return server.make_current()


def _target(given: str | None) -> Server | str | None:
    """The server a magic means: the address given, else the notebook's current server
    (with its SSL and user settings), else None (ECF_HOST/ECF_PORT)."""
    from .._server.server import Server

    return given or Server.current()


def ecf_mount(line: str = "") -> MountInfo:
    """``%ecf_mount [HOST:PORT] MOUNTPOINT``: mount in a child process, return at once."""
    from .._fuse import mount as mounting

    args = line.split()
    if len(args) not in (1, 2):
        raise EcfnbError("usage: %ecf_mount [HOST:PORT] MOUNTPOINT  (default server: the one "
                         "of %ecf_connect, else ECF_HOST/ECF_PORT)")
    address, mountpoint = (None, args[0]) if len(args) == 1 else args
    os.makedirs(mountpoint, exist_ok=True)  # in a notebook, '%ecf_mount mnt' should just work
    info = mounting.mount(_target(address), mountpoint, parent_pid=os.getpid())
    kernel_mounts[info.mountpoint] = info
    return info


def ecf_umount(line: str = "") -> list[str]:
    """``%ecf_umount [MOUNTPOINT]``: unmount one, or every mount made from this kernel."""
    from .._fuse import mount as mounting

    args = line.split()
    targets = [os.path.abspath(a) for a in args] or list(kernel_mounts)
    for point in targets:
        mounting.umount(point)
        kernel_mounts.pop(point, None)
    return targets


def ecf_mounts(line: str = "") -> list[MountInfo]:
    """``%ecf_mounts``: every ecfnb mount on this machine (this kernel's and others)."""
    from .._fuse import mount as mounting

    return mounting.mounts()


def ecf_watch(line: str = "") -> WatchPanel:
    """``%ecf_watch [HOST:PORT] [/path ...] [--interval SECONDS] [--deadline PATH=WHEN]``:
    a live panel of aborts (default: the whole server of %ecf_connect, else
    ECF_HOST/ECF_PORT), polled every 10 s in a child process; each ``--deadline`` also
    reports when PATH's completion forecast crosses WHEN (UTC 'HH:MM')."""
    args = line.split()
    interval = _interval(args)
    deadlines: dict[str, str] = {}
    while "--deadline" in args:
        at = args.index("--deadline")
        given = args[at + 1] if at + 1 < len(args) else ""
        path, sep, when = given.partition("=")
        if not sep or not path.startswith("/"):
            raise EcfnbError(f"--deadline {given!r}: give PATH=WHEN, e.g. /demo=06:00")
        deadlines[path] = when
        del args[at:at + 2]
    address = args.pop(0) if args and not args[0].startswith("/") else None
    if any(not arg.startswith("/") for arg in args):
        raise EcfnbError("usage: %ecf_watch [HOST:PORT] [/path ...] [--interval SECONDS] "
                         "[--deadline PATH=WHEN]  (paths start with '/'; default server: "
                         "the one of %ecf_connect, else ECF_HOST/ECF_PORT)")
    try:
        from ..widgets.watch_panel import watch
    except ImportError as exc:
        raise EcfnbError(f"{exc}") from exc
    panel = watch(_target(address), args or None, interval, deadlines=deadlines or None)
    kernel_watchers[:] = [w for w in kernel_watchers if w.running] + [panel.watcher]
    return panel


def ecf_watchers(line: str = "") -> list[AbortWatcher]:
    """``%ecf_watchers``: the watchers ``%ecf_watch`` started in this kernel."""
    if line.strip():
        raise EcfnbError("usage: %ecf_watchers  (no arguments)")
    return list(kernel_watchers)


def ecf_unwatch(line: str = "") -> list[AbortWatcher]:
    """``%ecf_unwatch``: stop every watcher ``%ecf_watch`` started in this kernel."""
    if line.strip():
        raise EcfnbError("usage: %ecf_unwatch  (no arguments: stops them all)")
    stopped = list(kernel_watchers)
    for watcher in stopped:
        watcher.stop()
    kernel_watchers.clear()
    return stopped


def ecf_tree(line: str = "") -> Explorer:
    """``%ecf_tree [HOST:PORT] [PATH] [--interval SECONDS] [--read-only]``: the explorer
    (live tree and node panel) of a server (default: the one of %ecf_connect, else
    ECF_HOST/ECF_PORT), with PATH selected."""
    args = line.split()
    interval = _interval(args)
    read_only = "--read-only" in args
    args = [a for a in args if a != "--read-only"]
    address = args.pop(0) if args and not args[0].startswith("/") else None
    if len(args) > 1 or any(a.startswith("-") for a in args):
        raise EcfnbError("usage: %ecf_tree [HOST:PORT] [/path] [--interval SECONDS] "
                         "[--read-only]")
    try:
        from ..widgets.explorer import explore
    except ImportError as exc:
        raise EcfnbError(f"{exc}") from exc
    return explore(address, args[0] if args else "/", interval,
                   read_only=read_only)


def _interval(args: list[str], default: float = 10.0) -> float:
    """Take ``--interval SECONDS`` out of ``args``."""
    if "--interval" not in args:
        return default
    at = args.index("--interval")
    value = args[at + 1] if at + 1 < len(args) else ""
    try:
        interval = float(value)
    except ValueError:
        raise EcfnbError(f"--interval needs a number of seconds, not {value!r}") from None
    if interval <= 0:
        raise EcfnbError(f"--interval must be a positive number of seconds, not {value}")
    del args[at:at + 2]
    return interval


def ecf_incident(line: str = "") -> IncidentRecord:
    """``%ecf_incident [HOST:PORT] /suite/.../task``: a static incident record that stays
    in the saved notebook (see ``ecfnb.incident``)."""
    from .._incident import incident

    args = line.split()
    if not args or not args[-1].startswith("/") or len(args) > 2:
        raise EcfnbError("usage: %ecf_incident [HOST:PORT] /suite/family/task")
    address = args[0] if len(args) == 2 else None
    return incident(args[-1], address)


FORECAST_USAGE = ("usage: %ecf_forecast [HOST:PORT] /suite[/family] [--deadline HH:MM | "
                  "--deadline 'YYYY-MM-DD HH:MM'] [--rerun]  (times UTC)")


def ecf_forecast(line: str = "") -> Forecast:
    """``%ecf_forecast [HOST:PORT] /suite/family [--deadline WHEN] [--rerun]``: when the
    node completes, its critical path and verdicts (see ``ecfnb.forecast``)."""
    import shlex

    from .._map.forecast import forecast

    try:
        args = shlex.split(line)
    except ValueError as exc:
        raise EcfnbError(f"{exc}: {FORECAST_USAGE}") from None
    rerun = "--rerun" in args
    args = [a for a in args if a != "--rerun"]
    deadline = None
    if "--deadline" in args:
        at = args.index("--deadline")
        if at + 1 >= len(args):
            raise EcfnbError(FORECAST_USAGE)
        deadline = args[at + 1]
        del args[at:at + 2]
    if not args or not args[-1].startswith("/") or len(args) > 2 or any(
            a.startswith("-") for a in args):
        raise EcfnbError(FORECAST_USAGE)
    from .._server.server import resolve

    server = resolve(args[0] if len(args) == 2 else None)
    return forecast(server, args[-1], deadline, assume_rerun=rerun)


def unmount_all() -> None:
    """Called at kernel exit: nothing this kernel mounted stays mounted."""
    from .._fuse import mount as mounting

    for point in list(kernel_mounts):
        try:
            mounting.umount(point)
        except EcfnbError:
            pass
        kernel_mounts.pop(point, None)


atexit.register(unmount_all)


def _friendly(fn: Callable[[str], Any], show: Callable[[Any], None] | None = None
              ) -> Callable[[str], Any]:
    """Wrap a magic so that user mistakes print a sentence, not a traceback."""
    def magic(line: str) -> Any:
        try:
            result = fn(line)
        except (EcfnbError, ValueError) as exc:
            print(f"ecfnb: {exc}")
            return None
        if show is None:
            return result
        show(result)
        return None

    magic.__doc__ = fn.__doc__
    return magic


def _print_mount(info: MountInfo) -> None:
    print(f"mounted {info.address} on {info.mountpoint} (pid {info.pid}); try: "
          f"!find {info.mountpoint} -name '*.abo'   — unmount with %ecf_umount {info.mountpoint}")


def _print_unwatch(watchers: list[AbortWatcher]) -> None:
    print(f"stopped {len(watchers)} watcher(s)" if watchers else "no watcher to stop")


def _print_umount(points: list[str]) -> None:
    print("unmounted " + ", ".join(points) if points else "nothing mounted from this kernel")


def _print_mounts(infos: list[MountInfo]) -> None:
    if not infos:
        print("no ecfnb mounts")
    for info in infos:
        mine = " (this kernel)" if info.mountpoint in kernel_mounts else ""
        print(f"{info}{mine}")


def register(ipython: Any) -> None:
    ipython.register_magic_function(_friendly(ecf_connect), "line", "ecf_connect")
    ipython.register_magic_function(_friendly(ecf_mount, _print_mount), "line", "ecf_mount")
    ipython.register_magic_function(_friendly(ecf_umount, _print_umount), "line", "ecf_umount")
    ipython.register_magic_function(_friendly(ecf_mounts, _print_mounts), "line", "ecf_mounts")
    ipython.register_magic_function(_friendly(ecf_watch), "line", "ecf_watch")
    ipython.register_magic_function(_friendly(ecf_watchers), "line", "ecf_watchers")
    ipython.register_magic_function(_friendly(ecf_unwatch, _print_unwatch), "line",
                                    "ecf_unwatch")
    ipython.register_magic_function(_friendly(ecf_tree), "line", "ecf_tree")
    ipython.register_magic_function(_friendly(ecf_incident), "line", "ecf_incident")
    ipython.register_magic_function(_friendly(ecf_forecast), "line", "ecf_forecast")
