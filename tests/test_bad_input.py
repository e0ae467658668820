"""Bad input gets clear words: ports no ecflow_server can use are refused before anything
starts, a wrong password or an unknown user is named as such (not as "no write
access"), and the demo's jobs reach their server even where the machine's host name
does not resolve."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ecfnb import AccessDenied, AuthenticationFailed, DemoServer, Server, run_action

from conftest import make_read_only
from helpers import no_process_matching

ECFNB = [sys.executable, "-m", "ecfnb"]


@pytest.mark.parametrize("args", [["demo", "--port", "99999"], ["demo", "--port", "80"],
                                  ["demo", "--port", "3141", "--lab-port", "99999"],
                                  ["watch", "localhost:99999"], ["watch", ":"],
                                  ["mount", "localhost:", "/tmp/nowhere"]])
def test_commands_refuse_bad_ports_before_starting_anything(args):
    proc = subprocess.run([*ECFNB, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr and "OverflowError" not in proc.stderr
    assert proc.stderr.startswith(f"ecfnb {args[0]}: bad")
    assert no_process_matching("ecflow_server --port 99999")


def _password_file(tmp_path, user: str, port: int, password: str) -> str:
    path = tmp_path / f"{user}.passwd"
    path.write_text(f"4.5.0\n{user} localhost {port} {password}\n")
    path.chmod(0o600)
    return str(path)


def test_wrong_password_unknown_user_and_read_only_are_told_apart(fresh_demo, tmp_path,
                                                                  monkeypatch):
    reader = make_read_only(fresh_demo)  # 'reader' is a read-only custom user
    monkeypatch.setenv("ECF_USER", "reader")
    monkeypatch.setenv("ECF_CUSTOM_PASSWD", reader["ECF_CUSTOM_PASSWD"])
    ok = Server(fresh_demo.host, fresh_demo.port)
    ok.sync()  # a read-only user reads
    with pytest.raises(AccessDenied) as write:
        run_action(ok, "suspend", "/demo")
    assert not isinstance(write.value, AuthenticationFailed)
    assert "no write access" in str(write.value)

    monkeypatch.setenv("ECF_CUSTOM_PASSWD",
                       _password_file(tmp_path, "reader", fresh_demo.port, "wrong"))
    with pytest.raises(AuthenticationFailed) as wrong:
        Server(fresh_demo.host, fresh_demo.port).sync()  # even a read
    text = str(wrong.value)
    assert "not allowed any access" in text and "password" in text and "'reader'" in text
    assert "no write access" not in text

    monkeypatch.setenv("ECF_USER", "stranger")
    monkeypatch.setenv("ECF_CUSTOM_PASSWD",
                       _password_file(tmp_path, "stranger", fresh_demo.port, "x"))
    with pytest.raises(AuthenticationFailed, match="'stranger' is not allowed any access"):
        Server(fresh_demo.host, fresh_demo.port).read_file("/demo/forecast/post", "jobout")

    monkeypatch.delenv("ECF_CUSTOM_PASSWD")
    with pytest.raises(AuthenticationFailed, match="needs a password"):
        Server(fresh_demo.host, fresh_demo.port).client_text("--stats")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="a host name of its own needs root and unshare")
def test_demo_jobs_reach_the_server_where_the_host_name_does_not_resolve():
    """The server runs in a UTS namespace whose host name resolves nowhere: it would give
    its jobs that name (ECF_HOST), and every job's --init would fail."""
    hostname = "ecfnb-no-such-host.invalid"
    prefix = ("unshare", "--uts", "sh", "-c", f'hostname {hostname} && exec "$0" "$@"')
    with DemoServer(command_prefix=prefix) as demo:  # start() waits for the jobs' states
        server = Server(demo.host, demo.port)
        server.sync()
        generated = {v.name: v.value for v in server.node("/").variables}
        assert generated["ECF_HOST"] == hostname  # what the server calls itself
        assert server.variable("/demo/forecast/post", "ECFNB_JOB_HOST") == "localhost"
        job = (demo.home / "demo" / "prepare" / "fetch_obs.job1").read_text()
        assert "export ECF_HOST=localhost" in job
        assert server.node("/demo/prepare/fetch_obs").state == "complete"
