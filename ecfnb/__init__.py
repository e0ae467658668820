"""ecfnb: a live ecFlow server in Jupyter.

    import ecfnb
    server = ecfnb.connect("localhost:3141")
    server.node("/demo/forecast/post")

``%load_ext ecfnb`` adds the magics (``%ecf_connect`` ...). ecFlow's Python module
is not on PyPI: without it, importing ecfnb raises ``EcflowMissing`` saying how to
install it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import watch as _watch_module  # noqa: F401 - see watch() below
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

if TYPE_CHECKING:
    from .incident import IncidentRecord
    from .widgets.explorer import Explorer
    from .widgets.watch_panel import WatchPanel

__version__ = "0.1.0"

__all__ = [
    "AccessDenied", "DirEntry", "EcflowMissing", "EcfnbError", "Entry", "FileSystemMap",
    "FileUnavailable", "NodeInfo", "NodeNotFound", "Server", "ServerError",
    "ServerUnreachable", "SyncResult", "connect", "explore", "load_ipython_extension", "watch",
    "incident",
]


# The submodule ecfnb.watch (AbortWatcher) is imported above, before this function is
# defined: importing a submodule for the first time sets it as the package attribute of
# the same name, so a later first import would replace this function by the module.
def watch(server_or_address: Server | str | None = None,
          paths: Iterable[str] | str | None = None, interval: float = 10,
          **kwargs: Any) -> WatchPanel:
    """Watch a server for aborts, live, in a notebook: starts an ``AbortWatcher`` (in a
    child process; ``kwargs`` as its own) and returns its panel, with an alert banner
    for each new abort and each event's output tail. ``panel.watcher`` is the watcher;
    ``panel.close()``, the panel's Stop button or the kernel's exit stops it.
    Needs ipywidgets; without a notebook use ``AbortWatcher`` from ``ecfnb.watch``."""
    from .widgets.watch_panel import watch as _watch

    return _watch(server_or_address, paths, interval, **kwargs)


def explore(address_or_server: Any = None, path: str = "/", interval: float = 10,
            read_only: bool = False, **kwargs: Any) -> Explorer:
    """The explorer: a live tree of a server ("host:port", a Server, the notebook's
    current one, or a list of servers) beside the selected node's header, actions and
    files. ``interval``: seconds between refreshes (polled in a child process);
    ``read_only``: no actions. Needs ipywidgets and ipytree (``ecfnb[lab]``)."""
    try:
        from .widgets.explorer import explore as _explore
    except ImportError as exc:
        raise ImportError(f"the explorer needs ipywidgets and anywidget ({exc}): pip install "
                          "'ecfnb[lab]'") from None
    return _explore(address_or_server, path, interval, read_only, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "WatchPanel":  # lazily: ecfnb imports without ipywidgets
        from .widgets.watch_panel import WatchPanel

        return WatchPanel
    raise AttributeError(f"module 'ecfnb' has no attribute {name!r}")


def incident(path: str, server: Server | str | None = None, lines: int = 200,
             **kwargs: Any) -> IncidentRecord:
    """A static record of an incident on ``path`` that stays in the saved notebook:
    state, reason, why, key variables, output tail, server log lines and a timeline.
    ``server``: a Server, "host:port", or the notebook's current server."""
    from .incident import incident as _incident

    return _incident(path, server, lines, **kwargs)


def load_ipython_extension(ipython) -> None:  # noqa: ANN001 - IPython's shell
    """``%load_ext ecfnb``: register the ecfnb magics."""
    from .magics import register

    register(ipython)
