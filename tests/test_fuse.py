"""A real FUSE mount of a real server, used by real `ls`, `find`, `cat`, `grep`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import ecfnb
from ecfnb import COUNTERS_XATTR, FileSystemMap, MountError, Server, free_port
from ecfnb._fuse.ops import make_operations

from conftest import get_state, wait_for

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse"),
                                reason="this machine has no /dev/fuse")
INTERVAL = 2.0


def sh(cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, capture_output=True, timeout=timeout)


@pytest.fixture
def mnt(tmp_path):
    point = tmp_path / "mnt"
    point.mkdir()
    yield str(point)
    if ecfnb.is_mounted(str(point)):
        ecfnb.umount(str(point))


@pytest.fixture
def mounted(demo, mnt):
    ecfnb.mount(demo.address, mnt, interval=INTERVAL)
    return mnt


def found(out: bytes, root: str) -> set[str]:
    return {line[len(root):] for line in out.decode().split("\n") if line}


def counters(mnt: str) -> dict[str, float]:
    return json.loads(os.getxattr(mnt, COUNTERS_XATTR))


def test_find_abo_and_sus_equal_server_states(demo, mounted):
    states = get_state(demo.port)
    for state, abbrev in (("aborted", "abo"), ("suspended", "sus")):
        proc = sh(f"find {mounted} -name '*.{abbrev}'")
        assert proc.returncode == 0, proc.stderr
        expected = {f"{p}.{abbrev}" for p, (_k, s) in states.items() if s == state}
        assert expected and found(proc.stdout, mounted) == expected
    # families and suites whose state is aborted are listed too, by design
    assert {"/demo.abo", "/demo/forecast.abo"} <= found(sh(f"find {mounted} -name '*.abo'")
                                                        .stdout, mounted)


def test_cat_tail_grep(demo, mounted, server):
    jobout = server.node("/demo/forecast/post").variable("ECF_JOBOUT")
    with open(jobout, "rb") as fh:
        data = fh.read()
    assert sh(f"cat {mounted}/demo/forecast/post.out").stdout == data
    assert sh(f"tail -c 100 {mounted}/demo/forecast/post.out").stdout == data[-100:]
    latin1 = server.node("/demo/prepare/fetch_obs").variable("ECF_JOBOUT")
    with open(latin1, "rb") as fh:
        assert sh(f"cat {mounted}/demo/prepare/fetch_obs.out").stdout == fh.read()
    grep = sh(f"grep -rl 'ERROR: input file' {mounted}/demo")
    assert f"{mounted}/demo/forecast/post.out" in grep.stdout.decode().split()
    ls = sh(f"ls -l {mounted}/demo/forecast/post.out").stdout.decode().split()
    assert int(ls[4]) == len(data) and ls[0] == "-r--r--r--"


def test_ls_lt_orders_by_state_change(server, mounted):
    proc = sh(f"ls -t {mounted}/demo")
    dirs = [n for n in proc.stdout.decode().split() if "." not in n]
    since = {k.name: k.since for k in server.children("/demo")}
    assert dirs == sorted(since, key=lambda n: since[n], reverse=True) or \
        [since[n] for n in dirs] == sorted(since.values(), reverse=True)


@pytest.mark.parametrize("cmd", ["touch {m}/demo/x", "sh -c 'echo hi > {m}/demo.att'",
                                 "mkdir {m}/demo/newdir", "rm {m}/demo.att",
                                 "rmdir {m}/demo/archive", "mv {m}/demo.att {m}/demo.bak"])
def test_writes_are_read_only(mounted, cmd):
    proc = sh(cmd.format(m=mounted))
    assert proc.returncode != 0
    assert b"Read-only file system" in proc.stderr


def test_change_appears_within_one_interval_with_fresh_mtime(fresh_demo, mnt):
    ecfnb.mount(fresh_demo.address, mnt, interval=INTERVAL)
    assert sh(f"find {mnt} -name '*.sus'").stdout.decode().count(".sus") == 1
    time.sleep(2)  # state-change times have one-second resolution
    before = int(time.time()) - 1
    # A real abort: fetch_obs's script now exits 3; rerun it.
    script = fresh_demo.home / "scripts" / "fetch_obs.ecf"
    script.write_text(script.read_text().replace('echo "fetching', 'exit 3\necho "fetching'))
    fresh_demo.client("--requeue", "/demo/prepare/fetch_obs")
    fresh_demo.client("--suspend", "/demo/housekeeping")
    wait_for(lambda: get_state(fresh_demo.port)["/demo/prepare/fetch_obs"][1] == "aborted",
             what="fetch_obs to abort")
    changed_at = time.monotonic()
    wait_for(lambda: os.path.exists(f"{mnt}/demo/prepare/fetch_obs.abo"), timeout=INTERVAL * 3,
             interval=0.1, what="fetch_obs.abo in the mount")
    assert time.monotonic() - changed_at <= INTERVAL + 1.0
    assert os.path.exists(f"{mnt}/demo/housekeeping.sus")
    # ecFlow keeps no time for a suspension: only state changes move mtime
    newer = found(sh(f"find {mnt} -name '*.abo' -newermt @{before}").stdout, mnt)
    assert "/demo/prepare/fetch_obs.abo" in newer and "/demo/forecast/post.abo" not in newer
    recent = found(sh(f"find {mnt}/demo/prepare -mmin -5 -name '*.abo'").stdout, mnt)
    assert recent == {"/demo/prepare/fetch_obs.abo"}
    assert b"reason: exit 3" in sh(f"cat {mnt}/demo/prepare/fetch_obs.abo").stdout


def test_listings_cached_by_the_kernel_until_the_server_changes(fresh_demo, mnt):
    # (report suspended: post's completion would start it, and its run would change
    # the family again while the test counts the directories read)
    fresh_demo.client("--suspend", "/demo/forecast/report")
    ecfnb.mount(fresh_demo.address, mnt, interval=INTERVAL)
    abo = f"find {mnt} -name '*.abo'"
    first = found(sh(abo).stdout, mnt)
    assert "/demo/forecast/post.abo" in first
    before = counters(mnt)
    # every directory listed once (in the background after the mount, or for the
    # kernel's readdir, whichever came first)
    assert before["listed"] == before["readdir"] >= 9
    assert found(sh(abo).stdout, mnt) == first
    again = counters(mnt)
    assert again["kernel_dir_cache"] == 1 and again["push"] == 1
    # the kernel answered from its cache: not one request (no opendir since the
    # first, which answered ENOSYS; no readdir; no attributes asked again)
    assert again["readdir"] == before["readdir"] and again["opendir"] == before["opendir"]
    assert again["getattr"] == before["getattr"]
    fresh_demo.client("--force=complete", "/demo/forecast/post")
    changed_at = time.monotonic()
    wait_for(lambda: "/demo/forecast/post.abo" not in found(sh(abo).stdout, mnt),
             timeout=INTERVAL * 3, interval=0.1, what="post.abo to leave find's output")
    assert time.monotonic() - changed_at <= INTERVAL + 1.0
    # the daemon told the kernel which directories changed: those whose names did
    # (/demo/forecast: post.abo is post.com; /demo and /: their families' states
    # moved) are read again, and no other (a meter moving under /demo/monitor keeps
    # its ancestors' listings: their attributes only are pushed)
    pushed = counters(mnt)
    assert 1 <= pushed["readdir"] - again["readdir"] <= pushed["pushed_listing"] <= 3
    assert "post.com" in os.listdir(f"{mnt}/demo/forecast")
    assert "post.abo" not in os.listdir(f"{mnt}/demo/forecast")
    assert sh(f"ls {mnt}/demo/forecast").stdout.decode().split().count("post.com") == 1
    # Once the change is read, a directory is read again only when the server changed
    # its names (the demo's monitor family keeps running: those), or its mtime moved
    # (the root's is the last sync's time): no other
    time.sleep(INTERVAL)
    settled = counters(mnt)
    assert "/demo/forecast/post.abo" not in found(sh(abo).stdout, mnt)
    last = counters(mnt)
    assert last["readdir"] - settled["readdir"] <= last["pushed_listing"] - \
        pushed["pushed_listing"] + 1


def test_a_cached_listing_shows_a_change_half_an_interval_after_it(fresh_demo, mnt):
    """The kernel answers from its cache (no request reaches the daemon), yet a change
    is in the listing once the view is due for a sync: the daemon syncs as soon as it
    is half an interval old and pushes the change."""
    interval = 6.0
    ecfnb.mount(fresh_demo.address, mnt, interval=interval)
    folder = f"{mnt}/demo/prepare"
    assert "fetch_obs.sus" not in os.listdir(folder)
    before = counters(mnt)
    assert "fetch_obs.sus" not in os.listdir(folder)
    assert counters(mnt)["readdir"] == before["readdir"]  # from the kernel's cache
    fresh_demo.client("--suspend", "/demo/prepare/fetch_obs")
    changed = time.monotonic()
    wait_for(lambda: "fetch_obs.sus" in os.listdir(folder), timeout=interval * 2,
             interval=0.05, what="the suspension in the cached listing")
    assert time.monotonic() - changed <= interval / 2 + 1.0


def _syncs_in_server_log(port: int) -> int:
    """The news/sync requests the server logged (``ecflow_client --log=get``)."""
    text = subprocess.run(["ecflow_client", "--port", str(port), "--log=get", "100000"],
                          capture_output=True, timeout=30).stdout
    return sum(b"--news" in line or b"--sync" in line for line in text.splitlines())


def test_an_idle_mount_stops_asking_and_its_next_reader_sees_what_changed_meanwhile(
        fresh_demo, mnt, monkeypatch):
    """Changes are pushed to the kernel while the mount is in use; idle (no request for
    ECFNB_FUSE_LINGER seconds) it asks the server nothing, and the first reader after
    sees a change made meanwhile at once, even one that moves no directory's own time
    (a task suspended: its family's state and since stay as they were)."""
    monkeypatch.setenv("ECFNB_FUSE_LINGER", "1")
    ecfnb.mount(fresh_demo.address, mnt, interval=INTERVAL)
    first = found(sh(f"find {mnt} -name '*.sus'").stdout, mnt)
    assert "/demo/prepare/fetch_obs.sus" not in first
    wait_for(lambda: counters(mnt).get("invalidated_all", 0) >= 1, timeout=15,
             what="the mount to go idle")
    asked = _syncs_in_server_log(fresh_demo.port)
    time.sleep(INTERVAL * 2)
    assert _syncs_in_server_log(fresh_demo.port) == asked  # idle: not one news request
    family_before = get_state(fresh_demo.port)["/demo/prepare"]
    fresh_demo.client("--suspend", "/demo/prepare/fetch_obs")
    assert get_state(fresh_demo.port)["/demo/prepare"] == family_before
    time.sleep(INTERVAL)  # more than half an interval: the view is due for a sync
    now = found(sh(f"find {mnt} -name '*.sus'").stdout, mnt)
    assert now == first | {"/demo/prepare/fetch_obs.sus"}
    expected = {f"{p}.sus" for p, (_k, s) in get_state(fresh_demo.port).items()
                if s == "suspended"}
    assert now == expected


def test_listings_are_prepared_in_the_background_after_the_mount(fresh_demo, mnt):
    """Mounted, and before anyone reads it, the daemon lists every directory and builds
    its records; the first find then lists nothing itself, and finds what the server
    holds."""
    ecfnb.mount(fresh_demo.address, mnt, interval=60)
    wait_for(lambda: counters(mnt).get("prepared_done") == 1, timeout=30,
             what="the background preparation")
    ready = counters(mnt)
    assert ready["readdir"] == 0 and ready["prepared_dirs"] >= 9 and ready["listed"] >= 9
    expected = {f"{p}.abo" for p, (_k, s) in get_state(fresh_demo.port).items()
                if s == "aborted"}
    assert found(sh(f"find {mnt} -name '*.abo'").stdout, mnt) == expected
    after = counters(mnt)
    assert after["readdir"] >= 9 and after["listed"] == ready["listed"]  # none listed again
    assert after["prepared_names"] > 0


def test_without_the_kernel_cache_listings_are_read_every_time(demo, mnt, monkeypatch):
    monkeypatch.setenv("ECFNB_FUSE_DIR_CACHE", "0")  # the daemon's libfuse is left alone
    ecfnb.mount(demo.address, mnt, interval=INTERVAL)
    abo = f"find {mnt} -name '*.abo'"
    first = found(sh(abo).stdout, mnt)
    before = counters(mnt)
    assert found(sh(abo).stdout, mnt) == first and "/demo/forecast/post.abo" in first
    after = counters(mnt)
    assert after["kernel_dir_cache"] == 0
    assert after["readdir"] - before["readdir"] >= 8  # every directory of the demo


def test_without_readdirplus_a_walk_looks_up_each_directory(demo, mnt, monkeypatch):
    """The plain readdir path (a kernel without readdirplus) lists the same tree."""
    monkeypatch.setenv("ECFNB_FUSE_READDIRPLUS", "0")
    ecfnb.mount(demo.address, mnt, interval=INTERVAL)
    expected = {f"{p}.abo" for p, (_k, s) in get_state(demo.port).items() if s == "aborted"}
    assert found(sh(f"find {mnt} -name '*.abo'").stdout, mnt) == expected
    assert "post.out" in os.listdir(f"{mnt}/demo/forecast")
    assert counters(mnt)["getattr"] >= 8  # each directory looked up: no attributes given


def test_operations_keep_only_listings_no_sync_changed(fresh_demo):
    # post's completion would start report (its trigger), whose run changes the family
    # again while the test looks: suspended, report stays queued and the change is one.
    fresh_demo.client("--suspend", "/demo/forecast/report")
    fsmap = FileSystemMap(Server(fresh_demo.host, fresh_demo.port))
    ops = make_operations(fsmap, interval=0.0)  # every call syncs
    paths = ["/", "/demo", "/demo/forecast", "/demo/prepare", "/demo/archive"]
    for path in paths:
        assert ops.opendir_state(path)[0] is False  # never listed: nothing to keep
        ops.dir_entries(path)
    assert all(ops.opendir_state(path)[0] for path in paths)
    fresh_demo.client("--force=complete", "/demo/forecast/post")
    wait_for(lambda: not ops.opendir_state("/demo/forecast")[0], what="the change to be seen")
    assert ops.opendir_state("/demo/prepare")[0] and ops.opendir_state("/demo/archive")[0]
    listing = ops.dir_entries("/demo/forecast")
    assert b"post.com" in listing.names
    assert listing.names.index(b"post.com") not in listing.dirs
    assert ops.opendir_state("/demo/forecast")[0]
    with pytest.raises(OSError):
        ops.opendir_state("/demo/nowhere")[0]


def test_server_killed_while_mounted(fresh_demo, mnt):
    ecfnb.mount(fresh_demo.address, mnt, interval=INTERVAL)
    assert sh(f"cat {mnt}/demo/forecast/post.att").returncode == 0
    fresh_demo.checkpoint()
    fresh_demo.kill()
    time.sleep(INTERVAL / 2 + 0.2)  # the view is now due for a sync
    start = time.monotonic()
    proc = sh(f"cat {mnt}/demo/forecast/post.att", timeout=30)
    assert time.monotonic() - start < 4
    assert proc.returncode != 0 and b"Input/output error" in proc.stderr
    fresh_demo.restart()
    wait_for(lambda: sh(f"cat {mnt}/demo/forecast/post.att").returncode == 0, timeout=15,
             what="reads to work again after the restart")
    assert b"task post" in sh(f"cat {mnt}/demo/forecast/post.att").stdout


def test_cli_mount_umount_and_errors(demo, tmp_path):
    command = [sys.executable, "-m", "ecfnb"]
    point = tmp_path / "m"
    missing = subprocess.run([*command, "mount", demo.address, str(point)], capture_output=True,
                             text=True)
    assert missing.returncode == 1 and "does not exist: create it with 'mkdir -p" in missing.stderr
    point.mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    full = subprocess.run([*command, "mount", demo.address, str(tmp_path / "full")],
                          capture_output=True, text=True)
    assert full.returncode == 1 and "is not empty" in full.stderr
    down = subprocess.run([*command, "mount", f"localhost:{free_port()}", str(point)],
                          capture_output=True,
                          text=True)
    assert down.returncode == 1 and "not reachable" in down.stderr
    ok = subprocess.run([*command, "mount", demo.address, str(point)], capture_output=True,
                        text=True)
    try:
        assert ok.returncode == 0 and "(pid " in ok.stdout
        assert ecfnb.is_mounted(str(point))
        again = subprocess.run([*command, "mount", demo.address, str(point)], capture_output=True,
                               text=True)
        assert again.returncode == 1 and "already mounted" in again.stderr
        listing = subprocess.run([*command, "mounts"], capture_output=True, text=True).stdout
        assert f"{demo.address} on {point}" in listing
    finally:
        off = subprocess.run([*command, "umount", str(point)], capture_output=True, text=True)
    assert off.returncode == 0 and not ecfnb.is_mounted(str(point))
    pid = int(ok.stdout.split("(pid ")[1].split(")")[0])
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10, what="the daemon to exit")
    for out in (missing.stderr, full.stderr, down.stderr):
        assert "Traceback" not in out


