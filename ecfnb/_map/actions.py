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
- the server itself ('/') is not a node: only the server's own commands (restart,
  halt, shutdown, checkpoint) apply to it;
- which entries are enabled for a node's kind and state follows ecflow_ui's menu
  file (``available``); ``run_action`` sends what it is asked and leaves the
  refusal, if any, to the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .._base.states import NODE_KINDS, TASK_KINDS
from .._server.connection import server_reply
from .._server.nodes import NodeInfo
from .._server.server import Server, normalise_path
from ..errors import NodeNotFound

Predicate = Callable[[NodeInfo], bool]


def _always(_info: NodeInfo) -> bool:
    return True


def _not_running(info: NodeInfo) -> bool:
    """ecflow_ui's '(not active) and (not submitted)', on the node's own state."""
    return info.run_state not in ("active", "submitted")


@dataclass(frozen=True)
class Action:
    """One entry of the node menu: what it is called, the ``ecflow_client`` arguments
    it runs (the node path goes last, but for the server's own commands), the question
    to confirm it with, the node kinds it applies to, and when ecflow_ui enables it
    (``enabled(info)``, on the node's kind and state: ``ecflowview_menus.json``).
    ``question`` and ``done`` take the node path as ``{path}``."""

    name: str
    label: str
    arguments: tuple[str, ...]
    question: str
    done: str
    kinds: frozenset[str]
    enabled: Predicate = _always

    def command(self, path: str) -> tuple[str, ...]:
        """The ``ecflow_client`` arguments for the node at ``path``."""
        if self.kinds == {"server"}:
            return self.arguments
        return (*self.arguments, normalise_path(path))

    def confirmation(self, path: str) -> str:
        return self.question.format(path=normalise_path(path))

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds

    def available(self, info: NodeInfo) -> bool:
        """Offered and enabled for this node now, as ecflow_ui's menu would be."""
        return self.applies_to(info.kind) and self.enabled(info)


#: Action name -> Action, in ecflow_ui's menu order; the commands and the conditions
#: are those of ecflow_ui's ``share/ecflow/etc/ecflowview_menus.json``. Read-only.
ACTIONS: Mapping[str, Action] = MappingProxyType({a.name: a for a in (
    # ecflow_ui: "Requeue", ecflow_client --requeue=force, enabled (not active) and (not submitted)
    Action("requeue", "Requeue", ("--requeue=force",),
           "Requeue {path}? Its tries and repeats start again; a job still running "
           "below it becomes a zombie.",
           "Requeued {path}.", NODE_KINDS - {"alias"}, _not_running),
    # "Rerun": ecflow_client --force queued, tasks, (not active) and (not submitted)
    Action("rerun", "Rerun", ("--force=queued",),
           "Rerun {path}? It is queued again and runs when its dependencies allow, "
           "keeping its try count and earlier output.",
           "Queued {path} to run again.", TASK_KINDS - {"alias"}, _not_running),
    # "Suspend": visible for a node that is not suspended
    Action("suspend", "Suspend", ("--suspend",),
           "Suspend {path}? No new job starts in it until it is resumed.",
           "Suspended {path}.", NODE_KINDS, lambda info: not info.suspended),
    # "Resume": visible for a suspended node
    Action("resume", "Resume", ("--resume",),
           "Resume {path}? Its jobs may start again.",
           "Resumed {path}.", NODE_KINDS, lambda info: info.suspended),
    # "Set complete": ecflow_client --force=complete, tasks and aliases not complete
    Action("complete", "Set complete", ("--force=complete",),
           "Set {path} complete? Tasks waiting on it may start. If it is submitted or "
           "active, check first that its job is not running any more.",
           "Set {path} complete.", TASK_KINDS, lambda info: info.run_state != "complete"),
    # "Kill": ecflow_client --kill; tasks active/submitted/suspended, families also aborted
    Action("kill", "Kill", ("--kill",),
           "Kill {path}? The server runs ECF_KILL_CMD on the job of each submitted or "
           "active task at or below it.",
           "Sent kill for {path}: killed jobs normally abort their task.", NODE_KINDS,
           lambda info: info.run_state in ("active", "submitted") or info.suspended or
           (info.kind not in TASK_KINDS and info.run_state == "aborted")),
    # The server's own entries: "Restart" (halted or shut down), "Halt", "Shutdown", "Checkpoint"
    Action("restart", "Restart server", ("--restart",),
           "Restart the server? It schedules jobs again.", "Restarted the server.",
           frozenset({"server"}), lambda info: info.run_state in ("halted", "shutdown")),
    Action("shutdown", "Shutdown server", ("--shutdown=yes",),
           "Shut the server down? It stops submitting new jobs; running ones may finish.",
           "Shut the server down.", frozenset({"server"}),
           lambda info: info.run_state != "shutdown"),
    Action("halt", "Halt server", ("--halt=yes",),
           "Halt the server? It stops scheduling and stops accepting job messages.",
           "Halted the server.", frozenset({"server"}), lambda info: info.run_state != "halted"),
    Action("checkpoint", "Checkpoint", ("--check_pt",),
           "Write the server's checkpoint file now?", "The server wrote its checkpoint.",
           frozenset({"server"})),
)})


