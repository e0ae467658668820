"""The baseline of the FUSE benchmark: a mapping that syncs and walks the client's Defs
on every FUSE call, as the original ecFlow FUSE example does (but correct: true names,
state markers, no 10 000-byte files). Not part of ecfnb; only measured against it."""

from __future__ import annotations

import errno
import stat
import sys

import ecflow
import mfusepy as fuse

STATES = {"unknown": "unk", "queued": "que", "submitted": "sub", "active": "act",
          "complete": "com", "aborted": "abo"}


class NaiveOperations(fuse.Operations):
    use_ns = True

    def __init__(self, host: str, port: str) -> None:
        self.client = ecflow.Client(host, port)

    def _node(self, path: str):
        self.client.sync_local()  # on every call, like the original example
        defs = self.client.get_defs()
        return defs if path == "/" else defs.find_abs_node(path)

    def _children(self, node):
        return list(node.suites) if isinstance(node, ecflow.Defs) else list(node.nodes)

    def getattr(self, path: str, fh=None):
        node = self._node(path)
        if node is not None:
            return {"st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2}
        parent, _, name = path.rpartition("/")
        base = name.rsplit(".", 1)[0]
        if self._node(f"{parent}/{base}" if parent else f"/{base}") is not None:
            return {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": 0}
        raise fuse.FuseOSError(errno.ENOENT)

    def readdir(self, path: str, fh):
        node = self._node(path)
        out = [".", ".."]
        for child in self._children(node):
            state = "sus" if child.is_suspended() else STATES.get(child.get_state().name, "unk")
            out += [(child.name(), stat.S_IFDIR, 0), (f"{child.name()}.{state}", stat.S_IFREG, 0),
                    (f"{child.name()}.att", stat.S_IFREG, 0)]
        return out


if __name__ == "__main__":
    host, port, mountpoint = sys.argv[1:4]
    fuse.FUSE(NaiveOperations(host, port), mountpoint, foreground=True, ro=True,
              fsname=f"naive:{host}:{port}")