def test_no_fuse_says_what_to_install(monkeypatch):
    from ecfnb._fuse import mount  # a unit of the mount's own checks

    monkeypatch.setattr(mount.shutil, "which", lambda name: None)
    with pytest.raises(MountError, match="apt-get install fuse3"):
        mount.check_fuse()


@pytest.mark.parametrize("how", ["shutdown", "kill"])
def test_ecf_mount_in_a_real_kernel(demo, mnt, how):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        def run(code: str) -> str:
            out: list[str] = []
            reply = kc.execute_interactive(
                code, timeout=60,
                output_hook=lambda msg: out.append(msg["content"].get("text", "")))
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(out)

        run("%load_ext ecfnb")
        said = run(f"%ecf_mount {demo.address} {mnt}")
        assert f"mounted {demo.address} on {mnt}" in said
        assert ecfnb.is_mounted(mnt)
        assert f"{mnt} (pid" in run("%ecf_mounts") and "(this kernel)" in run("%ecf_mounts")
        assert "post.abo" in run(f"import os; print(os.listdir('{mnt}/demo/forecast'))")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=(how == "kill"))
    # shutdown: the kernel's atexit unmounts; kill (SIGKILL): the child sees its parent gone
    wait_for(lambda: not ecfnb.is_mounted(mnt), timeout=15, what="the mount to go away")


