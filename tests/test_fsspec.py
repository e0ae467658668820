"""The fsspec view against real servers: what ``fsspec.open`` / ``glob`` users see."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest

from ecfnb import DemoServer, EcflowFileSystem, Server, ServerUnreachable, free_port

from conftest import get_state

POST = "/demo/forecast/post"


@pytest.fixture
def fs(demo) -> EcflowFileSystem:
    return EcflowFileSystem(host=demo.host, port=demo.port, skip_instance_cache=True)


def aborted_markers(port: int) -> list[str]:
    return sorted(f"{path}.abo" for path, (_kind, state) in get_state(port).items()
                  if state == "aborted")


def test_open_url_reads_the_real_job_output(demo, server):
    jobout = server.node(POST).variable("ECF_JOBOUT")
    expected = Path(jobout).read_bytes()
    assert b"ERROR: input file" in expected
    with fsspec.open(f"ecflow://{demo.address}{POST}.out") as f:
        assert f.read() == expected


def test_glob_aborted_equals_get_state(demo, fs):
    expected = aborted_markers(demo.port)
    assert f"{POST}.abo" in expected
    assert fs.glob("/**/*.abo") == expected


def test_ls_entries_match_fsmap(fs, fsmap):
    entries = fs.ls("/demo/forecast", detail=True)
    json.dumps(entries)  # jupyter-fs sends them to the browser as they are
    names = [e["name"] for e in entries]
    assert names == [f"/demo/forecast/{n}" for n in fsmap.listdir("/demo/forecast")]
    assert f"{POST}.out" in names and f"{POST}.abo" in names
    for entry in entries:
        stat = fsmap.stat(entry["name"], fetch=False)
        assert entry["type"] == {"dir": "directory", "file": "file"}[stat.kind]
        assert entry["mtime"] == stat.mtime
        if entry["type"] == "file":
            assert entry["size"] == stat.size
            assert fs.size(entry["name"]) == fsmap.stat(entry["name"]).size
    by_name = {e["name"]: e for e in entries}
    assert by_name[f"{POST}.out"]["size"] == fsmap.stat(f"{POST}.out").size > 0
    assert by_name[f"{POST}.ecf"]["size"] is None  # would need a server fetch
    assert fs.ls("/demo/forecast", detail=False) == names


def test_find_and_info(fs, fsmap):
    found = fs.find("/demo/forecast")
    assert f"{POST}.out" in found and f"{POST}.att" in found
    assert all(fs.info(p)["type"] == "file" for p in found)
    assert "/demo/forecast" in fs.find("/demo", withdirs=True)
    assert "/demo/forecast" not in fs.find("/demo")
    fresh = EcflowFileSystem(host=fs.server.host, port=fs.server.port, skip_instance_cache=True)
    info = fresh.info("/demo/forecast")  # nothing listed yet: from fsmap.stat
    assert info["name"] == "/demo/forecast" and info["type"] == "directory"
    assert fresh.info(f"{POST}.ecf")["size"] == fsmap.stat(f"{POST}.ecf").size > 0
    assert fs.info("")["type"] == fs.info("/")["type"] == "directory"
    assert fs.isdir("/demo") and fs.isfile(f"{POST}.out") and not fs.exists("/demo/nope")


def test_cat_file_ranges(fs, fsmap):
    whole = fsmap.read(f"{POST}.out")
    assert fs.cat_file(f"{POST}.out") == whole
    assert fs.cat_file(f"{POST}.out", start=10, end=40) == whole[10:40]
    assert fs.cat_file(f"{POST}.out", start=-30) == whole[-30:]
    assert fs.cat_file(f"{POST}.out", start=5, end=-5) == whole[5:-5]
    assert fs.cat(f"ecflow://{fs.server.address}{POST}.abo").startswith(b"aborted since ")


def test_open_reads_ranges_not_the_whole_file(fs, fsmap, monkeypatch):
    whole = fsmap.read(f"{POST}.out")
    reads = []
    original = fs.fsmap.read
    monkeypatch.setattr(fs.fsmap, "read", lambda path, offset=0, size=-1:
                        reads.append((offset, size)) or original(path, offset, size))
    with fs.open(f"{POST}.out", block_size=16, cache_type="none") as f:
        f.seek(20)
        assert f.read(50) == whole[20:70]
    assert reads == [(20, 50)]


def test_writes_are_refused(fs):
    for call in (lambda: fs.pipe_file(f"{POST}.out", b"x"),
                 lambda: fs.open(f"{POST}.out", "wb"),
                 lambda: fs.open("/demo/new.txt", "w"),
                 lambda: fs.rm(f"{POST}.out"),
                 lambda: fs.rm_file(f"{POST}.out"),
                 lambda: fs.mkdir("/demo/new"),
                 lambda: fs.makedirs("/demo/new/deeper"),
                 lambda: fs.mv(f"{POST}.out", "/demo/x.out"),
                 lambda: fs.cp_file(f"{POST}.out", "/demo/x.out"),
                 lambda: fs.touch("/demo/x"),
                 lambda: fs.put_file(__file__, "/demo/x.py")):
        with pytest.raises(PermissionError, match="read-only"):
            call()


def test_bad_paths_raise_file_not_found(fs):
    with pytest.raises(FileNotFoundError):
        fs.cat_file("/demo/nope.out")
    with pytest.raises(FileNotFoundError):
        fs.ls("/nope")
    fs.ls("/demo/forecast")
    with pytest.raises(FileNotFoundError):
        fs.info("/demo/forecast/post.xyz")  # answered from the cached listing


def test_registry_and_urls(demo):
    fs = fsspec.filesystem("ecflow", host=demo.host, port=demo.port)
    assert isinstance(fs, EcflowFileSystem) and fs.server.address == demo.address
    url_fs, root = fsspec.core.url_to_fs(f"ecflow://localhost:{demo.port}/")
    assert isinstance(url_fs, EcflowFileSystem) and url_fs.server.port == demo.port
    assert root == "/" and "/demo" in url_fs.ls(root, detail=False)
    assert url_fs.unstrip_protocol("/demo") == f"ecflow://localhost:{demo.port}/demo"
    assert EcflowFileSystem._strip_protocol(f"ecflow://localhost:{demo.port}/demo/") == "/demo"


def test_syncs_at_most_once_per_interval(demo, monkeypatch):
    syncs = []
    original = Server.sync
    monkeypatch.setattr(Server, "sync", lambda self: syncs.append(1) or original(self))
    fs = EcflowFileSystem(host=demo.host, port=demo.port, skip_instance_cache=True)
    for _ in range(3):
        fs.ls("/demo", refresh=True)
        fs.info("/demo/forecast")
    assert len(syncs) == 1
    fs.invalidate_cache()
    fs.ls("/demo")
    assert len(syncs) == 2


def test_unreachable_server_is_not_a_missing_file():
    fs = EcflowFileSystem(host="localhost", port=free_port(), skip_instance_cache=True)
    with pytest.raises(ServerUnreachable):
        fs.ls("/")
    with pytest.raises(ServerUnreachable):
        fs.isdir("")  # jupyter-fs then marks the drive as not initialised


def test_glob_of_1000_tasks_fetches_no_file(monkeypatch):
    fetches = []
    for name in ("read_file", "run_client"):
        original = getattr(Server, name)
        monkeypatch.setattr(Server, name, lambda self, *a, _o=original, _n=name, **k:
                            fetches.append((_n, a)) or _o(self, *a, **k))
    big = DemoServer(tasks=1000)
    try:
        with big:
            fs = EcflowFileSystem(host=big.host, port=big.port, skip_instance_cache=True)
            found = fs.glob("/**/*.abo")
            assert fetches == []
            assert found == aborted_markers(big.port) and len(found) > 10
    finally:
        big.remove_home()  # __exit__ stops the server but keeps its ECF_HOME
