"""The filesystem mapping against a real server: tree, markers, contents, offsets."""

from __future__ import annotations

import hashlib
import os
import resource

import pytest

from ecfnb import STATE_ABBREV, FileSystemMap, NodeNotFound, Server
from ecfnb._map.fsmap import attributes_text

from conftest import get_state, wait_for
from helpers import server_version


def walk(fs: FileSystemMap, path: str = "/") -> dict[str, str]:
    """node path -> state abbreviation found beside it, by listdir/stat only: a node is
    known by its NAME.att file; directories are descended into."""
    found: dict[str, str] = {}
    names = fs.listdir(path)
    for name in names:
        child = f"{path.rstrip('/')}/{name}"
        if name.endswith(".att"):
            node = name[:-4]
            markers = [n[len(node) + 1:] for n in names
                       if n.startswith(node + ".") and n[len(node) + 1:] in STATE_ABBREV.values()]
            assert len(markers) == 1, f"{child}: state markers {markers}"
            found[child[:-4]] = markers[0]
        elif name != ".server" and fs.stat(child).kind == "dir":
            found.update(walk(fs, child))
    return found


def test_tree_equals_get_state(demo, fsmap):
    expected = get_state(demo.port)
    fsmap.refresh()
    found = walk(fsmap)
    assert set(found) == set(expected)
    for path, (_kind, state) in expected.items():
        assert found[path] == STATE_ABBREV[state], path
    assert found["/demo/archive"] == "sus"


def test_every_aborted_task_has_abo_marker(demo, fsmap):
    aborted = {p for p, (kind, state) in get_state(demo.port).items()
               if kind == "task" and state == "aborted"}
    assert aborted, "the demo must have an aborted task"
    for path in aborted:
        parent, _, name = path.rpartition("/")
        assert f"{name}.abo" in fsmap.listdir(parent)
        assert fsmap.stat(f"{path}.abo").kind == "file"
        assert fsmap.read(f"{path}.abo").startswith(b"aborted since ")


def test_task_aborting_during_test_appears_after_sync(fresh_demo):
    fs = FileSystemMap(Server(fresh_demo.host, fresh_demo.port))
    fs.refresh()
    assert "fetch_obs.com" in fs.listdir("/demo/prepare")
    # Make fetch_obs fail for real: its script now exits 3, then rerun it.
    script = fresh_demo.home / "scripts" / "fetch_obs.ecf"
    script.write_text(script.read_text().replace('echo "fetching', 'exit 3\necho "fetching'))
    fresh_demo.client("--requeue", "/demo/prepare/fetch_obs")
    wait_for(lambda: get_state(fresh_demo.port)["/demo/prepare/fetch_obs"][1] == "aborted",
             what="fetch_obs to abort")
    assert "fetch_obs.com" in fs.listdir("/demo/prepare")  # not synced yet: the old view
    fs.refresh()
    names = fs.listdir("/demo/prepare")
    assert "fetch_obs.abo" in names and "fetch_obs.com" not in names
    assert b"reason: exit 3" in fs.read("/demo/prepare/fetch_obs.abo")


def test_output_equals_jobout_file(server, fsmap):
    for task in ("/demo/forecast/post", "/demo/prepare/fetch_obs", "/demo/forecast/model"):
        on_disk = server.node(task).variable("ECF_JOBOUT")
        with open(on_disk, "rb") as fh:
            data = fh.read()
        assert data, on_disk
        assert fsmap.read(f"{task}.out") == data
        assert fsmap.stat(f"{task}.out").size == len(data)


def test_read_offsets(fsmap):
    whole = fsmap.read("/demo/forecast/post.out")
    assert len(whole) > 40
    assert fsmap.read("/demo/forecast/post.out", 10, 20) == whole[10:30]
    assert fsmap.read("/demo/forecast/post.out", len(whole) - 5) == whole[-5:]
    assert fsmap.read("/demo/forecast/post.out", len(whole) + 100, 10) == b""
    att = fsmap.read("/demo/forecast/post.att")
    assert fsmap.read("/demo/forecast/post.att", 3, 7) == att[3:10]
    assert fsmap.stat("/demo/forecast/post.att").size == len(att)


def test_output_with_invalid_utf8_is_bytes(server):
    for prefer_local in (True, False):  # from disk, and the server's copy via ecflow_client
        fs = FileSystemMap(server, prefer_local=prefer_local)
        data = fs.read("/demo/prepare/fetch_obs.out")
        assert b"M\xfcnchen, K\xf8benhavn" in data, prefer_local
    with pytest.raises(UnicodeDecodeError):
        data.decode()


