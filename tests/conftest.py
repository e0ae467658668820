"""Real ecflow_server fixtures: the same DemoServer that `ecfnb demo` runs.

``demo`` is one server for the whole session, for tests that only read;
``fresh_demo`` is a new server per test, for tests that abort, kill or stop it.
Every server is terminated and its process group killed at teardown.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from ecfnb.demo import DemoServer
from ecfnb.fsmap import FileSystemMap
from ecfnb.server import Server


@pytest.fixture(scope="session")
def demo():
    with DemoServer() as server:  # stops the server and removes its home on exit
        yield server


@pytest.fixture
def fresh_demo():
    with DemoServer() as server:
        yield server


@pytest.fixture
def server(demo) -> Server:
    srv = Server(demo.host, demo.port)
    srv.sync()
    return srv


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

    from ecfnb import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ecfnb")
    yield ip
    magics.current_server = None
    for watcher in magics.kernel_watchers:
        watcher.stop()
    magics.kernel_watchers.clear()
