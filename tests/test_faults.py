"""Faults ecfnb must survive: a different server on the same port, a polling process that
dies, a variable that is not UTF-8, a redirected job output, a one-line 10 MB output,
a hung server under explore(), a node deleted under an open file."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import fsspec
import pytest

import ecfnb
from ecfnb import (
    AbortEvent,
    AbortWatcher,
    DemoServer,
    FileSystemMap,
    Server,
    WatcherEvent,
    explore,
)

from helpers import job, suite_head, task_state, wait_until

OTHER = suite_head("other") + "  task broken\nendsuite\n"
BROKEN = job('echo "the other server\'s job"\necflow_client --abort="other server"\nexit 0\n')


def test_a_different_server_on_the_same_port(tmp_path):
    first = DemoServer(tasks=60).start()
    port = first.port
    server = Server(first.host, port)
    server.sync()
    fs = fsspec.filesystem("ecflow", host="localhost", port=port, interval=0.2,
                           skip_instance_cache=True)
    assert "/gen00" in fs.ls("/", detail=False)
    watcher = AbortWatcher(first.address, interval=0.5).start()
    explorer = explore(Server(first.host, port), interval=0.5)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = os.path.exists("/dev/fuse")
    if mounted:
        ecfnb.mount(first.address, str(mnt), interval=1)
        assert "gen00" in os.listdir(mnt)
    second = None
    try:
        wait_until(lambda: watcher.status == "connected", what="the watcher")
        first.stop()
        first.remove_home()
        second = DemoServer(port=port, definition=OTHER,
                            files={"other/broken.ecf": BROKEN}).start()
        wait_until(lambda: task_state(port, "/other/broken").get("state") == "aborted",
                   what="the new server's task to abort")
        server.sync()  # no error, and the new tree at once
        assert [child.name for child in server.children("/")] == ["other"]
        wait_until(lambda: "/other" in fs.ls("/", detail=False), timeout=5,
                   what="fsspec to list the new server's suite")
        event = watcher.wait_for_event(lambda e: e.path == "/other/broken", timeout=30,
                                       include_history=True)
        assert isinstance(event, AbortEvent) and event.reason == "other server"
        assert watcher.running and watcher.status == "connected", watcher.message
        view = explorer.tree.view(0)
        try:
            wait_until(lambda: view.nodes.get("/other") is not None,
                       timeout=15, what="the explorer to show the new suite")
        except AssertionError as exc:  # say what the explorer's poller was doing
            poller = view.follower
            forked = poller is not None and poller.fork is not None
            raise AssertionError(
                f"{exc}: the tree says {view.status!r} {view.message!r}; its poller "
                f"(pid {poller and poller.pid}, forked: {forked}) "
                f"{'runs' if poller and poller.running else 'has ended'}") from None
        explorer.select("/other/broken")
        assert explorer.panel.info is not None and explorer.panel.info.state == "aborted"
        if mounted:
            wait_until(lambda: "other" in os.listdir(mnt), timeout=10,
                       what="the mount to show the new server's suite")
            assert b"other server" in (mnt / "other" / "broken.abo").read_bytes()
    finally:
        if mounted and ecfnb.is_mounted(str(mnt)):
            ecfnb.umount(str(mnt))
        watcher.stop()
        explorer.close()
        if second is not None:
            second.stop()
            second.remove_home()
        first.stop()


def test_a_polling_process_that_dies_is_started_again_then_the_watcher_says_it_stopped(
        fresh_demo):
    seen = []
    watcher = AbortWatcher(fresh_demo.address, interval=0.3, on_event=seen.append).start()
    try:
        wait_until(lambda: watcher.status == "connected", what="connected")
        first = watcher.pid
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: watcher.pid not in (None, first) and watcher.status == "connected",
                   timeout=30, what="a new polling process")
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        event = watcher.wait_for_event(lambda e: e.path == "/demo/archive/store",
                                       timeout=20, include_history=True)
        assert isinstance(event, AbortEvent)
        time.sleep(1)
        assert [e.path for e in watcher.events].count("/demo/archive/store") == 1
        for _ in range(6):  # it keeps dying: after five restarts it gives up, loudly
            pid = watcher.pid
            if pid is None or watcher.status == "failed":
                break
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda pid=pid: watcher.pid != pid or watcher.status == "failed",
                       timeout=30, what="a restart or the end")
        wait_until(lambda: watcher.status == "failed", timeout=30, what="the watcher to fail")
        problem = [e for e in seen if isinstance(e, WatcherEvent)]
        assert len(problem) == 1 and "STOPPED watching" in problem[0].why
        assert "WATCHER PROBLEM" in problem[0].text()
    finally:
        watcher.stop()


def test_a_variable_that_is_not_utf8_breaks_nothing(fresh_demo):
    bad = os.fsencode("v\udcff")  # the byte 0xff
    subprocess.run([b"ecflow_client", b"--port", str(fresh_demo.port).encode(),
                    b"--alter", b"add", b"variable", b"BAD", bad, b"/demo/forecast"],
                   check=True, capture_output=True)
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    fsmap = FileSystemMap(server)
    for path in ("/demo/forecast", "/demo/forecast/post", "/demo/forecast/model"):
        info = server.node(path)
        bad_vars = [v for v in info.variables if v.name == "BAD"]
        assert bad_vars and "\ufffd" in bad_vars[0].value, path
        assert fsmap.read(path + ".att").startswith(info.kind.encode())
    assert b"edit BAD" in fsmap.read("/demo/forecast.att")
    assert fsmap.read("/demo/forecast/post.why")
    from ecfnb import incident

    record = incident("/demo/forecast/post", server)
    assert record.path == "/demo/forecast/post"
    explorer = explore(server, path="/demo/forecast/post", interval=60)
    try:
        panel = explorer.panel
        panel.tabs.selected_index = panel.tab_names.index("Attributes")
        assert "trigger model == complete" in panel.pages["Attributes"].value
        panel.tabs.selected_index = panel.tab_names.index("Variables")
        assert "BAD" in panel.pages["Variables"].value  # inherited from the family
        assert "RESOLUTION" in panel.pages["Variables"].value
    finally:
        explorer.close()


def test_a_redirected_job_output_is_not_read_from_local_disk(fresh_demo, tmp_path):
    secret = tmp_path / "someone-elses-file"
    secret.write_text("secret of another user\n")
    fresh_demo.client("--alter=add", "variable", "ECF_JOBOUT", str(secret),
                      "/demo/forecast/post")
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    fsmap = FileSystemMap(server)
    assert server.variable("/demo/forecast/post", "ECF_JOBOUT") == str(secret)
    assert fsmap.local_path("/demo/forecast/post.out") is None  # not served from disk
    assert fsmap.local_path("/demo/forecast/model.out") is not None  # under ECF_HOME: is
    trusted = FileSystemMap(server, local_roots=[tmp_path])  # unless the user says so
    assert trusted.local_path("/demo/forecast/post.out") == str(secret)


def test_a_last_line_longer_than_the_tail_window_is_shown_cut(fresh_demo):
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    fsmap = FileSystemMap(server)
    out = fsmap.local_path("/demo/forecast/post.out")
    with open(out, "ab") as handle:  # a progress bar: \r, no newline, 10 MB
        handle.write(b"progress " + b"\r42%" * (10 * 1024 * 1024 // 4) + b" END-OF-LINE")
    tail = fsmap.tail("/demo/forecast/post.out", 100, max_bytes=4 * 1024 * 1024)
    assert tail.endswith(b" END-OF-LINE") and len(tail) <= 4 * 1024 * 1024 + 200
    assert b"line cut" in tail.splitlines()[0]


def test_explore_on_a_hung_server_shows_its_frame_at_once(fresh_demo):
    """SIGSTOPped: the server accepts connections and never answers. explore() used to
    sync in the kernel (2.1 s frozen); now the frame is there at once and its poller
    fills it, and makes the selection asked for, when the server answers again."""
    post = "/demo/forecast/post"
    os.kill(fresh_demo.process.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        explorer = explore(fresh_demo.address, path=post, interval=0.5)
        took = time.monotonic() - start
    finally:
        os.kill(fresh_demo.process.pid, signal.SIGCONT)
    try:
        assert took < 1.0, f"explore() blocked the kernel {took:.1f} s"
        assert fresh_demo.address in explorer.tree.views[0].widget.name
        wait_until(lambda: explorer.panel.info is not None and
                   explorer.panel.info.path == post, timeout=30,
                   what="the tree filled and the path selected once the server answered")
        assert explorer.tree.view(0).nodes.get("/demo") is not None
    finally:
        explorer.close()


def test_explore_fills_the_tree_from_its_poller_and_selects_the_path(fresh_demo):
    explorer = explore(fresh_demo.address, path="/demo/forecast/post", interval=0.5)
    try:
        wait_until(lambda: explorer.panel.info is not None and
                   explorer.panel.info.path == "/demo/forecast/post", timeout=20,
                   what="the selected path once the tree is filled")
        assert explorer.tree.view(0).nodes.get("/demo/forecast/post") is not None
    finally:
        explorer.close()


needs_fuse = pytest.mark.skipif(not os.path.exists("/dev/fuse"),
                                reason="this machine has no /dev/fuse")


@pytest.fixture
def mnt(tmp_path):
    point = tmp_path / "mnt"
    point.mkdir()
    yield str(point)
    if ecfnb.is_mounted(str(point)):
        ecfnb.umount(str(point))


@needs_fuse
def test_a_file_opened_before_its_node_was_deleted_stays_readable(fresh_demo, mnt):
    ecfnb.mount(fresh_demo.address, mnt, interval=1)
    name = f"{mnt}/demo/housekeeping/nightly.att"
    whole = open(name, "rb").read()
    assert whole.startswith(b"task nightly")
    with open(name, "rb") as handle:
        head = handle.read(10)
        fresh_demo.client("--delete=force", "yes", "/demo/housekeeping")
        wait_until(lambda: not os.path.exists(f"{mnt}/demo/housekeeping"), timeout=15,
                   what="the mount to drop the deleted family")
        assert os.fstat(handle.fileno()).st_size == len(whole)  # fstat of an open file
        assert head + handle.read() == whole  # read to its end
    assert not os.path.exists(name)


@needs_fuse
def test_a_dead_mount_is_said_dead_and_umount_cleans_it(demo, mnt):
    import sys

    info = ecfnb.mount(demo.address, mnt, interval=2)
    os.kill(info.pid, signal.SIGKILL)
    wait_until(lambda: not os.path.exists(f"/proc/{info.pid}") or
               open(f"/proc/{info.pid}/stat").read().split()[2] == "Z", what="the daemon gone")
    listing = subprocess.run([sys.executable, "-m", "ecfnb", "mounts"], capture_output=True,
                             text=True, timeout=30).stdout
    line = next(text for text in listing.splitlines() if mnt in text)
    assert "DEAD" in line and f"ecfnb umount {mnt}" in line
    off = subprocess.run([sys.executable, "-m", "ecfnb", "umount", mnt], capture_output=True,
                         text=True, timeout=30)
    assert off.returncode == 0, off.stderr
    assert not ecfnb.is_mounted(mnt)


ANSI = job("ecflow_client --abort=$'\\e]0;pwned\\a\\e[2J'\nexit 0\n")


@needs_fuse
def test_terminal_escapes_of_a_real_abort_reason_do_not_reach_cat_on_the_mount(mnt):
    definition = suite_head("esc") + "  task t\nendsuite\n"
    with DemoServer(definition=definition, files={"esc/t.ecf": ANSI}) as server:
        wait_until(lambda: task_state(server.port, "/esc/t").get("state") == "aborted",
                   what="the abort")
        ecfnb.mount(server.address, mnt, interval=1)
        try:
            for name in ("esc/t.abo", "esc/t.att", "esc.abo"):
                data = subprocess.run(["cat", f"{mnt}/{name}"], capture_output=True,
                                      timeout=30).stdout
                assert data and b"\x1b" not in data and b"\x07" not in data, name
            grep = subprocess.run(["grep", "-r", "pwned", f"{mnt}/esc"], capture_output=True,
                                  timeout=30).stdout
            assert b"pwned" in grep and b"\x1b" not in grep
        finally:
            ecfnb.umount(mnt)


def test_messages_name_the_real_cause(fresh_demo):
    from ecfnb import ServerUnreachable, free_port

    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    os.kill(fresh_demo.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(ServerUnreachable, match="no answer within the timeout"):
            server.ping()
    finally:
        os.kill(fresh_demo.process.pid, signal.SIGCONT)
    with pytest.raises(ServerUnreachable, match="does not resolve"):
        Server("nohost.invalid:3141").sync()
    with pytest.raises(ServerUnreachable, match="connection refused"):
        Server(f"localhost:{free_port()}").ping()
    with pytest.raises(ValueError, match="without a scheme"):
        Server("http://localhost:3141")


def test_paths_are_quoted_as_written_dots_normalised_and_dotdot_refused(server):
    from ecfnb import BadPath, NodeNotFound

    fsmap = FileSystemMap(server)
    with pytest.raises(NodeNotFound, match=r"'/demo/forecast/post\.att\.att'"):
        fsmap.read("/demo/forecast/post.att.att")
    assert fsmap.read("/demo/./forecast/post.out") == fsmap.read("/demo/forecast/post.out")
    with pytest.raises(BadPath, match=r"'/demo/forecast/\.\.'.*'\.\.' is not allowed"):
        fsmap.read("/demo/forecast/..")
    with pytest.raises(BadPath):
        server.node("/demo/../demo")


def test_a_refused_connection_does_not_lengthen_the_wait():
    """A port nobody listens on refuses at once: the pollers try again at their first
    pace (a restarted or replaced server is seen at once); a server that makes them
    wait (hung) is asked less and less often."""
    from ecfnb._base.child import Backoff

    backoff = Backoff(0.5, 10.0)
    assert [backoff.failed(0.01) for _ in range(5)] == [0.5] * 5
    assert [backoff.failed(2.0) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.failed(0.01) == 0.5 and backoff.failed() == 1.0
    backoff.succeeded()
    assert backoff.failed() == 0.5
