"""The ``ecfnb`` command. Each sub-command prints sentences, never tracebacks, for
mistakes a user can make (bad address, busy port, missing ecFlow)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from .._demo.server import die_with_parent
from .._fsview.jupyterfs import jupyterfs_config
from .._server.connection import check_port
from ..errors import EcfnbError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecfnb", description="A live ecFlow server in Jupyter.")
    parser.add_argument("--version", action="store_true",
                        help="ecfnb's, the ecFlow client library's and the server's versions "
                             "(ECF_HOST/ECF_PORT, else localhost:3141)")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="run a local demo ecFlow server with real jobs")
    demo.add_argument("--port", type=int, default=None,
                      help="server port (default 3141, or a free one with --tasks)")
    demo.add_argument("--home", help="ECF_HOME to use (default: a fresh temporary directory)")
    demo.add_argument("--tasks", type=int, help="load a generated suite of N tasks instead")
    demo.add_argument("--stop", action="store_true", help="stop the demo server on --port")
    demo.add_argument("--lab", action="store_true",
                      help="also start JupyterLab on notebooks/explore.ipynb")
    demo.add_argument("--lab-port", type=int, default=8888)
    demo.add_argument("--lab-ip", default="127.0.0.1")
    mount = sub.add_parser("mount", help="mount a server as a read-only directory tree (FUSE)")
    mount.add_argument("address", metavar="HOST:PORT")
    mount.add_argument("mountpoint", metavar="MOUNTPOINT")
    mount.add_argument("--foreground", action="store_true",
                       help="serve in this process instead of a daemon")
    mount.add_argument("--interval", type=float, default=10.0,
                       help="seconds between syncs; what ls shows is at most this old")
    mount.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    _connection_options(mount)
    umount = sub.add_parser("umount", help="unmount what 'ecfnb mount' mounted")
    umount.add_argument("mountpoint", metavar="MOUNTPOINT")
    sub.add_parser("mounts", help="list ecfnb mounts on this machine")
    watch = sub.add_parser("watch", help="print (and mail) every task that aborts")
    watch.add_argument("address", metavar="HOST:PORT")
    watch.add_argument("paths", metavar="PATH", nargs="*", help="subtrees to watch (default /)")
    watch.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    watch.add_argument("--lines", type=int, default=30, help="output lines per abort")
    watch.add_argument("--mail-to", nargs="+", metavar="ADDR", help="mail every abort here")
    watch.add_argument("--smtp", metavar="HOST:PORT", help="SMTP server for --mail-to")
    watch.add_argument("--mail-from", default="ecfnb@localhost", metavar="ADDR")
    watch.add_argument("--once", action="store_true",
                       help="report the tasks aborted now, then exit")
    watch.add_argument("--include-existing", action="store_true",
                       help="also report the tasks already aborted when it starts")
    watch.add_argument("--active-threshold", type=float, metavar="SECONDS",
                       help="also report tasks active for longer than this")
    watch.add_argument("--zombies", action="store_true", help="also report new zombies")
    watch.add_argument("--deadline", action="append", default=[], metavar="PATH=WHEN",
                       help="report when PATH's completion forecast crosses WHEN (UTC: "
                            "'HH:MM' or 'YYYY-MM-DD HH:MM'); may be repeated")
    watch.add_argument("--forecast-every", type=float, default=60.0, metavar="SECONDS",
                       help="seconds between deadline forecasts (default 60)")
    _connection_options(watch)
    ahead = sub.add_parser("forecast", help="when a suite or family will complete")
    ahead.add_argument("address", metavar="HOST:PORT")
    ahead.add_argument("path", metavar="PATH", help="a suite or family, e.g. /demo")
    ahead.add_argument("--deadline", metavar="WHEN",
                       help="compare with WHEN (UTC: 'HH:MM' or 'YYYY-MM-DD HH:MM')")
    ahead.add_argument("--rerun", action="store_true",
                       help="as if every aborted task were rerun now")
    _connection_options(ahead)
    return parser


def _connection_options(parser: argparse.ArgumentParser) -> None:
    """How to reach the server (default: ECF_SSL, ECF_USER, ECF_CUSTOM_PASSWD)."""
    parser.add_argument("--ssl", action="store_true", default=None,
                        help="the server speaks SSL (its certificate in ~/.ecflowrc/ssl)")
    parser.add_argument("--user", metavar="USER", help="the user the server knows you as")
    parser.add_argument("--password-file", metavar="FILE",
                        help="custom password file: lines 'USER HOST PORT PASSWORD', mode 600")


def _settings(args: argparse.Namespace) -> dict:
    return {"ssl": args.ssl, "user": args.user, "password_file": args.password_file}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        print(versions_text())
        return 0
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("ecfnb: give a command (demo, mount, umount, mounts, watch, forecast) or "
              "--version",
              file=sys.stderr)
        return 2
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command in ("mount", "umount", "mounts"):
            return _mount_commands(args)
        if args.command == "watch":
            return _watch(args)
        if args.command == "forecast":
            return _forecast(args)
    except (EcfnbError, ValueError, OSError) as exc:
        print(f"ecfnb {args.command}: {exc}", file=sys.stderr)
        return 1
    return 2


def _forecast(args: argparse.Namespace) -> int:
    """Print the forecast: the summary, the critical path, then each family not done."""
    from .._map.forecast import forecast
    from .._server.server import Server

    found = forecast(Server(args.address, **_settings(args)), args.path, args.deadline,
                     assume_rerun=args.rerun)
    print(found.summary())
    if found.critical_path:
        print("critical path: " + " -> ".join(found.critical_path))
    for node in found.nodes.values():
        if node.kind in ("suite", "family") and not node.done and node.path != found.path:
            when = (f"{node.earliest:%H:%M:%S} - {node.latest:%H:%M:%S} UTC"
                    if node.earliest and node.latest else node.why)
            verdict = f" [{node.verdict}]" if node.verdict else ""
            print(f"  {node.path}: {when}{verdict}")
    for note in found.notes:
        print(f"note: {note}")
    return 0


def versions_text(server: object = None) -> str:
    """ecfnb's, the client library's and a server's versions, with ecFlow's warning when
    they cannot work together (different major versions: ecFlow 4 and 5 do not talk)."""
    from .._server.server import Server, versions

    if server is None:
        server = Server(None)
    return versions(server).text()


def _watch(args: argparse.Namespace) -> int:
    from .._server.server import Server
    from .._watch.mail import check_smtp, send_event
    from .._watch.watcher import AbortWatcher

    if args.mail_to and not args.smtp:
        raise ValueError("--mail-to needs --smtp HOST:PORT (the mail server to send through)")
    if args.interval <= 0:
        raise ValueError("--interval must be a positive number of seconds")
    if args.active_threshold is not None and args.active_threshold <= 0:
        raise ValueError("--active-threshold must be a positive number of seconds")
    deadlines = {}
    for given in args.deadline:
        path, sep, when = given.partition("=")
        if not sep:
            raise ValueError(f"--deadline {given!r}: give PATH=WHEN, e.g. /demo=06:00")
        deadlines[path] = when
    server = Server(args.address, **_settings(args))
    server.sync()  # a wrong address is an error now, not a silent retry loop
    for path in [*args.paths, *deadlines]:
        server.summary(path)  # NodeNotFound names the path and the server
    if args.smtp:
        check_smtp(args.smtp)  # a wrong mail server is an error now, not at the first abort

    def report(event) -> None:  # noqa: ANN001 - an Event
        print(event.text(), flush=True)
        if args.mail_to:
            send_event(event, args.mail_to, args.smtp, args.mail_from)

    watcher = AbortWatcher(server, args.paths, args.interval, lines=args.lines,
                           include_existing=args.include_existing,
                           active_threshold=args.active_threshold, zombies=args.zombies,
                           on_event=report, deadlines=deadlines,
                           forecast_every=args.forecast_every)
    if args.once:
        events = watcher.poll_once()
        if not events:
            print(f"no aborted task under {' '.join(args.paths) or '/'} on {watcher.address}")
        return 0
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"watching {watcher.address} {' '.join(args.paths) or '/'} every {args.interval:g} s"
          " (Ctrl-C stops)", flush=True)
    watcher.start()
    status = None
    try:
        while True:
            if watcher.status != status and watcher.status in (
                    "connected", "disconnected", "error", "restarting", "failed"):
                status = watcher.status
                note = f": {watcher.message}" if watcher.message else ""
                print(f"[{time.strftime('%H:%M:%S')}] {status}{note}", file=sys.stderr,
                      flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    return 0


def _mount_commands(args: argparse.Namespace) -> int:
    from .._fuse import mount as mounting

    if args.command == "mounts":
        for info in mounting.mounts():
            print(info)
        return 0
    if args.command == "umount":
        mounting.umount(args.mountpoint)
        print(f"unmounted {os.path.abspath(args.mountpoint)}")
        return 0
    if args.interval <= 0:
        raise ValueError("--interval must be a positive number of seconds")
    if args.foreground:
        mounting.serve_foreground(args.address, args.mountpoint, args.interval, args.parent_pid)
        return 0
    info = mounting.mount(args.address, args.mountpoint, args.interval, args.parent_pid,
                          **_settings(args))
    print(f"mounted {info.address} on {info.mountpoint} (pid {info.pid}); "
          f"unmount with: ecfnb umount {info.mountpoint}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .._demo.server import DemoServer, stop_server

    if args.port is not None:
        check_port(args.port, "--port")  # before anything starts
    if not 0 < args.lab_port < 65536:
        raise ValueError(f"bad --lab-port {args.lab_port}: give a TCP port, 1-65535")
    port = args.port or (None if args.tasks else 3141)
    if args.stop:
        if port is None:
            raise EcfnbError("--stop needs --port")
        stop_server(port)
        print(f"stopped the ecFlow server on port {port}")
        return 0
    if args.tasks is not None and args.tasks < 1:
        raise ValueError("--tasks must be a positive number of tasks")
    demo = DemoServer(port=port, home=args.home, tasks=args.tasks)
    lab: subprocess.Popen | None = None
    # Ctrl-C, SIGTERM and a closed terminal all clean up the same way. SIGINT is set
    # explicitly: a shell without job control starts background commands with it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        what = f"{args.tasks} generated tasks" if args.tasks else "the demo suite"
        print(f"starting ecflow_server on port {demo.port} in {demo.home} with {what} ...",
              flush=True)
        demo.start()
        print(f"ready {demo.address}", flush=True)
        if args.lab:
            lab = _start_lab(demo.address, args.lab_ip, args.lab_port, demo.home)
        print("Ctrl-C stops everything.", flush=True)
        while True:
            if lab is not None and lab.poll() is not None:
                print("JupyterLab exited; stopping the demo server.")
                break
            if demo.process is None or demo.process.poll() is not None:
                print("the ecFlow server exited.")
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        if lab is not None:
            _stop_process_group(lab)
        demo.stop()
        demo.remove_home()
        print("stopped: nothing left running.", flush=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_lab(address: str, ip: str, port: int, config_dir: Path) -> subprocess.Popen:
    """JupyterLab on notebooks/explore.ipynb, in its own session so that Ctrl-C reaches
    us first (JupyterLab would otherwise ask y/n) and we stop it cleanly."""
    notebooks = Path(__file__).resolve().parents[2] / "notebooks"  # the checkout's
    if not notebooks.is_dir():
        raise EcfnbError(f"no notebooks directory at {notebooks}: run from a source checkout")
    token = secrets.token_hex(16)
    host, _, ecf_port = address.rpartition(":")
    env = dict(os.environ, ECF_HOST=host, ECF_PORT=ecf_port)
    # The demo server also appears as a jupyter-fs drive in JupyterLab's sidebar.
    config = Path(config_dir) / "jupyter_server_config.json"
    config.write_text(json.dumps(jupyterfs_config({f"ecFlow {address}": address})))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ip={ip}",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--config={config}",
           f"--ServerApp.root_dir={notebooks}", "--ServerApp.port_retries=20"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(notebooks.parent / ".jupyter-demo.log", "wb")  # noqa: SIM115 - owned by lab
    lab = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, start_new_session=True,
                           preexec_fn=die_with_parent(signal.SIGTERM))
    log.close()
    url = _wait_for_lab_url(notebooks.parent / ".jupyter-demo.log", lab, token)
    print(f"JupyterLab: {url}", flush=True)
    return lab


def _wait_for_lab_url(log: Path, lab: subprocess.Popen, token: str, timeout: float = 60) -> str:
    import re

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"http://([^\s/]+):(\d+)/lab", log.read_text(errors="replace"))
        if found and _accepts(found[-1][0], int(found[-1][1])):
            host, port = found[-1]
            return f"http://{host}:{port}/lab/tree/explore.ipynb?token={token}"
        if lab.poll() is not None:
            raise EcfnbError(f"JupyterLab exited at start; see {log}")
        time.sleep(0.3)
    raise EcfnbError(f"JupyterLab did not start within {timeout} s; see {log}")


def _accepts(host: str, port: int) -> bool:
    """True once the URL we print would work: JupyterLab accepts connections."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _stop_process_group(proc: subprocess.Popen, grace: float = 10) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(5)
