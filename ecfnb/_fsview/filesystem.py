"""A read-only fsspec view of an ecFlow server: ``ecflow://host:port/suite/family/task.out``.

A thin adapter over ``FileSystemMap``: every name, kind, size, mtime and byte comes
from the map, so ``fsspec``, jupyter-fs (JupyterLab's sidebar) and the FUSE mount all
show the same tree. Registered through the ``fsspec.specs`` entry point.

Listings stay cheap on big servers: ``ls`` is one ``scandir`` of the directory plus a
``stat(fetch=False)`` per file, so a size that would need a server request (a script,
a manual, a remote output) is ``None`` in listings and ``glob('/**/*.abo')`` on a
10 000-task server fetches no file. ``info`` of a listed path is answered from the
listing (jupyter-fs calls it for every entry); ``size`` and reads give true sizes.
The server is synced at most once per ``interval`` seconds; a sync with news drops
the cached listings, and ``invalidate_cache()`` makes the next call sync.
"""

from __future__ import annotations

from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import infer_storage_options, stringify_path

from .._base.text import to_utf8
from .._map.fsmap import FileSystemMap
from .._server.server import Server, normalise_path

READ_ONLY_HINT = ("the ecFlow view is read-only; change suites with ecflow_client "
                  "or ecflow_ui")