def test_server_module_shared_by_threads_of_the_mount(mounted):
    procs = [subprocess.Popen(f"for i in 1 2 3 4 5; do cat {mounted}/demo/forecast/*.att "
                              f"{mounted}/demo/*/*.out > /dev/null || exit 1; done",
                              shell=True, stderr=subprocess.PIPE) for _ in range(4)]
    for proc in procs:
        assert proc.wait(60) == 0, proc.stderr.read()


def test_server_object_not_needed_to_unmount(demo, mnt):
    info = ecfnb.mount(demo.address, mnt, interval=INTERVAL)
    assert info.pid and Server(demo.host, demo.port).ping() < 2
    ecfnb.umount(mnt)
    assert not ecfnb.is_mounted(mnt)


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_mount_sleeps_busy_one_polls_briefly(demo, mnt):
    """The daemon polls for a next request only for a moment after each one (see
    _fuse.session._loop): idle, it uses no CPU; after a burst, not much more than the
    burst took."""
    info = ecfnb.mount(demo.address, mnt, interval=INTERVAL)
    assert found(sh(f"find {mnt} -name '*.abo'").stdout, mnt)
    before = _cpu_seconds(info.pid)
    time.sleep(3)
    assert _cpu_seconds(info.pid) - before < 0.05
    started, before = time.monotonic(), _cpu_seconds(info.pid)
    for _ in range(20):
        os.listdir(f"{mnt}/demo/forecast")
    assert _cpu_seconds(info.pid) - before <= time.monotonic() - started + 0.02