def actions_for(kind: str) -> tuple[Action, ...]:
    """The actions a menu offers for a node of this kind ('server': the server's own)."""
    return tuple(action for action in ACTIONS.values() if action.applies_to(kind))


def available_actions(info: NodeInfo) -> frozenset[str]:
    """The names of the actions enabled for this node in its current state."""
    return frozenset(a.name for a in ACTIONS.values() if a.available(info))


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
    if action.kinds == {"server"} and path != "/":
        raise ValueError(f"{action.label} is a server command: give the path '/'")
    proc = server.run_client(*action.command(path))
    if proc.returncode != 0:
        reply = server_reply(proc.stderr)
        if re.search(r"[Cc]ould not find node", reply):  # requeue's reply has no quotes
            raise NodeNotFound(path, server.address)
        text = reply + "\n" + proc.stderr.decode(errors="replace")
        raise server.map_error(f"{action.label} on {path}", text)
    return action.done.format(path=path)


@dataclass(frozen=True)
class ZombieAction:
    """One of ecFlow's answers to a zombie (ecflow_ui's Zombies panel): the
    ``ecflow_client --zombie_<name>=<task path>`` command, its question and report."""

    name: str
    label: str
    question: str
    done: str

    def command(self, path: str) -> tuple[str, ...]:
        return (f"--zombie_{self.name}={normalise_path(path)}",)


#: ecFlow's zombie actions, in ecflow_ui's order (the texts follow ``ecflow_client
#: --help=zombie_<name>``). Read-only.
ZOMBIE_ACTIONS: Mapping[str, ZombieAction] = MappingProxyType({a.name: a for a in (
    ZombieAction("fob", "Fob",
                 "Fob the zombie of {path}? Its job's child commands then succeed without "
                 "changing the task, so the job can finish.",
                 "The zombie of {path} is fobbed: its job may finish."),
    ZombieAction("fail", "Fail",
                 "Fail the zombie of {path}? Its job's next child command fails, which "
                 "normally ends the job.", "The zombie of {path} will fail its job."),
    ZombieAction("adopt", "Adopt",
                 "Adopt the zombie of {path}? The task takes the job's password: its "
                 "child commands then change the task (only if the process id matches).",
                 "The zombie of {path} is adopted by its task."),
    ZombieAction("remove", "Remove",
                 "Remove the zombie of {path} from the server's list? If its job calls "
                 "again it is a zombie again.", "Removed the zombie of {path}."),
    ZombieAction("kill", "Kill",
                 "Kill the zombie of {path}? The server runs ECF_KILL_CMD on that job's "
                 "process.", "Sent kill to the zombie of {path}."),
)})


def run_zombie_action(server: Server, name: str, path: str) -> str:
    """Run zombie action ``name`` (fob, fail, adopt, remove, kill) on the zombie of task
    ``path`` and return a one-line report; the server's refusal (a read-only user, no
    such zombie) raises as ``run_action``'s do."""
    try:
        action = ZOMBIE_ACTIONS[name]
    except KeyError:
        raise ValueError(f"unknown zombie action {name!r}: use one of "
                         f"{', '.join(ZOMBIE_ACTIONS)}") from None
    path = normalise_path(path)
    proc = server.run_client(*action.command(path))
    if proc.returncode != 0:
        text = server_reply(proc.stderr) + "\n" + proc.stderr.decode(errors="replace")
        raise server.map_error(f"{action.label} the zombie of {path}", text)
    return action.done.format(path=path)
