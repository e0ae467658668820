"""ecfnb: a live ecFlow server in Jupyter.

    import ecfnb
    server = ecfnb.connect("localhost:3141")
    server.node("/demo/forecast/post")

Everything public is named in ``_PUBLIC`` below and imported on first use, so
``import ecfnb`` stays light and ``ecfnb`` imports without ipywidgets. The modules
that implement public functions are private (``_watch``, ``_incident``, ...), as in
httpx: importing a submodule sets an attribute of the package with the module's
name, so a public ``ecfnb.incident`` beside a module ``ecfnb/incident.py`` was
replaced by the module at its first use.

``%load_ext ecfnb`` adds the magics (``%ecf_connect`` ...). ecFlow's Python module
is not on PyPI: without it, importing ecfnb's server layer raises ``EcflowMissing``
saying how to install it.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Server
    from .widgets.explorer import Explorer
    from .widgets.watch_panel import WatchPanel

__version__ = "0.1.0"

try:  # a clear sentence at once, not an ImportError at the first call
    import ecflow as _ecflow  # noqa: F401
except ImportError as _exc:
    from .errors import EcflowMissing

    raise EcflowMissing(str(_exc)) from None

#: Public name -> the module that defines it (relative to ecfnb).
_PUBLIC: dict[str, str] = {
    # one server
    "Server": ".server", "SyncResult": ".server", "ServerInfo": ".server",
    "connect": ".server", "resolve": ".server",
    "NodeInfo": ".nodes", "Attribute": ".nodes", "Variable": ".nodes",
    # the filesystem mapping
    "FileSystemMap": ".fsmap", "Entry": ".fsmap", "DirEntry": ".fsmap",
    # the server log
    "LogClock": "._serverlog", "timeline": "._timeline", "Timeline": "._timeline",
    "Run": "._timeline", "parse_log": "._timeline",
    # being told
    "AbortWatcher": "._watch", "AbortEvent": ".watch_events", "LateEvent": ".watch_events",
    # incidents
    "incident": "._incident", "IncidentRecord": "._incident",
    # a local server with the demo suite
    "DemoServer": ".demo",
    # errors
    "EcfnbError": ".errors", "EcflowMissing": ".errors", "ServerUnreachable": ".errors",
    "NodeNotFound": ".errors", "AccessDenied": ".errors", "AuthenticationFailed": ".errors",
    "ServerError": ".errors", "FileUnavailable": ".errors",
    # widgets (need ipywidgets)
    "WatchPanel": ".widgets.watch_panel", "Explorer": ".widgets.explorer",
}

__all__ = sorted([*_PUBLIC, "explore", "watch", "load_ipython_extension", "__version__"])


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ecfnb' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def watch(server_or_address: Server | str | None = None,
          paths: Iterable[str] | str | None = None, interval: float = 10,
          **kwargs: Any) -> WatchPanel:
    """Watch a server for aborts, live, in a notebook: starts an ``AbortWatcher`` (in a
    child process; ``kwargs`` as its own) and returns its panel, with an alert banner
    for each new abort and each event's output tail. ``panel.watcher`` is the watcher;
    ``panel.close()``, the panel's Stop button or the kernel's exit stops it.
    Needs ipywidgets; without a notebook use ``ecfnb.AbortWatcher``."""
    from .widgets.watch_panel import watch as _watch

    return _watch(server_or_address, paths, interval, **kwargs)


def explore(address_or_server: Any = None, path: str = "/", interval: float = 10,
            read_only: bool = False, **kwargs: Any) -> Explorer:
    """The explorer: a live tree of a server ("host:port", a Server, the notebook's
    current one, or a list of servers) beside the selected node's header, actions and
    files. ``interval``: seconds between refreshes (polled in a child process);
    ``read_only``: no actions. Needs ipywidgets and anywidget (``ecfnb[lab]``)."""
    try:
        from .widgets.explorer import explore as _explore
    except ImportError as exc:
        raise ImportError(f"the explorer needs ipywidgets and anywidget ({exc}): pip install "
                          "'ecfnb[lab]'") from None
    return _explore(address_or_server, path, interval, read_only, **kwargs)


def load_ipython_extension(ipython) -> None:  # noqa: ANN001 - IPython's shell
    """``%load_ext ecfnb``: register the ecfnb magics."""
    from .magics import register

    register(ipython)
