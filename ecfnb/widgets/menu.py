"""The node menu's entries for one node or several: ecflow_ui's menu for their kind,
state and the explorer's rights, built from ``ACTIONS`` (the same table as the
panel's buttons), plus Copy node path and the panel's own entries.

Why from the kernel and not drawn in the browser from the tree's labels: whether an
entry is enabled depends on facts the labels do not carry (a trigger, a time or a
date, the defstatus), read from the last sync in ~20 µs a node (``menu_info``); the
round trip keeps one home for the rules.
"""

from __future__ import annotations

from typing import Any

from .._server.actions import ACTIONS, actions_for, available_actions
from .._server.server import Server

__all__ = ["menu_entries", "EXTRA"]

#: Entries that are not server commands: name -> label.
EXTRA = {"copy": "Copy node path", "show": "Show in panel", "edit": "Edit script…"}


def menu_entries(server: Server, paths: list[str], read_only: bool = False
                 ) -> tuple[str, list[dict[str, Any]]]:
    """(title, entries) of the menu for ``paths`` (all on ``server``): every action of
    their kind in ecflow_ui's order, enabled where it is for each of them; an action
    that takes one node at a time (Order, Begin) is off for several."""
    infos = [server.menu_info(path) for path in paths]
    kinds = {info.kind for info in infos}
    several = len(infos) > 1
    title = infos[0].path if not several else f"{len(infos)} nodes"
    entries: list[dict[str, Any]] = []
    kind = infos[0].kind if len(kinds) == 1 else None
    offered = actions_for(kind) if kind else tuple(
        a for a in ACTIONS.values() if all(a.applies_to(k) for k in kinds))
    enabled = set.intersection(*(set(available_actions(info)) for info in infos))
    for action in offered:
        tip = action.confirmation(paths if several else paths[0])
        on = action.name in enabled and not read_only and (action.multi or not several)
        if read_only:
            tip = "this explorer is read-only"
        elif several and not action.multi:
            tip = f"{action.label}: one node at a time"
        elif action.name not in enabled:
            states = ", ".join(sorted({f"{i.run_state} {i.kind}" for i in infos}))
            tip = f"{action.label}: not for a {states}"
        entries.append({"name": action.name, "label": action.label, "menu": action.menu,
                        "enabled": on, "tip": tip})
    entries.append({"name": "show", "label": EXTRA["show"], "menu": "", "enabled": True,
                    "tip": "show the node in the panel"})
    if not several and infos[0].kind in ("task", "alias"):
        entries.append({"name": "edit", "label": EXTRA["edit"], "menu": "",
                        "enabled": not read_only,
                        "tip": "the job script, pre-processed by the server, to edit and "
                               "submit (ecflow_ui's Edit)"})
    entries.append({"name": "copy", "label": EXTRA["copy"], "menu": "", "enabled": True,
                    "tip": "copy the path(s) to the clipboard"})
    return title, entries
