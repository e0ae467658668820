"""SSL and custom users as arguments, against real servers: an ``ecflow_server`` speaking
SSL with certificates this test makes with openssl (in its own HOME, where ecFlow looks
for them), and a server run by another user with a password file and a white list.
Every helper process — the watcher's and the explorer's pollers, the mount's daemon,
``ecflow_client`` for files and actions — must reach the server with the same settings;
a mistake is named: SSL on one side only, a missing certificate, a wrong password."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import ecfnb
from ecfnb import (
    AbortWatcher,
    AccessDenied,
    AuthenticationFailed,
    DemoServer,
    FileSystemMap,
    Server,
    SSLMismatch,
    explore,
    free_port,
    run_action,
)

from helpers import client, wait_until

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="openssl is not installed (make setup)")


def make_certificates(home: Path) -> Path:
    """A self-signed certificate as ecFlow wants it: $HOME/.ecflowrc/ssl/{server.crt,
    server.key, dh2048.pem}; clients read server.crt from the same place."""
    ssl = home / ".ecflowrc" / "ssl"
    ssl.mkdir(parents=True)
    subprocess.run(["openssl", "dhparam", "-dsaparam", "-out", str(ssl / "dh2048.pem"),
                    "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(ssl / "server.key"), "-out", str(ssl / "server.crt"), "-days", "2",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    return ssl


@pytest.fixture
def ssl_demo(tmp_path, monkeypatch):
    make_certificates(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # where this process's clients look too
    monkeypatch.delenv("ECF_SSL", raising=False)  # the settings come as arguments
    with DemoServer(env={"HOME": str(tmp_path), "ECF_SSL": "1"}) as server:
        yield server


@needs_openssl
def test_every_surface_reaches_an_ssl_server_by_argument(ssl_demo, tmp_path):
    address = ssl_demo.address
    without_ssl = {k: v for k, v in os.environ.items() if k != "ECF_SSL"}
    plain = subprocess.run(["ecflow_client", "--port", str(ssl_demo.port), "--ping"],
                           capture_output=True, text=True, env=without_ssl)
    assert plain.returncode != 0  # the server really refuses plain clients
    server = Server(address, ssl=True)
    server.sync()
    assert server.node("/demo/forecast/post").state == "aborted"
    FileSystemMap(server)
    assert b"ERROR: input file" in server.read_file("/demo/forecast/post", "jobout")
    assert b"Server statistics" in server.client_text("--stats")  # ecflow_client --ssl
    run_action(server, "suspend", "/demo/archive/store")  # an action's ecflow_client
    assert "suspended:1" in client(ssl_demo.port, "--get_state", "/demo/archive/store",
                                   env={**os.environ, "ECF_SSL": "1"}).stdout.decode()

    with AbortWatcher(server, interval=0.5) as watcher:  # its polling process
        wait_until(lambda: watcher.status == "connected", timeout=30,
                   what=f"the watcher over SSL ({watcher.status}: {watcher.message})")
        ssl_demo.client("--force=aborted", "/demo/housekeeping/nightly")
        assert watcher.wait_for_event(lambda e: e.path == "/demo/housekeeping/nightly",
                                      timeout=30)

    explorer = explore(server, interval=0.5)  # its tree poller
    try:
        view = explorer.tree.views[0]
        wait_until(lambda: view.status == "connected", timeout=30,
                   what=f"the tree poller over SSL ({view.status}: {view.message})")
        explorer.tree.expand("/demo/forecast")
        assert explorer.tree.widget_of("/demo/forecast/post") is not None
    finally:
        explorer.close()

    if os.path.exists("/dev/fuse"):  # the mount's daemon
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        ecfnb.mount(address, str(mnt), interval=2, ssl=True)
        try:
            assert (mnt / "demo" / "forecast" / "post.abo").exists()
            assert b"ERROR: input file" in (mnt / "demo" / "forecast" / "post.out").read_bytes()
        finally:
            ecfnb.umount(str(mnt))

    fs = ecfnb.EcflowFileSystem(host="localhost", port=ssl_demo.port, ssl=True,
                                skip_instance_cache=True)
    assert "/demo" in fs.ls("/", detail=False)
    once = subprocess.run([sys.executable, "-m", "ecfnb", "watch", address, "--once", "--ssl"],
                          capture_output=True, text=True, timeout=60)
    assert once.returncode == 0 and "ABORTED /demo/forecast/post" in once.stdout


@needs_openssl
def test_ssl_mistakes_are_named(ssl_demo, tmp_path, monkeypatch):
    with pytest.raises(SSLMismatch, match="the server speaks SSL.*pass ssl=True"):
        Server(ssl_demo.address, ssl=False).sync()
    with DemoServer(tasks=3) as plain:
        with pytest.raises(SSLMismatch, match="does not speak SSL: pass ssl=False"):
            Server(plain.address, ssl=True).sync()
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))  # no certificate here
    with pytest.raises(SSLMismatch, match=r"certificate is missing.*server\.crt.*\.ecflowrc/ssl"):
        Server(ssl_demo.address, ssl=True).sync()
    cli = subprocess.run([sys.executable, "-m", "ecfnb", "watch", ssl_demo.address, "--once"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and "pass ssl=True" in cli.stderr


@pytest.fixture
def guarded_server():
    """A server run by 'nobody' (the test's user is then an ordinary user of it), with a
    password file holding 'alice' (read and write) and 'reader' (read-only in the white
    list), and the demo suite. Only custom users get in."""
    if os.geteuid() != 0:
        pytest.skip("starting a server as another user needs root")
    nobody = pwd.getpwnam("nobody")
    home = Path(tempfile.mkdtemp(prefix="ecfnb-guarded-"))
    port = free_port()
    host = os.uname().nodename
    (home / f"{host}.{port}.ecf.custom_passwd").write_text(
        f"4.5.0\nalice {host} {port} secret\nreader {host} {port} rpw\n")
    (home / f"{host}.{port}.ecf.lists").write_text("4.4.14\nalice\n-reader\n")
    (home / "s.def").write_text("suite s\n  family f\n    task t\n  endfamily\nendsuite\n")
    for path in (home, *home.iterdir()):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chmod(home / f"{host}.{port}.ecf.custom_passwd", 0o600)
    proc = subprocess.Popen(["ecflow_server", "--port", str(port)], cwd=home,
                            env=dict(os.environ, ECF_HOME=str(home), ECF_PORT=str(port)),
                            user=nobody.pw_uid, group=nobody.pw_gid, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    files = {}
    for user, password in (("alice", "secret"), ("reader", "rpw"), ("alice", "wrong")):
        path = home / f"client-{user}-{password}"
        path.write_text(f"4.5.0\n{user} localhost {port} {password}\n")
        path.chmod(0o600)
        files[(user, password)] = str(path)
    alice = {**os.environ, "ECF_USER": "alice", "ECF_CUSTOM_PASSWD": files[("alice", "secret")]}
    try:
        wait_until(lambda: subprocess.run(["ecflow_client", "--port", str(port), "--ping"],
                                          capture_output=True, env=alice).returncode == 0,
                   timeout=20, what="the guarded server")
        client(port, "--load", str(home / "s.def"), env=alice)
        yield f"localhost:{port}", files, home
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        shutil.rmtree(home, ignore_errors=True)


def test_custom_users_by_argument_on_every_surface(guarded_server, tmp_path, monkeypatch):
    address, files, _home = guarded_server
    for name in ("ECF_USER", "ECF_CUSTOM_PASSWD", "ECF_PASSWD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthenticationFailed):  # the test's own user: not let in
        Server(address).sync()
    alice = Server(address, user="alice", password_file=files[("alice", "secret")])
    alice.sync()
    assert alice.node("/s/f/t").kind == "task"
    run_action(alice, "suspend", "/s/f")  # alice writes
    reader = Server(address, user="reader", password_file=files[("reader", "rpw")])
    reader.sync()
    assert reader.node("/s/f").state == "suspended"
    with pytest.raises(AccessDenied, match="no write access") as refused:
        run_action(reader, "resume", "/s/f")
    assert not isinstance(refused.value, AuthenticationFailed)
    with pytest.raises(AuthenticationFailed, match="'alice' is not allowed any access.*"
                                                   "password"):
        Server(address, user="alice", password_file=files[("alice", "wrong")]).sync()
    with pytest.raises(ValueError, match="password file .* does not exist"):
        Server(address, user="alice", password_file=str(tmp_path / "nope"))

    with AbortWatcher(alice, interval=0.5) as watcher:  # the polling process, as alice
        wait_until(lambda: watcher.status == "connected", timeout=30,
                   what=f"the watcher as alice ({watcher.status}: {watcher.message})")
    explorer = explore(reader, interval=0.5)  # the tree poller, as reader
    try:
        view = explorer.tree.views[0]
        wait_until(lambda: view.status == "connected", timeout=30,
                   what=f"the tree poller as reader ({view.status}: {view.message})")
    finally:
        explorer.close()
    if os.path.exists("/dev/fuse"):
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        ecfnb.mount(address, str(mnt), interval=2, user="reader",
                    password_file=files[("reader", "rpw")])
        try:
            assert (mnt / "s" / "f.sus").exists()
        finally:
            ecfnb.umount(str(mnt))
    cli = subprocess.run([sys.executable, "-m", "ecfnb", "watch", address, "--once", "--user",
                          "reader", "--password-file", files[("reader", "rpw")]],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
