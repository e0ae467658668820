"""Real ecflow_server fixtures: the same DemoServer that `ecfnb demo` runs.

``demo`` is one server for the whole session, for tests that only read;
``fresh_demo`` is a new server per test, for tests that abort, kill or stop it.
Every server is terminated and its process group killed at teardown.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ecfnb import DemoServer, FileSystemMap, Server


@pytest.fixture(scope="session")
def demo():
    with DemoServer() as server:  # stops the server and removes its home on exit
        yield server


@pytest.fixture
def fresh_demo():
    with DemoServer() as server:
        yield server


def synced_server(demo_server: DemoServer) -> Server:
    srv = Server(demo_server.host, demo_server.port)
    srv.sync()
    return srv


@pytest.fixture
def server(demo) -> Server:
    return synced_server(demo)


def worst_foreground_delay(seconds: float, step: float = 0.02) -> float:
    """Run a small foreground action every ``step`` s for ``seconds``; the worst extra
    delay seen (how long a background poller held the GIL)."""
    import time

    worst, stop_at = 0.0, time.monotonic() + seconds
    while time.monotonic() < stop_at:
        start = time.monotonic()
        sum(range(1000))
        time.sleep(step)
        worst = max(worst, time.monotonic() - start - step)
    return worst


def error_without_ipywidgets(call: str) -> str:
    """What ``call`` (Python, after ``import ecfnb``) prints as its ImportError in a
    process where ipywidgets cannot be imported."""
    import sys

    code = ("import sys; sys.modules['ipywidgets'] = None\n"
            "import ecfnb\n"
            f"try:\n    {call}\n"
            "except ImportError as exc:\n    print(exc)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def fsmap(server) -> FileSystemMap:
    return FileSystemMap(server)


NODE_LINE = re.compile(r"^(\s*)(suite|family|task|alias) (\S+)(.*)$")


def get_state(port: int) -> dict[str, tuple[str, str]]:
    """Independent parse of `ecflow_client --get_state`: path -> (kind, display state)."""
    out = subprocess.run(["ecflow_client", "--port", str(port), "--get_state"],
                         capture_output=True, check=True).stdout.decode(errors="replace")
    result: dict[str, tuple[str, str]] = {}
    stack: list[tuple[int, str]] = []
    for line in out.splitlines():
        match = NODE_LINE.match(line)
        if not match:
            continue
        indent, (kind, name, rest) = len(match.group(1)), match.group(2, 3, 4)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (stack[-1][1] if stack else "") + "/" + name
        stack.append((indent, path))
        state = re.search(r"\bstate:(\w+)", rest)
        display = "suspended" if "suspended:1" in rest else (state.group(1) if state else "queued")
        result[path] = (kind, display)
    return result


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def shell():
    """An IPython shell with ``%load_ext ecfnb``; the kernel-wide state is reset after."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ecfnb")
    yield ip
    Server.clear_current()
    ip.run_line_magic("ecf_unwatch", "")


#: The first line of a white list file (ECF_LISTS); any version from 4.4.5 on is accepted.
WHITE_LIST_VERSION = "4.4.14"


# -- helpers a browser test can reuse ------------------------------------------------------
def write_white_list(host: str, port: int, home: Path, *users: str) -> Path:
    """Write the server's white list and have it reload the file.

    The file is the server's ECF_LISTS variable, by default ``<host>.<port>.ecf.lists``
    in ECF_HOME with the host name the server sees (``socket.gethostname()``, not the
    'localhost' clients use), so it is asked rather than guessed. A ``-`` before a
    name means read-only. ecFlow 5 gives the user who runs the server write access
    whatever the file says."""
    name = Server(host, port).variable("/", "ECF_LISTS") or f"{host}.{port}.ecf.lists"
    path = home / name
    path.write_text("\n".join([WHITE_LIST_VERSION, *users]) + "\n")
    path.chmod(0o644)  # the server may run as another user
    run_client(host, port, "--reloadwsfile")
    return path


def make_read_only(demo_server: DemoServer, user: str = "reader") -> dict[str, str]:
    """Make ``user`` a read-only user of ``demo_server``; returns the environment
    variables a client process needs to act as that user.

    A server cannot make the user who runs it read-only (ecFlow 5 always gives it
    write access), and the demo server runs as the test's user. So the read-only
    user is a *custom* user: ``ECF_USER`` names it and ``ECF_CUSTOM_PASSWD`` points
    at a password file (``<user> <host> <port> <password>``, mode 600) that the
    client and, reloaded, the server share."""
    host, port, home = demo_server.host, demo_server.port, demo_server.home
    name = Server(host, port).variable("/", "ECF_CUSTOM_PASSWD")
    passwd = home / (name or f"{host}.{port}.ecf.custom_passwd")
    passwd.write_text(f"4.5.0\n{user} {host} {port} read-only-{port}\n")
    passwd.chmod(0o600)
    run_client(host, port, "--reloadcustompasswdfile")
    write_white_list(host, port, home, f"-{user}")
    return {"ECF_USER": user, "ECF_CUSTOM_PASSWD": str(passwd)}


def run_client(host: str, port: int, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ECF_USER", "ECF_CUSTOM_PASSWD")}
    subprocess.run(["ecflow_client", "--host", host, "--port", str(port), *args],
                   env=env, capture_output=True, check=True, timeout=30)


# -- fixtures ------------------------------------------------------------------------------
