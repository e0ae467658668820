"""A local ecflow_server in its own ECF_HOME, with the demo suite running real jobs.

Used by ``ecfnb demo``, by ``make demo`` and as the pytest fixture: one harness, so
what the tests check is what a newcomer sees. ecflow_server ignores SIGTERM, so
stopping asks it to terminate and then kills its whole process group (the server
and any job it spawned), leaving nothing running.
"""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from .._server.connection import check_port, format_address
from ..errors import EcfnbError
from .suites import (
    DEMO_ABORT_TRIES,
    DEMO_READY_STATES,
    DEMO_SUITE,
    demo_definition,
    generated_definition,
)

PR_SET_PDEATHSIG = 1
FORCE_BATCH = 2000  # paths per `ecflow_client --force` call (argv stays far below ARG_MAX)


def free_port() -> int:
    """A TCP port free right now. ecflow_server refuses ports above 49151, where the
    kernel's own ephemeral choices often fall, so pick in 20000-32000 ourselves."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("", port))
            except OSError:
                continue
            return port
    raise EcfnbError("no free TCP port found in 20000-32000")


def die_with_parent(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` that has the kernel send ``sig`` to the child when its parent dies
    (Linux PR_SET_PDEATHSIG): a crashed test run or demo leaves no server or lab behind.
    Strictly, when the *thread* that started it ends: start servers from a thread that
    lives as long as they should (the main thread, as the CLI and the fixtures do)."""
    def arm() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # not Linux: stop() still cleans up in the normal case
    return arm


def _without_faketime(env: dict[str, str]) -> None:
    """Drop an outer libfaketime from ``env``: ``faketime DATE`` computes its offset
    with ``date``, which an inherited LD_PRELOAD would fake too (then the server kept
    the outer date, measured when the whole suite ran under faketime)."""
    for name in [n for n in env if n.startswith("FAKETIME")]:
        del env[name]
    preload = [p for p in env.get("LD_PRELOAD", "").split(":") if p and "faketime" not in p]
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    else:
        env.pop("LD_PRELOAD", None)


