"""ecfnb: a live ecFlow server in Jupyter.

    import ecfnb
    server = ecfnb.connect("localhost:3141")
    server.node("/demo/forecast/post")

Everything public is named in ``_PUBLIC`` below and imported on first use, so
``import ecfnb`` stays light and imports without ipywidgets. The modules that
implement it are private and layered (README, "Layout"): importing a submodule sets
an attribute of its package with the module's name, so a public ``ecfnb.incident``
beside a module ``ecfnb/incident.py`` used to be replaced by the module at its first
use (httpx's answer: private implementation modules, one public namespace).

``%load_ext ecfnb`` adds the magics (``%ecf_connect`` ...). ecFlow's Python module
is not on PyPI: without it, importing ecfnb raises ``EcflowMissing`` saying how to
install it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server.server import Server
    from .widgets.explorer import Explorer
    from .widgets.watch_panel import WatchPanel

__version__ = "0.1.0"

try:  # a clear sentence at once, not an ImportError at the first call
    import ecflow as _ecflow  # noqa: F401
except ImportError as _exc:
    from .errors import EcflowMissing

    raise EcflowMissing(str(_exc)) from None

#: Public name -> (module, attribute); the attribute is the name unless given.
_PUBLIC: dict[str, tuple[str, str]] = {name: (module, attribute or name) for module, names in {
    # one server: connection, nodes as plain data, the process's current server
    "._server.server": ("Server", "SyncResult", "ServerInfo", "Zombie", "connect", "resolve"),
    "._server.connection": ("Connection", "parse_address", "format_address"),
    "._server.nodes": ("NodeInfo", "Attribute", "Variable"),
    "._server.walks": ("SearchQuery", "ATTRIBUTE_KINDS"),
    "._base.states": ("STATE_COLOURS", "STATE_ABBREV"),
    "._base.serverlog": ("LogClock",),
    # the filesystem mapping, its actions and the server log's runs
    "._map.fsmap": ("FileSystemMap", "Entry", "DirEntry", "MappedFile"),
    "._server.actions": ("ACTIONS", "Action", "actions_for", "available_actions",
                      "check_action", "run_action", "ZOMBIE_ACTIONS", "run_zombie_action",
                      "BUTTONS"),
    # operating: what an action sets in motion, and what ecfnb did
    "._server.preview": ("preview", "Preview", "StateChange", "Waiting", "LimitUse"),
    "._server.changes": ("action_log", "ActionLog", "ActionRecord", "EditableScript"),
    "._map.timeline": ("timeline", "Timeline", "Run", "Durations", "parse_log"),
    # the operator's views as data: triggers, the log in pages, the table
    "._map.triggers": ("triggers", "neighbourhood", "Triggers", "Reference", "Picture"),
    "._map.logs": ("log_page", "LogPage"),
    "._map.table": ("table_page", "TableQuery", "TablePage", "TableRow"),
    # the tree as it was, from the server log
    "._map.history": ("history", "History", "PastTree", "PastNode", "HistoryDiff"),
    # when it will be done: a completion forecast, and its score on a logged day
    "._map.forecast": ("forecast", "replay", "Forecast", "NodeForecast", "Estimate",
                       "Replay", "ReplayPoint"),
    "._map.cycles": ("compare_cycles", "CycleComparison", "TaskCycle", "Cycle"),
    # the server as files
    "._fsview.filesystem": ("EcflowFileSystem",),
    "._fsview.jupyterfs": ("jupyterfs_config",),
    "._fuse.mount": ("MountInfo", "mount", "umount", "mounts", "is_mounted", "fuse_available"),
    "._fuse.ops": ("COUNTERS_XATTR",),
    # being told
    "._watch.watcher": ("AbortWatcher",),
    "._watch.events": ("AbortEvent", "LateEvent", "ZombieEvent", "WatcherEvent",
                       "ForecastEvent"),
    "._watch.mail": ("send_event", "event_message", "check_smtp"),
    # incidents
    "._incident": ("incident", "IncidentRecord"),
    # a local server with the demo suite (and the tests' own)
    "._demo.server": ("DemoServer", "free_port"),
    # errors
    ".errors": ("EcfnbError", "EcflowMissing", "ServerUnreachable", "NodeNotFound",
                "AccessDenied", "AuthenticationFailed", "ServerError", "FileUnavailable",
                "MountError", "BadPath", "SSLMismatch"),
    # widgets (need ipywidgets)
    ".widgets.watch_panel": ("WatchPanel",),
    ".widgets.explorer": ("Explorer",),
    ".widgets.tree": ("NodeTree",),
    ".widgets.panel": ("NodePanel",),
}.items() for name, attribute in ((n, None) for n in names)}

__all__ = sorted([*_PUBLIC, "explore", "watch", "load_ipython_extension", "__version__"])


def __getattr__(name: str) -> Any:
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module 'ecfnb' has no attribute {name!r}")
    value = getattr(import_module(where[0], __name__), where[1])
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
    from ._frontends.magics import register

    register(ipython)


#: Module paths of earlier versions -> where the code is now. Imports of them still
#: work, with a DeprecationWarning: use the names above instead.
_MOVED = {
    "ecfnb.server": "ecfnb._server.server", "ecfnb.nodes": "ecfnb._server.nodes",
    "ecfnb.fsmap": "ecfnb._map.fsmap", "ecfnb.actions": "ecfnb._server.actions",
    "ecfnb.demo": "ecfnb._demo.server", "ecfnb.demo_suite": "ecfnb._demo.suites",
    "ecfnb.fuse": "ecfnb._fuse.ops",
    "ecfnb.fsspec": "ecfnb._fsview.filesystem", "ecfnb.jupyterfs": "ecfnb._fsview.jupyterfs",
    "ecfnb.watch_events": "ecfnb._watch.events", "ecfnb.mail": "ecfnb._watch.mail",
    "ecfnb.magics": "ecfnb._frontends.magics", "ecfnb.cli": "ecfnb._frontends.cli",
    "ecfnb.reprs": "ecfnb._base.html",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the modules of ``_MOVED`` under their old names (the same module objects)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _MOVED:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec: Any) -> Any:
        warnings.warn(f"{spec.name} is now {_MOVED[spec.name]}, a private module: use the "
                      "public names of ecfnb (README, 'Using it')", DeprecationWarning,
                      stacklevel=3)
        module = import_module(_MOVED[spec.name])
        self._spec = module.__spec__  # the import system sets the alias's spec on it
        return module

    def exec_module(self, module: Any) -> None:
        module.__spec__ = self._spec


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