def _refused(operation: str):
    """A write-like method that raises PermissionError naming what was refused."""

    def method(self: EcflowFileSystem, path: Any = None, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(f"{operation} {path!r} on ecflow://{self.server.address}: "
                              f"{READ_ONLY_HINT}")

    method.__name__ = method.__qualname__ = operation
    return method


class EcflowFileSystem(AbstractFileSystem):
    """The path scheme of ``FileSystemMap`` (README, "The path scheme") as an fsspec
    filesystem. Entries: ``name`` ('/demo/forecast/post.out'), ``type`` ('file' or
    'directory'), ``size`` (bytes; None for a file whose size needs a fetch), ``mtime``
    (epoch seconds of the node's state change)."""

    protocol = "ecflow"
    root_marker = "/"

    def __init__(self, host: str | None = None, port: int | str | None = None,
                 interval: float = 10.0, undecodable: str = "strict", ssl: bool | None = None,
                 user: str | None = None, password_file: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if undecodable not in ("strict", "replace"):
            raise ValueError(f"undecodable must be 'strict' (bytes as they are) or 'replace' "
                             f"(valid UTF-8 for text editors), not {undecodable!r}")
        self.server = Server(host, port, ssl=ssl, user=user, password_file=password_file)
        self.fsmap = FileSystemMap(self.server)
        self.interval = interval
        #: 'replace': whole-file reads (``cat``) return valid UTF-8, each undecodable byte
        #: a U+FFFD as the explorer shows it. For jupyter-fs, whose editor refuses a file
        #: that is not UTF-8 ("File Load Error" on a Latin-1 job output); ranged reads
        #: stay byte-exact.
        self.undecodable = undecodable

    def __repr__(self) -> str:
        return f"<EcflowFileSystem ecflow://{self.server.address}/>"

    # -- URLs ----------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith(f"{cls.protocol}://"):
            path = infer_storage_options(path)["path"]
        return normalise_path(path)  # '' is the root, 'demo/forecast/' is '/demo/forecast'

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        options = infer_storage_options(path)
        return {key: options[key] for key in ("host", "port") if options.get(key)}

    def unstrip_protocol(self, name: str) -> str:
        return f"{self.protocol}://{self.server.address}{self._strip_protocol(name)}"

    # -- listings ------------------------------------------------------------------
    def _sync(self) -> None:
        """One sync per ``interval`` at most (``refresh_if_older``); news invalidates
        every listing."""
        result = self.fsmap.refresh_if_older(self.interval)
        if result is not None and result.news:
            self.dircache.clear()

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget every listing; the next call syncs with the server."""
        self.dircache.clear()
        self.fsmap.invalidate()
        super().invalidate_cache(path)

    def ls(self, path: str = "/", detail: bool = True, refresh: bool = False,
           **kwargs: Any) -> list[dict[str, Any]] | list[str]:
        path = self._strip_protocol(path)
        self._sync()
        listing = None if refresh else self.dircache.get(path)
        if listing is None:
            try:
                items = self.fsmap.scandir(path)
            except NotADirectoryError:
                return [self.info(path)] if detail else [path]  # fsspec: ls of a file
            listing = [self._entry(path, item) for item in items]
            self.dircache[path] = listing
        return listing if detail else [entry["name"] for entry in listing]

    def _entry(self, parent: str, item: Any) -> dict[str, Any]:
        name = f"{parent.rstrip('/')}/{item.name}"
        if item.kind == "dir":
            return {"name": name, "type": "directory", "size": 0, "mtime": item.mtime}
        size = self.fsmap.stat(name, fetch=False).size
        return {"name": name, "type": "file", "size": size, "mtime": item.mtime}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """From the cached listing of the parent when there is one (size may be None
        there), else ``fsmap.stat`` with the true size."""
        path = self._strip_protocol(path)
        self._sync()
        if path != "/":
            siblings = self.dircache.get(self._parent(path))
            if siblings is not None:
                for entry in siblings:
                    if entry["name"] == path:
                        return entry
                raise FileNotFoundError(f"No such ecFlow node or file on "
                                        f"{self.server.address}: {path!r}")
        stat = self.fsmap.stat(path)
        kind = "directory" if stat.kind == "dir" else "file"
        return {"name": path, "type": kind, "size": stat.size, "mtime": stat.mtime}

    def isdir(self, path: str) -> bool:
        """Like fsspec's, but an unreachable server raises instead of reading as 'no'."""
        try:
            return self.info(path)["type"] == "directory"
        except FileNotFoundError:
            return False

    def size(self, path: str) -> int:
        """The true size, fetching the file from the server if needed."""
        return self.fsmap.stat(self._strip_protocol(path)).size

    # -- reading -------------------------------------------------------------------
    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        path = self._strip_protocol(path)
        if (start or 0) < 0 or (end or 0) < 0:  # counted from the end, like a slice
            total = self.size(path)
            start = max(0, total + start) if start is not None and start < 0 else start
            end = max(0, total + end) if end is not None and end < 0 else end
        start = start or 0
        size = -1 if end is None else max(0, end - start)
        data = self.fsmap.read(path, start, size)
        if self.undecodable == "replace" and start == 0 and end is None:
            return to_utf8(data)
        return data

    def _open(self, path: str, mode: str = "rb", block_size: Any = "default",
              autocommit: bool = True, cache_options: Any = None,
              **kwargs: Any) -> EcflowFile:
        path = self._strip_protocol(path)
        if mode != "rb":
            raise PermissionError(f"open {path!r} with mode {mode!r} on "
                                  f"ecflow://{self.server.address}: {READ_ONLY_HINT}")
        stat = self.fsmap.stat(path)
        if stat.kind == "dir":
            raise IsADirectoryError(f"is a directory: {path!r}")
        return EcflowFile(self, path, mode, block_size=block_size, autocommit=autocommit,
                          cache_options=cache_options, size=stat.size, **kwargs)

    # -- writing: refused ----------------------------------------------------------
    pipe_file = _refused("pipe_file")
    put_file = _refused("put_file")
    _put_file = _refused("_put_file")
    rm_file = _refused("rm_file")
    rm = _refused("rm")
    rmdir = _refused("rmdir")
    mkdir = _refused("mkdir")
    makedirs = _refused("makedirs")
    mv = _refused("mv")
    cp_file = _refused("cp_file")
    touch = _refused("touch")


class EcflowFile(AbstractBufferedFile):
    """A read-only file read in ranges through ``FileSystemMap.read``: a big local job
    output is never held whole."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs.fsmap.read(self.path, start, max(0, end - start))
