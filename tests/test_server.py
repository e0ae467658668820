"""Server and NodeInfo against real ecflow_server processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

import ecfnb
from ecfnb import (
    DemoServer,
    FileUnavailable,
    NodeNotFound,
    Server,
    ServerUnreachable,
    connect,
    free_port,
    parse_address,
)

from conftest import get_state, wait_for


def test_connect_to_closed_port_fails_fast():
    start = time.monotonic()
    with pytest.raises(ServerUnreachable) as info:
        connect("localhost", free_port())
    assert time.monotonic() - start < 2
    assert "not reachable" in str(info.value) and "--ping" in str(info.value)


def test_stopped_server_fails_within_two_seconds_and_recovers(fresh_demo, capfd):
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    os.kill(fresh_demo.process.pid, signal.SIGSTOP)
    try:
        for call in (server.sync, server.ping, lambda: server.read_file("/demo/forecast/post",
                                                                          "script")):
            start = time.monotonic()
            with pytest.raises(ServerUnreachable):
                call()
            assert time.monotonic() - start < 3.5, call
        assert not server.connected
    finally:
        os.kill(fresh_demo.process.pid, signal.SIGCONT)
    assert server.sync().full  # after a failure the view is rebuilt whole
    assert server.connected and server.node("/demo/forecast/post").state == "aborted"
    assert "Connection error" not in capfd.readouterr().err  # C++ noise kept off stderr


def test_node_info(server):
    post = server.node("/demo/forecast/post")
    assert (post.kind, post.state, post.try_no) == ("task", "aborted", 1)
    assert post.aborted_reason == "exit 1"
    assert isinstance(post.since, datetime) and post.since.tzinfo is timezone.utc
    assert abs((datetime.now(timezone.utc) - post.since).total_seconds()) < 3600
    assert post.detailed and ("trigger", "model == complete") in {
        (a.kind, a.value) for a in post.attributes}
    assert server.node("/demo/archive").state == "suspended"
    assert server.node("/demo/archive/store").state == "queued"
    assert server.node("/demo").kind == "suite"
    assert server.node("/demo/prepare").kind == "family"
    assert server.node("/").kind == "server" and server.node("/").child_names == ("demo",)
    progress = server.node("/demo/monitor/progress")
    assert {a.kind for a in progress.attributes} >= {"meter", "label", "variable"}


def test_variables_own_generated_inherited(server):
    model = server.node("/demo/forecast/model")
    by_name = {v.name: v for v in model.variables}
    assert (by_name["MEMBER"].origin, by_name["MEMBER"].value) == ("own", "0")
    assert by_name["ECF_TRYNO"].origin == "generated"
    assert (by_name["RESOLUTION"].origin, by_name["RESOLUTION"].source) == (
        "inherited", "/demo/forecast")
    assert (by_name["REGION"].origin, by_name["REGION"].source) == ("inherited", "/demo")
    assert (by_name["ECFNB_SITE"].source, by_name["ECFNB_SITE"].value) == ("/", "demo")
    assert by_name["ECF_PORT"].source == "/"
    assert server.variable("/demo/forecast/model", "RESOLUTION") == "O1280"
    assert server.variable("/demo/forecast/model", "ECF_JOBOUT").endswith("model.1")
    assert server.variable("/demo/forecast/model", "NO_SUCH") is None


def test_children_are_summaries_in_order(server):
    kids = server.children("/demo/forecast")
    assert [k.name for k in kids] == ["model", "post", "report"]
    assert not any(k.detailed for k in kids)
    assert [k.name for k in server.children("/")] == ["demo"]


def test_node_not_found(server):
    with pytest.raises(NodeNotFound) as info:
        server.node("/demo/nope")
    assert "/demo/nope" in str(info.value)
    with pytest.raises(FileNotFoundError):
        server.children("/nope")


def test_read_file(server):
    assert b"%include <head.h>" in server.read_file("/demo/forecast/post", "script")
    assert b"job failed" in server.read_file("/demo/forecast/post", "output")
    assert b"REPORT" in server.read_file("/demo/forecast/report", "manual")
    with pytest.raises(ValueError, match="unknown file kind"):
        server.read_file("/demo/forecast/post", "scriptz")
    with pytest.raises(FileUnavailable, match="a family has no jobout"):
        server.read_file("/demo/forecast", "jobout")
    with pytest.raises(FileUnavailable, match="Failed to open"):
        server.read_file("/demo/archive/store", "jobout")


def test_sync_is_incremental(fresh_demo):
    server = Server(fresh_demo.host, fresh_demo.port)
    assert server.sync().full
    fresh_demo.client("--suspend", "/demo/housekeeping")
    result = wait_for(lambda: (lambda r: r if r.changed else None)(server.sync()),
                      what="an incremental change")
    assert not result.full and "/demo/housekeeping" in result.changed
    assert server.node("/demo/housekeeping").state == "suspended"


def test_restart_from_checkpoint_recovers(fresh_demo):
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    old_pid = server.info().pid
    fresh_demo.checkpoint()
    fresh_demo.kill()
    with pytest.raises(ServerUnreachable):
        server.sync()
    fresh_demo.restart()
    fresh_demo.client("--suspend", "/demo/housekeeping")
    server.sync()
    assert server.connected
    assert server.info().pid != old_pid
    assert server.node("/demo/housekeeping").state == "suspended"
    assert server.node("/demo/forecast/post").state == "aborted"  # from the checkpoint
    assert get_state(fresh_demo.port)["/demo/housekeeping"][1] == "suspended"


def test_restart_noticed_without_a_failed_call(fresh_demo, monkeypatch):
    """Killed and restarted between two syncs: the Server must not keep the old view."""
    import ecfnb._server.server as server_module

    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    old_pid = server.info().pid
    fresh_demo.checkpoint()
    fresh_demo.kill()
    fresh_demo.restart()
    monkeypatch.setattr(server_module, "IDENTITY_CHECK_SECONDS", 0.0)
    server.sync()
    assert server.info().pid != old_pid


def test_threads_share_one_server(server):
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                server.sync()
                assert server.node("/demo/forecast/post").state == "aborted"
                assert len(server.children("/demo")) == 6
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_parse_address(monkeypatch):
    monkeypatch.delenv("ECF_HOST", raising=False)
    monkeypatch.delenv("ECF_PORT", raising=False)
    assert parse_address() == ("localhost", 3141)
    assert parse_address("h:1212") == ("h", 1212)
    assert parse_address("h", 1313) == ("h", 1313)
    assert parse_address("[::1]:4141") == ("::1", 4141)
    assert parse_address("::1", 4141) == ("::1", 4141)
    monkeypatch.setenv("ECF_HOST", "e")
    monkeypatch.setenv("ECF_PORT", "1414")
    assert parse_address() == ("e", 1414)
    with pytest.raises(ValueError, match="bad ecFlow port 'abc'"):
        parse_address("h:abc")


@pytest.mark.parametrize("address, words", [
    ("localhost:", "the port is missing"), (":", "the host is missing"),
    (":3141", "the host is missing"), ("", "give HOST:PORT"),
    ("localhost:99999", "only listens on ports 1024-49151"),
    ("localhost:80", "only listens on ports 1024-49151"),
    ("http://localhost:3141", "without a scheme"), ("[::1", "IPv6 address"),
    ("[::1]:", "the port is missing")])
def test_bad_addresses_are_sentences_not_defaults(address, words, monkeypatch):
    monkeypatch.setenv("ECF_PORT", "3141")  # a silent fallback would hide the mistake
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_address(address)
    with pytest.raises(ValueError, match=re.escape(words)):
        ecfnb.connect(address)


def test_an_ipv6_address_reaches_a_real_server():
    with DemoServer(tasks=3, server_args=("--v6",)) as v6:
        server = Server(f"[::1]:{v6.port}")
        assert server.address == f"[::1]:{v6.port}"
        server.sync()
        assert [child.name for child in server.children("/")] == ["gen00"]


def test_import_without_ecflow_says_how_to_install():
    code = "import sys; sys.modules['ecflow'] = None; import ecfnb"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "EcflowMissing" in proc.stderr
    assert "apt-get install python3-ecflow" in proc.stderr and "conda-forge ecflow" in proc.stderr


def test_repr_html(server):
    html = server._repr_html_()
    assert "demo" in html and server.address in html
    node_html = server.node("/demo/forecast/post")._repr_html_()
    assert "rgb(255,59,53)" in node_html and "/demo/forecast/post" in node_html


def test_non_utf8_abort_reason_and_label_do_not_break_listings(fresh_demo):
    fresh_demo.client("--alter", "add", "label", "note", "caf\udce9".encode(
        "utf-8", "surrogateescape").decode("latin-1"), "/demo/archive/store")
    script = fresh_demo.home / "scripts" / "fetch_obs.ecf"
    script.write_bytes(script.read_bytes().replace(
        b'echo "fetching', b"ecflow_client --abort=\"$(printf 'caf\\351 \\377')\"\ntrap - 0\n"
        b"exit 0\necho \"fetching"))
    fresh_demo.client("--requeue", "/demo/prepare/fetch_obs")
    wait_for(lambda: get_state(fresh_demo.port)["/demo/prepare/fetch_obs"][1] == "aborted",
             what="fetch_obs to abort")
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    info = server.node("/demo/prepare/fetch_obs")
    assert info.state == "aborted" and "not UTF-8" in info.aborted_reason
    assert [k.name for k in server.children("/demo/prepare")] == ["fetch_obs", "check.data"]
    server.node("/demo/archive/store")