def program(name: str) -> str | None:
    """Where ``name`` is: on PATH, else in /usr/sbin — Debian installs ``ecflow_server``
    there (12 and 13 alike), which a non-root user's PATH often lacks."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DemoServer:
    """One ecflow_server process in ``home`` on ``port``, with the demo (or a generated) suite.

    ``tasks=None`` loads the demo suite and begins it so its jobs really run;
    ``tasks=N`` loads a generated N-task suite and forces a mix of states on a
    halted server, so that no job runs; ``definition`` (a definition text in which
    ``{home}`` stands for ECF_HOME) with ``files`` (path under ECF_HOME -> text) loads
    and begins a suite of the caller's, as tests build them.
    """

    def __init__(self, port: int | None = None, home: str | os.PathLike | None = None,
                 tasks: int | None = None, host: str = "localhost",
                 server_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 definition: str | None = None,
                 files: dict[str, str | bytes] | None = None,
                 command_prefix: tuple[str, ...] = ()) -> None:
        self.host = host
        self.port = check_port(port, "port for the demo server") if port else free_port()
        #: Extra ``ecflow_server`` arguments (``--v6``, ``--ecfinterval 2``, ``--ssl``) and
        #: environment (``TZ``, ``LD_PRELOAD`` of faketime ...) for the server process.
        self.server_args = tuple(server_args)
        self.env = dict(env or {})
        #: Runs the server through another program: ``("faketime", "-f", "@2027-03-05
        #: 08:00:00")`` gives it (and its jobs) another date.
        self.command_prefix = tuple(command_prefix)
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="ecfnb-demo-")).resolve()
        self.tasks = tasks
        self.definition = definition
        self.files = dict(files or {})
        self.process: subprocess.Popen | None = None
        self._groups: list[int] = []  # process groups of every server started (restarts too)

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def ssl(self) -> bool:
        """Whether the server speaks SSL (``--ssl``, or ECF_SSL in its ``env``): its
        certificates are in ``env['HOME']/.ecflowrc/ssl``, where clients find them too."""
        return "--ssl" in self.server_args or bool(self.env.get("ECF_SSL"))

    def __repr__(self) -> str:
        return f"DemoServer({self.address}, home={str(self.home)!r})"

    # -- life cycle --------------------------------------------------------------------
    def start(self, wait: bool = True, timeout: float = 90) -> DemoServer:
        """Start the server, load and begin the suite; with ``wait``, return once it is ready."""
        for tool in ("ecflow_server", "ecflow_client"):
            if program(tool) is None:
                raise EcfnbError(f"{tool} is not installed: run 'make setup' or "
                                 "'sudo apt-get install ecflow-server ecflow-client'")
        if port_in_use(self.port):
            raise EcfnbError(f"port {self.port} is already in use (another demo? stop it with "
                             f"'ecfnb demo --stop --port {self.port}', or choose --port)")
        self.home.mkdir(parents=True, exist_ok=True)
        self._spawn()
        try:
            self._wait_for_ping(timeout=20)
            if self.definition is not None:
                self._load_custom()
            elif self.tasks is None:
                self._load_demo()
            else:
                self._load_generated(self.tasks)
            if wait and self.tasks is None and self.definition is None:
                self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        env = dict(os.environ, ECF_HOME=str(self.home), ECF_PORT=str(self.port), **self.env)
        env.pop("ECF_HOST", None)
        if self.command_prefix[:1] == ("faketime",):
            _without_faketime(env)  # faketime inside faketime: the inner date must win
        log = open(self.home / "server.stdout", "ab")  # noqa: SIM115 - owned by the process
        # Own session: stop() kills the server and every job it spawned as one group.
        self.process = subprocess.Popen(
            [*self.command_prefix, program("ecflow_server") or "ecflow_server", "--port",
             str(self.port),
             *self.server_args], cwd=self.home,
            env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent(signal.SIGKILL))
        self._groups.append(self.process.pid)
        log.close()

    def _wait_for_ping(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise EcfnbError(f"ecflow_server exited at start (code {self.process.returncode});"
                                 f" see {self.home / 'server.stdout'}")
            if self.client("--ping", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise EcfnbError(f"ecflow_server on port {self.port} did not answer within {timeout} s")

    def client(self, *args: str, check: bool = True, timeout: float = 60
               ) -> subprocess.CompletedProcess:
        """Run ``ecflow_client`` against this server (bytes out, for raw files)."""
        env = dict(os.environ, ECF_HOST=self.host, ECF_PORT=str(self.port))
        env.update({k: v for k, v in self.env.items() if k in ("HOME", "ECF_SSL")})
        proc = subprocess.run(["ecflow_client", "--host", self.host, "--port", str(self.port),
                               *args], env=env, capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise EcfnbError(f"ecflow_client {' '.join(args)[:200]} failed: "
                             f"{proc.stderr.decode(errors='replace').strip()[:500]}")
        return proc

    def _copy_demo_files(self) -> None:
        files = resources.files("ecfnb._demo") / "files"
        for sub in ("include", "scripts"):
            target = self.home / sub
            target.mkdir(exist_ok=True)
            for item in (files / sub).iterdir():
                (target / item.name).write_bytes(item.read_bytes())

    def _load_demo(self) -> None:
        self._copy_demo_files()
        definition = self.home / f"{DEMO_SUITE}.def"
        definition.write_text(demo_definition(self.home, host=self.host))
        self.client("--alter=add", "variable", "ECFNB_SITE", "demo", "/")
        self.client("--load", str(definition))
        self.client("--restart")
        self.client("--begin", DEMO_SUITE)

    def _load_custom(self) -> None:
        assert self.definition is not None
        for name, content in self.files.items():
            target = self.home / name
            target.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            target.write_bytes(data.replace(b"{home}", str(self.home).encode()))
        definition = self.home / "custom.def"
        definition.write_text(self.definition.replace("{home}", str(self.home)))
        self.client("--load", str(definition))
        self.client("--restart")
        self.client("--begin")

    def _load_generated(self, n_tasks: int) -> None:
        generated = generated_definition(n_tasks)
        definition = self.home / f"generated-{n_tasks}.def"
        definition.write_text(generated.text)
        self.client("--alter=add", "variable", "ECFNB_SITE", "generated", "/")
        self.client("--load", str(definition), timeout=600)
        self.client("--begin")  # the server stays halted: nothing is submitted
        for state, paths in generated.force.items():
            for i in range(0, len(paths), FORCE_BATCH):
                self.client(f"--force={state}", *paths[i:i + FORCE_BATCH], timeout=600)

    def wait_ready(self, timeout: float = 90) -> None:
        """Block until every state the demo promises (DEMO_READY_STATES) is reached."""
        from .._server.server import Server

        server = Server(self.host, self.port, ssl=self.ssl)
        deadline = time.monotonic() + timeout
        missing: dict[str, str] = {}
        while time.monotonic() < deadline:
            server.sync()
            missing = {}
            for path, want in DEMO_READY_STATES.items():
                got = server.node(path, detail=False)
                if got.state != want:
                    missing[path] = f"{got.state} (want {want})"
            post = server.node("/demo/forecast/post", detail=False)
            if post.try_no < DEMO_ABORT_TRIES:
                missing[post.path] = f"try {post.try_no} (want {DEMO_ABORT_TRIES})"
            progress = server.node("/demo/monitor/progress")
            if not any(a.kind == "meter" and a.value not in ("0", "") for a in progress.attributes):
                missing[progress.path] = "meter not moved yet"
            if not missing:
                return
            time.sleep(0.3)
        raise EcfnbError(f"demo server {self.address} not ready after {timeout} s: {missing}")

    def checkpoint(self) -> None:
        self.client("--check_pt")

    def kill(self) -> None:
        """SIGKILL the server only (its jobs live on), as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self, timeout: float = 20, run: bool = True) -> None:
        """Start the server again on the same port and home: it recovers from its
        checkpoint, halted; ``run`` restarts scheduling as an operator would."""
        deadline = time.monotonic() + timeout
        while port_in_use(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._spawn()
        self._wait_for_ping(timeout=timeout)
        if run:
            self.client("--restart")

    def stop(self) -> None:
        """Terminate the server and kill its process group; nothing is left running."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            try:
                self.client("--terminate=yes", check=False, timeout=10)
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for group in self._groups:  # the server(s) and every job they spawned
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if proc is not None:
            proc.wait(10)
        self._groups.clear()
        self.process = None

    def remove_home(self) -> None:
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> DemoServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.remove_home()


def stop_server(port: int, host: str = "localhost", timeout: float = 10) -> None:
    """Stop a demo server started elsewhere (``ecfnb demo --stop``): terminate it, then
    kill its process group so that its jobs go too. Only local ecflow_server processes."""
    from .._server.server import Server

    server = Server(host, port)
    server.sync()
    pid = int(server.info().pid or 0)
    comm = Path(f"/proc/{pid}/comm")
    if not pid or not comm.exists() or comm.read_text().strip() != "ecflow_server":
        raise EcfnbError(f"no local ecflow_server process found for port {port}")
    group = os.getpgid(pid)
    server.run_client("--terminate=yes")
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        if comm.exists() and "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            break  # a zombie: it exited, its parent has not reaped it yet
        time.sleep(0.1)
    try:
        # Kill the group only where the server leads it (as DemoServer starts it): a
        # server started from a shell without job control shares the shell's group.
        if group == pid:
            os.killpg(group, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
