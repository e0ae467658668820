"""Helpers the tests share (fixtures stay in conftest.py): suites built for a test, an
SMTP inbox, and independent readings of what the server holds.

"Independent" matters: a figure ecfnb shows is checked against ``ecflow_client`` and
the files on disk, parsed here without ecfnb's own code.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

#: The start of a test job: the variables a child command needs, then --init. Jobs
#: reach the server as 'localhost': the server's own ECF_HOST is its host name, which
#: need not resolve (a chroot, a container).
JOB_HEAD = """#!/bin/bash
export ECF_PORT=%ECF_PORT% ECF_HOST=localhost ECF_NAME=%ECF_NAME% ECF_PASS=%ECF_PASS%
export ECF_TRYNO=%ECF_TRYNO% ECF_RID=$$ ECF_TIMEOUT=30 ECF_DENIED=1
ecflow_client --init=$$
"""


def job(body: str) -> str:
    """A task script: ``JOB_HEAD``, ``body`` (which must end the job with --complete or
    --abort, or leave that to the default --complete at the end)."""
    return JOB_HEAD + body.rstrip("\n") + "\necflow_client --complete\n"


def suite_head(name: str, tries: int = 1) -> str:
    """The first lines of a test suite: its home and ECF_TRIES."""
    return f"suite {name}\n  edit ECF_HOME '{{home}}'\n  edit ECF_TRIES '{tries}'\n"


def client(port: int, *args: str, check: bool = True, env: dict | None = None
           ) -> subprocess.CompletedProcess:
    """``ecflow_client --port P ARGS`` with bytes out."""
    proc = subprocess.run(["ecflow_client", "--host", "localhost", "--port", str(port), *args],
                          capture_output=True, timeout=60, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"ecflow_client {' '.join(args)}: {proc.stderr.decode()}")
    return proc


def server_version(port: int) -> str:
    """The server's ecFlow version as ``ecflow_client --server_version`` prints it (the
    last word): tests compare with it, never with a number written in the test."""
    return client(port, "--server_version").stdout.decode().split()[-1]


def task_state(port: int, path: str) -> dict[str, str]:
    """The ``key:value`` fields ``ecflow_client --get_state`` prints on a task's line
    (state, try, flag, ...) — read without ecfnb."""
    out = client(port, "--get_state", path).stdout.decode(errors="replace")
    name = path.rsplit("/", 1)[-1]
    for line in out.splitlines():
        found = re.match(rf"\s*(task|alias) {re.escape(name)}\s+#(.*)$", line)
        if found:
            return dict(re.findall(r"(\w+):(\S+)", found.group(2)))
    raise AssertionError(f"no line for {path} in --get_state:\n{out}")


def wait_until(predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def job_output(home: Path, path: str, try_no: int) -> bytes:
    """The bytes ecFlow wrote for try ``try_no`` of task ``path`` (ECF_HOME/path.N, the
    server's default ECF_JOBOUT), read from disk."""
    return (Path(home) / f"{path.lstrip('/')}.{try_no}").read_bytes()


def job_file(home: Path, path: str, try_no: int) -> bytes:
    return (Path(home) / f"{path.lstrip('/')}.job{try_no}").read_bytes()


class Inbox:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from ecfnb import free_port

        self.messages: list = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(envelope)
        return "250 OK"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.controller.port}"

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def texts(self) -> list[str]:
        return [m.content.decode(errors="replace") for m in self.messages]


def no_process_matching(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).stdout == b""


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


_LINE = re.compile(r"^LOG:\[(\d+):(\d+):(\d+) (\d+)\.(\d+)\.(\d+)\]\s+(\w+): (\S+)")


def log_changes(port: int, zone: str) -> list[tuple[datetime, str, str]]:
    """(UTC moment, state, path) of every state line of the server log, read here
    (``--log=get``; its stamps in the server's ``zone``), without ecfnb's parser."""
    text = client(port, "--log=get", "100000").stdout.decode("utf-8", "replace")
    found = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            h, mi, s, d, mo, y = (int(x) for x in m.groups()[:6])
            local = datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(zone))
            found.append((local.astimezone(timezone.utc), m.group(7), m.group(8)))
    return found