def test_server_copy_of_output_is_a_tail_with_truncation_line(demo, server):
    fs = FileSystemMap(server, output_lines=2, prefer_local=False)
    tail = fs.read("/demo/forecast/post.out")
    assert b"File truncated" in tail
    assert b"job failed" in tail
    assert fs.stat("/demo/forecast/post.out").size == len(tail)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_200mb_output_served_in_bounded_memory(fresh_demo):
    server = Server(fresh_demo.host, fresh_demo.port)
    fs = FileSystemMap(server)
    path = server.node("/demo/forecast/model").variable("ECF_JOBOUT")
    block = b"".join(b"line %08d of a very long model log\n" % i for i in range(32768))
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for _ in range(200 * 1024 * 1024 // len(block) + 1):
            fh.write(block)
            digest.update(block)
    size = os.path.getsize(path)
    assert size >= 200 * 1024 * 1024
    before = _rss_mb()
    assert fs.stat("/demo/forecast/model.out").size == size
    read_digest, offset = hashlib.sha256(), 0
    while True:
        chunk = fs.read("/demo/forecast/model.out", offset, 128 * 1024)
        if not chunk:
            break
        read_digest.update(chunk)
        offset += len(chunk)
    tail = fs.tail("/demo/forecast/model.out", lines=3)
    grown = _rss_mb() - before
    assert offset == size and read_digest.digest() == digest.digest()
    assert tail == b"".join(block.splitlines(keepends=True)[-3:])
    assert grown < 50, f"RSS grew by {grown:.0f} MB"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < before + 50


@pytest.mark.parametrize("bad", ["/nope", "/demo/nope", "/demo/prepare.ecf",
                                 "/demo/forecast/post.com", "/demo/forecast/post.xyz",
                                 "/demo/forecast/post.out/x", "/.server/nope"])
def test_bad_paths_raise_file_not_found(fsmap, bad):
    with pytest.raises(FileNotFoundError) as info:
        fsmap.stat(bad)
    assert isinstance(info.value, NodeNotFound)
    assert bad.split("/")[-1] in str(info.value) or bad in str(info.value)
    with pytest.raises(FileNotFoundError):
        fsmap.read(bad)


def test_dotted_task_name_is_a_node(fsmap):
    names = fsmap.listdir("/demo/prepare")
    assert {"check.data.att", "check.data.com", "check.data.ecf"} <= set(names)
    assert fsmap.read("/demo/prepare/check.data.att").startswith(b"task check.data ")
    assert fsmap.stat("/demo/prepare/check.data.com").node == "/demo/prepare/check.data"
    assert b"threshold" in fsmap.read("/demo/prepare/check.data.ecf")
    # a task without aliases is no directory, and 'check.data' is not 'check' + '.data'
    assert "check.data" not in names
    with pytest.raises(FileNotFoundError):
        fsmap.stat("/demo/prepare/check.data")


def test_families_are_directories_tasks_are_not(fsmap):
    kinds = {e.name: e.kind for e in fsmap.scandir("/demo/forecast")}
    assert "post" not in kinds and kinds["post.out"] == "file"
    assert {e.name: e.kind for e in fsmap.scandir("/demo")}["forecast"] == "dir"


def test_a_task_with_an_alias_is_a_directory_holding_it(fresh_demo, tmp_path):
    task = "/demo/housekeeping/nightly"
    script = fresh_demo.client(f"--edit_script={task}", "edit").stdout
    edited = tmp_path / "nightly.ecf"
    edited.write_bytes(script)
    fresh_demo.client(f"--edit_script={task}", "submit_file", str(edited), "create_alias",
                      "no_run")  # what ecflow_ui's "edit, submit as alias" does
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    fsmap = FileSystemMap(server)
    kinds = {e.name: e.kind for e in fsmap.scandir("/demo/housekeeping")}
    assert kinds["nightly"] == "dir" and kinds["nightly.que"] == "file"
    inside = {e.name: e.kind for e in fsmap.scandir(task)}
    assert inside["alias0.att"] == "file" and "alias0.ecf" in inside and "alias0" not in inside
    assert [c.kind for c in server.children(task)] == ["alias"]
    assert server.summary(task).has_children and not server.summary("/demo/forecast/post"
                                                                     ).has_children


def test_directory_name_wins_over_generated_name(fresh_demo):
    clash = fresh_demo.home / "clash.def"
    clash.write_text("suite clash\n  defstatus suspended\n  family f\n    task run\n"
                     "    task run.que\n  endfamily\n  family f.att\n    task x\n  endfamily\n"
                     "endsuite\n")
    fresh_demo.client("--load", str(clash))
    fresh_demo.client("--begin", "clash")  # suspended: nothing runs, tasks are queued
    fs = FileSystemMap(Server(fresh_demo.host, fresh_demo.port))
    fs.refresh()
    names = fs.listdir("/clash")
    assert names.count("f.att") == 1
    assert fs.stat("/clash/f.att").kind == "dir"   # the family, not f's attributes
    assert fs.listdir("/clash/f.att")[0] == "x.att"
    assert fs.read("/clash/f.att.att").startswith(b"family f.att ")
    # tasks are no directories: 'run.que' is run's state marker, the task's files are beside
    inner = fs.listdir("/clash/f")
    assert inner.count("run.que") == 1 and fs.stat("/clash/f/run.que").role == "state"
    assert fs.read("/clash/f/run.que.att").startswith(b"task run.que ")


def test_att_is_definition_syntax(server, fsmap):
    text = fsmap.read("/demo/monitor/progress.att").decode()
    assert text.startswith("task progress  # state:active")
    assert "  meter progress 0 100 100" in text
    assert "  edit STEPS '900'" in text
    assert 'label status "step ' in text
    expected = attributes_text(server.node("/demo/forecast"))
    assert fsmap.read("/demo/forecast.att").decode() == expected
    forecast = fsmap.read("/demo/forecast.att").decode()
    assert "trigger prepare == complete" in forecast and "inlimit workers" in forecast
    assert "repeat integer STEP 1 3" in fsmap.read("/demo/cycle.att").decode()
    assert "time 23:59" in fsmap.read("/demo/housekeeping/nightly.att").decode()
    assert "limit workers 2" in fsmap.read("/demo.att").decode()


def test_task_files(demo, fsmap):
    script = fsmap.read("/demo/forecast/post.ecf")
    assert b"%include <head.h>" in script
    job = fsmap.read("/demo/forecast/post.job")
    assert b"%include" not in job and b"ecflow_client --init" in job
    assert b"daily report" in fsmap.read("/demo/forecast/report.man")
    missing = fsmap.read("/demo/archive/store.out")  # never ran: an explanation, not an error
    assert missing.startswith(b"# ecfnb: No jobout file for /demo/archive/store")


def test_mtime_is_state_change_time(server, fsmap):
    info = server.node("/demo/forecast/post", detail=False)
    assert fsmap.stat("/demo/forecast/post.out").mtime == info.since.timestamp()
    assert fsmap.stat("/demo/forecast/post.abo").mtime == info.since.timestamp()
    family = server.node("/demo/forecast", detail=False)
    assert fsmap.stat("/demo/forecast").mtime == family.since.timestamp()


def test_server_directory(demo, fsmap):
    assert fsmap.listdir("/.server") == ["stats", "version", "log", "zombies"]
    assert fsmap.read("/.server/version").strip().decode() == server_version(demo.port)
    assert b"Server statistics" in fsmap.read("/.server/stats")
    log = fsmap.read("/.server/log").splitlines()
    assert len(log) > 10 and all(line[:4] in (b"LOG:", b"MSG:", b"ERR:", b"WAR:", b"DBG:")
                                 for line in log if line.strip())
    assert fsmap.listdir("/")[0] == ".server"


def test_not_a_directory_and_is_a_directory(fsmap):
    with pytest.raises(NotADirectoryError):
        fsmap.listdir("/demo/forecast/post.out")
    with pytest.raises(IsADirectoryError):
        fsmap.read("/demo/forecast")


def test_scandir_kinds_and_mtimes_match_stat(fsmap):
    for entry in fsmap.scandir("/demo/forecast"):
        full = fsmap.stat(f"/demo/forecast/{entry.name}")
        assert (entry.kind, entry.mtime) == (full.kind, full.mtime), entry.name


def test_names_are_scandir_without_entry_objects(fsmap):
    """``names`` (what FUSE lists) and ``scandir`` (fsspec, ls -l) must never disagree:
    same names, same order, same directories with the same mtimes, on every directory."""
    stack, seen = ["/"], 0
    while stack:
        path = stack.pop()
        entries = fsmap.scandir(path)
        listing = fsmap.names(path)
        assert listing.names == [e.name for e in entries], path
        assert listing.dirs == {i: e.mtime for i, e in enumerate(entries) if e.kind == "dir"}
        stack += [f"{path.rstrip('/')}/{e.name}" for e in entries if e.kind == "dir"]
        seen += 1
    assert seen > 5


def test_stat_without_fetch_leaves_remote_sizes_unknown(server):
    fs = FileSystemMap(server)
    assert fs.stat("/demo/forecast/post.ecf", fetch=False).size is None
    assert fs.stat("/demo/forecast/post.abo", fetch=False).size > 0
    assert fs.stat("/demo/forecast/post.att", fetch=False).size is None
    assert fs.stat("/demo/forecast/post.out", fetch=False).size > 0  # local file: cheap
    size = len(fs.read("/demo/forecast/post.ecf"))
    assert fs.stat("/demo/forecast/post.ecf", fetch=False).size == size  # now cached


def test_open_reads_like_read(fsmap):
    for path in ("/demo/forecast/post.out", "/demo/forecast/post.att", "/demo/forecast/post.ecf"):
        whole = fsmap.read(path)
        with fsmap.open(path) as fh:
            assert fh.size == len(whole) == fsmap.stat(path).size
            assert fh.read(0, 5) + fh.read(5, len(whole)) == whole
    with pytest.raises(IsADirectoryError):
        fsmap.open("/demo")
