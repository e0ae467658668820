"""ecfnb: a live ecFlow server in Jupyter.

    import ecfnb
    server = ecfnb.connect("localhost:3141")
    server.node("/demo/forecast/post")

``%load_ext ecfnb`` adds the magics (``%ecf_connect`` ...). ecFlow's Python module
is not on PyPI: without it, importing ecfnb raises ``EcflowMissing`` saying how to
install it.
"""

from __future__ import annotations

from .errors import (
    AccessDenied,
    EcflowMissing,
    EcfnbError,
    FileUnavailable,
    NodeNotFound,
    ServerError,
    ServerUnreachable,
)
from .fsmap import DirEntry, Entry, FileSystemMap
from .nodes import NodeInfo
from .server import Server, SyncResult, connect

__version__ = "0.1.0"

__all__ = [
    "AccessDenied", "DirEntry", "EcflowMissing", "EcfnbError", "Entry", "FileSystemMap",
    "FileUnavailable", "NodeInfo", "NodeNotFound", "Server", "ServerError",
    "ServerUnreachable", "SyncResult", "connect", "load_ipython_extension",
]


def load_ipython_extension(ipython) -> None:  # noqa: ANN001 - IPython's shell
    """``%load_ext ecfnb``: register the ecfnb magics."""
    from .magics import register

    register(ipython)
