"""One contract, three surfaces (fsspec's ``tests/abstract/`` pattern): the same listings,
stats and bytes through ``FileSystemMap``, the fsspec filesystem and a real FUSE mount
of one server — byte for byte. And the contract's own words: every public method of
FileSystemMap documents its parameters and what it returns.

The demo server changes only in /demo/monitor (a job that runs for half an hour) and
in .server (stats and log grow with every request): those are left out."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import ecfnb
from ecfnb import EcflowFileSystem, FileSystemMap, Server

MOVING = ("/demo/monitor", "/.server")


@dataclass
class Surface:
    name: str
    listdir: object
    isdir: object
    size: object
    mtime: object
    read: object


def moving(path: str) -> bool:
    return any(path == m or path.startswith(m + "/") or path.startswith(m + ".")
               for m in MOVING)


@pytest.fixture(scope="module")
def surfaces(demo, tmp_path_factory):
    server = Server(demo.host, demo.port)
    server.sync()
    fsmap = FileSystemMap(server)
    fs = EcflowFileSystem(host=demo.host, port=demo.port, interval=3600,
                          skip_instance_cache=True)
    found = [
        Surface("fsmap", fsmap.listdir, lambda p: fsmap.stat(p).kind == "dir",
                lambda p: fsmap.stat(p).size, lambda p: int(fsmap.stat(p).mtime),
                fsmap.read),
        Surface("fsspec", lambda p: [n.rsplit("/", 1)[-1] for n in fs.ls(p, detail=False)],
                fs.isdir, fs.size, lambda p: int(fs.info(p)["mtime"]), fs.cat_file),
    ]
    mnt = None
    if os.path.exists("/dev/fuse"):
        mnt = tmp_path_factory.mktemp("contract") / "mnt"
        mnt.mkdir()
        ecfnb.mount(demo.address, str(mnt), interval=3600)
        root = Path(mnt)

        def under(p: str) -> Path:
            return root / p.lstrip("/")

        found.append(Surface("fuse", lambda p: os.listdir(under(p)),
                             lambda p: under(p).is_dir(),
                             lambda p: under(p).stat().st_size,
                             lambda p: int(under(p).stat().st_mtime),
                             lambda p: under(p).read_bytes()))
    yield found
    if mnt is not None and ecfnb.is_mounted(str(mnt)):
        ecfnb.umount(str(mnt))


def walk(surface: Surface) -> dict[str, bool]:
    """Every path under '/' (but the moving ones) -> is a directory."""
    seen: dict[str, bool] = {}
    pending = ["/"]
    while pending:
        directory = pending.pop()
        for name in surface.listdir(directory):
            path = f"{directory.rstrip('/')}/{name}"
            if moving(path):
                continue
            seen[path] = surface.isdir(path)
            if seen[path]:
                pending.append(path)
    return seen


def test_the_surfaces_are_the_ones_promised(surfaces):
    names = [s.name for s in surfaces]
    assert names[:2] == ["fsmap", "fsspec"]
    if os.path.exists("/dev/fuse"):
        assert names[2] == "fuse"  # this machine mounts: the mount is checked too


def test_the_same_tree(surfaces):
    trees = {s.name: walk(s) for s in surfaces}
    reference = trees["fsmap"]
    assert len(reference) > 60 and "/demo/forecast/post.out" in reference
    for name, tree in trees.items():
        assert tree == reference, name
    for surface in surfaces:  # and the same order in each directory
        for directory in ("/", "/demo", "/demo/forecast", "/demo/prepare"):
            assert [n for n in surface.listdir(directory) if not moving(
                f"{directory.rstrip('/')}/{n}")] == [n for n in surfaces[0].listdir(
                    directory) if not moving(f"{directory.rstrip('/')}/{n}")], surface.name


def test_the_same_sizes_times_and_bytes(surfaces):
    tree = walk(surfaces[0])
    files = sorted(path for path, is_dir in tree.items() if not is_dir)
    assert any(p.endswith(".out") for p in files) and any(p.endswith(".att") for p in files)
    for path in files:
        data = {s.name: s.read(path) for s in surfaces}
        sizes = {s.name: s.size(path) for s in surfaces}
        times = {s.name: s.mtime(path) for s in surfaces}
        assert len(set(data.values())) == 1, (path, {k: v[:80] for k, v in data.items()})
        assert set(sizes.values()) == {len(data["fsmap"])}, (path, sizes)
        assert len(set(times.values())) == 1, (path, times)
    for path in [p for p, is_dir in tree.items() if is_dir]:
        assert len({s.mtime(path) for s in surfaces}) == 1, path


def test_ranged_reads_agree(surfaces):
    path = "/demo/forecast/post.out"
    whole = surfaces[0].read(path)
    fsmap = surfaces[0]
    assert fsmap.read(path, 5, 20) == whole[5:25]
    fs = surfaces[1]
    assert fs.read(path, 5, 25) == whole[5:25]  # fsspec's cat_file(start, end)


CONTRACT = ["listdir", "scandir", "names", "stat", "read", "open", "tail", "path_of",
            "local_path", "refresh", "refresh_if_older"]


@pytest.mark.parametrize("method", CONTRACT)
def test_the_contract_methods_say_what_they_take_and_give(method):
    function = getattr(FileSystemMap, method)
    doc = inspect.getdoc(function) or ""
    parameters = [p for p in inspect.signature(function).parameters if p != "self"]
    if parameters:
        assert "Parameters\n----------" in doc, method
        for name in parameters:
            assert f"\n{name}\n" in doc, (method, name)
    assert "Returns\n-------" in doc, method
