"""Node actions as ecflow_ui's node menu offers them: requeue, rerun, suspend, resume,
set complete and kill.

Why it looks the way it does (measured on ecFlow 5.9):
- every action runs ``ecflow_client`` in a subprocess (``Server.run_client``): the
  ecflow binding holds the GIL while it waits for the server, so a slow or refused
  command would freeze the notebook;
- Requeue is ``--requeue=force``, as in ecflow_ui: a plain ``--requeue`` of a node with
  a submitted or active task below does nothing at all and still exits 0, so a menu
  would report a requeue that never happened. Force requeues the node whatever runs
  below it; a job still running there becomes a zombie, which its question says;
- Rerun (``--force=queued``) and Set complete (``--force=complete``) are offered for
  tasks only: on a family they change nothing, because the server derives a
  family's state from its children again at once;
- the server itself ('/') is not a node: every action refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import NodeNotFound
from .server import Server, _server_reply, normalise_path

NODE_KINDS = frozenset({"suite", "family", "task", "alias"})
TASK_KINDS = frozenset({"task", "alias"})


@dataclass(frozen=True)
class Action:
    """One entry of the node menu: what it is called, the ``ecflow_client`` arguments
    it runs (the node path goes last), the question to confirm it with, and the node
    kinds it applies to. ``question`` and ``done`` take the node path as ``{path}``."""

    name: str
    label: str
    arguments: tuple[str, ...]
    question: str
    done: str
    kinds: frozenset[str]

    def command(self, path: str) -> tuple[str, ...]:
        """The ``ecflow_client`` arguments for the node at ``path``."""
        return (*self.arguments, normalise_path(path))

    def confirmation(self, path: str) -> str:
        return self.question.format(path=normalise_path(path))

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds


#: Action name -> Action, in ecflow_ui's menu order. Read-only.
ACTIONS: Mapping[str, Action] = MappingProxyType({a.name: a for a in (
    Action("requeue", "Requeue", ("--requeue=force",),
           "Requeue {path}? Its tries and repeats start again; a job still running "
           "below it becomes a zombie.",
           "Requeued {path}.", NODE_KINDS),
    Action("rerun", "Rerun", ("--force=queued",),
           "Rerun {path}? It is queued again and runs when its dependencies allow, "
           "keeping its try count and earlier output.",
           "Queued {path} to run again.", TASK_KINDS),
    Action("suspend", "Suspend", ("--suspend",),
           "Suspend {path}? No new job starts in it until it is resumed.",
           "Suspended {path}.", NODE_KINDS),
    Action("resume", "Resume", ("--resume",),
           "Resume {path}? Its jobs may start again.",
           "Resumed {path}.", NODE_KINDS),
    Action("complete", "Set complete", ("--force=complete",),
           "Set {path} complete? Tasks waiting on it may start.",
           "Set {path} complete.", TASK_KINDS),
    Action("kill", "Kill", ("--kill",),
           "Kill {path}? The server runs ECF_KILL_CMD on the job of each submitted or "
           "active task at or below it.",
           "Sent kill for {path}: killed jobs normally abort their task.", NODE_KINDS),
)})


def actions_for(kind: str) -> tuple[Action, ...]:
    """The actions a menu should offer for a node of this kind ('server' gets none)."""
    return tuple(action for action in ACTIONS.values() if action.applies_to(kind))


def check_action(name: str, kind: str) -> Action:
    """The action ``name`` if it applies to a node of ``kind``; ValueError otherwise,
    saying what would be valid."""
    action = _action(name)
    if not action.applies_to(kind):
        valid = ", ".join(a.name for a in actions_for(kind)) or "none"
        raise ValueError(f"{action.label} does not apply to a {kind}; "
                         f"actions for a {kind}: {valid}")
    return action


def _action(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        raise ValueError(f"unknown node action {name!r}: use one of "
                         f"{', '.join(ACTIONS)}") from None


def run_action(server: Server, name: str, path: str) -> str:
    """Run action ``name`` on the node at ``path`` and return a one-line report.

    The node must exist in the server's last synced view (NodeNotFound otherwise).
    Refusals raise AccessDenied (no write access: the server's own words included),
    ServerUnreachable, or ServerError with the server's reply. The view is not
    synced afterwards: the caller's next sync shows the new state."""
    _action(name)  # an unknown name is the caller's mistake: say so before asking the server
    path = normalise_path(path)
    action = check_action(name, server.summary(path).kind)
    proc = server.run_client(*action.command(path))
    if proc.returncode != 0:
        reply = _server_reply(proc.stderr)
        if re.search(r"[Cc]ould not find node", reply):  # requeue's reply has no quotes
            raise NodeNotFound(path, server.address)
        text = reply + "\n" + proc.stderr.decode(errors="replace")
        raise server.map_error(f"{action.label} on {path}", text)
    return action.done.format(path=path)
