"""Binder files: the environment names what ecfnb needs, postBuild installs it, and
binder/start runs the demo server for exactly as long as the command it starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ecfnb import free_port, jupyterfs_config

from conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
VENV_BIN = ROOT / ".venv" / "bin"


def package_names(specs: list) -> set[str]:
    """'ipytree>=0.2' -> 'ipytree'; a `pip:` section's packages too."""
    names: set[str] = set()
    for spec in specs:
        if isinstance(spec, dict):
            names |= package_names(spec.get("pip", []))
        else:
            names.add(re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower())
    return names


def test_environment_names_ecflow_and_the_lab_dependencies():
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    names = package_names(env["dependencies"])
    assert {"ecflow", "python", "pip"} <= names
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = package_names(project["dependencies"] + project["optional-dependencies"]["lab"])
    assert wanted <= names, f"missing from binder/environment.yml: {wanted - names}"


def test_binder_pins_an_ecflow_range_that_holds_what_is_tested_here(demo):
    """The pin must admit the ecFlow this machine runs — the client as
    ``ecflow_client --version`` says it, the server as ``--server_version`` says it
    (Debian 12 and Debian 13 each run this) — and shut out the major version before
    it, whose clients do not talk to this one's servers."""
    import re
    import subprocess

    from packaging.specifiers import SpecifierSet

    from helpers import server_version

    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    spec = next(d for d in env["dependencies"] if isinstance(d, str) and
                d.startswith("ecflow"))
    pin = SpecifierSet(spec[len("ecflow"):].strip())
    printed = subprocess.run(["ecflow_client", "--version"], capture_output=True,
                             text=True).stdout  # 'Ecflow version(5.9.2) boost(1.74.0) ...'
    client = re.search(r"(\d+\.\d+\.\d+)", printed).group(1)
    served = server_version(demo.port)
    assert client in pin and served in pin, (client, served, str(pin))
    major = int(client.split(".")[0])
    assert f"{major - 1}.99.0" not in pin and f"{major + 1}.0.0" not in pin


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_scripts_are_executable_bash(name):
    path = BINDER / name
    assert os.access(path, os.X_OK), f"chmod +x binder/{name}"
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_postbuild_installs_ecfnb_and_the_sidebar_drive(tmp_path):
    """Run with a stand-in pip (nothing is installed here) and a scratch HOME."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "pip").write_text('#!/bin/sh\necho "$@" >> "$HOME/pip-calls"\n')
    (shims / "pip").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), PATH=f"{shims}:{VENV_BIN}:{os.environ['PATH']}")
    subprocess.run([str(BINDER / "postBuild")], cwd=ROOT, env=env, check=True, timeout=60)
    assert (home / "pip-calls").read_text().splitlines() == ["install --no-deps -e ."]
    config = json.loads((home / ".jupyter" / "jupyter_server_config.json").read_text())
    assert config == jupyterfs_config({"ecFlow demo": "localhost:3141"})


def processes(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def test_start_runs_the_demo_for_as_long_as_the_command(tmp_path):
    port = free_port()
    server = f"ecflow_server --port {port}"
    env = dict(os.environ, ECF_PORT=str(port), TMPDIR=str(tmp_path),
               PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    env.pop("ECF_HOST", None)
    try:
        proc = subprocess.run(
            [str(BINDER / "start"), "sh", "-c",
             'ecflow_client --port $ECF_PORT --ping && echo "host=$ECF_HOST" && sleep 1'],
            env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"ping server(localhost:{port}) succeeded" in proc.stdout
        assert "host=localhost" in proc.stdout
        # The command is gone: the watchdog stops the demo, which stops its server.
        wait_for(lambda: not processes(server) and not processes(f"ecfnb demo --port {port}"),
                 timeout=30, what=f"the demo server on port {port} to stop")
        log = (tmp_path / f"ecfnb-demo-{port}.log").read_text()
        assert f"ready localhost:{port}" in log and "stopped: nothing left running." in log
    finally:  # whatever happened, leave nothing running
        if processes(server):  # (--terminate with no server there retries for 10 s)
            subprocess.run(["ecflow_client", "--port", str(port), "--terminate=yes"],
                           capture_output=True, timeout=30)
        for pid in processes(server) + processes(f"ecfnb demo --port {port}"):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
