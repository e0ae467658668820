"""`ecfnb demo` as a user runs it: a subprocess, `ready host:port`, stop, nothing left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecfnb import DemoServer, Server, free_port
from ecfnb._demo.suites import generated_definition

from conftest import get_state

ECFNB = [sys.executable, "-m", "ecfnb"]


def _server_pids(port: int) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"ecflow_server --port {port}"],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([*ECFNB, "demo", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if line.startswith("ready "):
            return proc, line.split()[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no 'ready' line; output:\n{seen}")


@pytest.mark.parametrize("how", ["ctrl-c", "--stop"])
def test_demo_command_starts_and_stops_cleanly(tmp_path, how):
    port = free_port()
    home = tmp_path / "home"
    proc, address = _start("--port", str(port), "--home", str(home))
    assert address == f"localhost:{port}"
    states = get_state(port)
    assert states["/demo/forecast/post"][1] == "aborted"
    assert states["/demo/archive"][1] == "suspended"
    assert states["/demo/monitor/progress"][1] == "active"
    job_pids = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout
    assert job_pids.strip(), "the long-running demo job should be running"
    if how == "ctrl-c":
        proc.send_signal(signal.SIGINT)
    else:
        stop = subprocess.run([*ECFNB, "demo", "--stop", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
    assert proc.wait(30) == 0
    assert "nothing left running" in proc.stdout.read()
    assert _server_pids(port) == []
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout
    assert left.strip() == "", f"jobs left running: {left}"


def test_demo_on_busy_port_says_so():
    with DemoServer() as demo:
        proc = subprocess.run([*ECFNB, "demo", "--port", str(demo.port)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1
        assert f"port {demo.port} is already in use" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert _server_pids(demo.port) == []


def test_stop_without_server_is_a_clear_error():
    proc = subprocess.run([*ECFNB, "demo", "--stop", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "not reachable" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_generated_suite_has_the_size_and_mix_asked_for():
    gen = generated_definition(1000)
    assert gen.tasks == 1000
    assert gen.text.count("\n      task ") == 1000
    with DemoServer(tasks=1000) as demo:
        states = get_state(demo.port)
        tasks = {p: s for p, (kind, s) in states.items() if kind == "task"}
        assert len(tasks) == 1000
        seen = set(tasks.values()) | {s for _, s in states.values()}
        assert {"queued", "complete", "aborted", "active", "suspended"} <= seen
        assert any("." in Path(p).name for p in tasks)  # dotted names too
        server = Server(demo.host, demo.port)
        server.sync()
        attrs = {a.kind for p in list(tasks)[:40] for a in server.node(p).attributes}
        assert {"label", "meter", "event", "trigger", "variable"} <= attrs


def test_demo_home_has_real_scripts(demo):
    scripts = {p.name for p in (demo.home / "scripts").iterdir()}
    assert {"post.ecf", "check.data.ecf", "report.ecf"} <= scripts
    head = (demo.home / "include" / "head.h").read_text()
    assert "ecflow_client --init" in head and "ecflow_client --abort" in head
    assert os.path.exists(demo.home / "demo" / "forecast" / "post.1")


def test_demo_with_lab_serves_the_explore_notebook():
    import urllib.request

    port, lab_port = free_port(), free_port()
    proc, _address = _start("--port", str(port), "--lab", "--lab-port", str(lab_port))
    try:
        url = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not url:
            line = proc.stdout.readline()
            if line.startswith("JupyterLab: "):
                url = line.split(": ", 1)[1].strip()
        assert "/lab/tree/explore.ipynb?token=" in url
        with urllib.request.urlopen(url.replace("/lab/tree/explore.ipynb",
                                                "/api/contents/explore.ipynb"), timeout=30) as r:
            assert b"ecf_connect" in r.read()
        # the demo server is also a jupyter-fs drive (ecflow://localhost:PORT/)
        with urllib.request.urlopen(url.replace("/lab/tree/explore.ipynb",
                                                "/jupyterfs/resources"), timeout=30) as r:
            resources = json.loads(r.read())
        assert [(r["url"], r.get("init")) for r in resources] == [
            (f"ecflow://localhost:{port}/", True)]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    lab_left = subprocess.run(["pgrep", "-f", f"--port={lab_port}"], capture_output=True,
                              text=True).stdout
    assert lab_left.strip() == "" and _server_pids(port) == []


def test_demo_killed_outright_leaves_no_server(tmp_path):
    port = free_port()
    proc, _address = _start("--port", str(port), "--home", str(tmp_path / "home"))
    assert _server_pids(port)
    proc.kill()  # SIGKILL: no cleanup code runs in ecfnb itself
    proc.wait(10)
    deadline = time.monotonic() + 10
    while _server_pids(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _server_pids(port)
    # the orphaned demo job would give up by itself (ECF_TIMEOUT); end it now
    subprocess.run(["pkill", "-9", "-f", str(tmp_path / "home")])
    assert left == []


def test_the_server_is_found_in_usr_sbin_off_the_path(monkeypatch):
    """Debian installs ecflow_server in /usr/sbin (12 and 13 alike), which a user's PATH
    often lacks."""
    import shutil

    if not os.path.exists("/usr/sbin/ecflow_server"):
        pytest.skip("ecflow_server is not in /usr/sbin here (Debian puts it there)")
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    assert shutil.which("ecflow_server") is None  # as a user's PATH has it
    with DemoServer(tasks=5) as demo:
        assert demo.client("--ping").returncode == 0
