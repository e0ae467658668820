"""`%load_ext ecfnb` and `%ecf_connect` in a real IPython shell."""

from __future__ import annotations

import os
import re

import ecfnb
from ecfnb import free_port


def test_ecf_connect_sets_the_current_server(shell, demo):
    server = shell.run_line_magic("ecf_connect", demo.address)
    assert server.address == demo.address and server.connected
    assert ecfnb.connect() is server
    assert "demo" in server._repr_html_()


def test_ecf_connect_bad_address_is_a_sentence(shell, capsys):
    port = free_port()
    assert shell.run_line_magic("ecf_connect", f"localhost:{port}") is None
    out = capsys.readouterr().out
    assert out.startswith("ecfnb: ecFlow server localhost:") and "not reachable" in out
    assert shell.run_line_magic("ecf_connect", "localhost:notaport") is None
    assert "bad ecFlow port" in capsys.readouterr().out
    assert ecfnb.Server.current() is None


def test_versions_are_ecfnbs_the_librarys_and_the_servers(shell, demo, capsys):
    """``%ecf_connect`` and ``ecfnb --version`` name the three versions; each is what the
    installed package, ``ecflow_client --version`` and ``--server_version`` say."""
    import subprocess
    import sys
    from importlib.metadata import version

    from helpers import server_version

    library = re.search(r"(\d+\.\d+\.\d+)", subprocess.run(
        ["ecflow_client", "--version"], capture_output=True, text=True).stdout).group(1)
    served = server_version(demo.port)
    shell.run_line_magic("ecf_connect", demo.address)
    line = capsys.readouterr().out
    assert f"ecfnb {version('ecfnb')}" in line and f"ecFlow client {library}" in line
    assert f"server {demo.address}: ecFlow {served}" in line and "warning" not in line
    env = {**os.environ, "ECF_HOST": demo.host, "ECF_PORT": str(demo.port)}
    out = subprocess.run([sys.executable, "-m", "ecfnb", "--version"], capture_output=True,
                         text=True, env=env, timeout=60).stdout
    assert f"ecFlow client library {library}" in out and f": {served}" in out
