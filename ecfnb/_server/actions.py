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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .._base.states import NODE_KINDS, TASK_KINDS
from ..errors import NodeNotFound
from .changes import Server, record
from .connection import server_reply
from .nodes import NodeInfo, normalise_path

Predicate = Callable[[NodeInfo], bool]


def _always(_info: NodeInfo) -> bool:
    return True


def _not_running(info: NodeInfo) -> bool:
    """ecflow_ui's '(not active) and (not submitted)', on the node's own state."""
    return info.run_state not in ("active", "submitted")


@dataclass(frozen=True)
class Action:
    """One entry of the node menu: what it is called, the ``ecflow_client`` arguments
    it runs (``{path}`` where the node paths go, else they go last; none for the
    server's own commands), the question to confirm it with, the node kinds it applies
    to, when ecflow_ui enables it (``enabled(info)``, on the node's kind, state and
    facts: ``ecflowview_menus.json``), the submenu it sits in, and whether one command
    takes several paths (``multi``). ``question`` and ``done`` take ``{path}``."""

    name: str
    label: str
    arguments: tuple[str, ...]
    question: str
    done: str
    kinds: frozenset[str]
    enabled: Predicate = _always
    menu: str = ""
    multi: bool = True

    def command(self, path: str | Sequence[str]) -> tuple[str, ...]:
        """The ``ecflow_client`` arguments for the node(s) at ``path``."""
        if self.kinds == {"server"}:
            return self.arguments
        paths = [normalise_path(p) for p in ([path] if isinstance(path, str) else path)]
        if any("{suite}" in a for a in self.arguments):  # --begin=NAME: a suite's name
            return tuple(a.replace("{suite}", paths[0].strip("/")) for a in self.arguments)
        if "{path}" in self.arguments:
            at = self.arguments.index("{path}")
            return (*self.arguments[:at], *paths, *self.arguments[at + 1:])
        return (*self.arguments, *paths)

    def confirmation(self, path: str | Sequence[str]) -> str:
        return self.question.format(path=_named(path))

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds

    def available(self, info: NodeInfo) -> bool:
        """Offered and enabled for this node now, as ecflow_ui's menu would be."""
        return self.applies_to(info.kind) and self.enabled(info)


def _named(path: str | Sequence[str]) -> str:
    """One path, or 'N nodes (/a, /b, ...)' for several."""
    if isinstance(path, str):
        return normalise_path(path)
    paths = [normalise_path(p) for p in path]
    if len(paths) == 1:
        return paths[0]
    shown = ", ".join(paths[:8]) + (f", and {len(paths) - 8} more" if len(paths) > 8 else "")
    return f"{len(paths)} nodes ({shown})"


def _free(kind: str) -> Predicate:
    """ecflow_ui's Free deps entries: (queued or suspended or active) and the kind of
    dependency the entry frees ('all': any of them)."""
    wanted = ("trigger", "time", "date") if kind == "all" else (kind,)

    def enabled(info: NodeInfo) -> bool:
        return (info.run_state in ("queued", "active") or info.suspended) and \
            any(fact in info.facts for fact in wanted)
    return enabled


def _flag(name: str) -> Predicate:
    return lambda info: name in info.flags


FAMILY_KINDS = frozenset({"suite", "family"})
#: The menu's main entries, shown as the panel's buttons; the others are in the menu.
BUTTONS = ("requeue", "rerun", "suspend", "resume", "complete", "kill", "restart",
           "shutdown", "halt", "checkpoint")

#: Action name -> Action, in ecflow_ui's menu order; the commands and the conditions
#: are those of ecflow_ui's ``share/ecflow/etc/ecflowview_menus.json`` (quoted beside
#: each). Read-only.
ACTIONS: Mapping[str, Action] = MappingProxyType({a.name: a for a in (
    # "Suspend": ecflow_client --suspend <full_name>, visible for a node not suspended
    Action("suspend", "Suspend", ("--suspend",),
           "Suspend {path}? No new job starts in it until it is resumed.",
           "Suspended {path}.", NODE_KINDS, lambda info: not info.suspended),
    # "Resume": ecflow_client --resume <full_name>, visible for a suspended node
    Action("resume", "Resume", ("--resume",),
           "Resume {path}? Its jobs may start again.",
           "Resumed {path}.", NODE_KINDS, lambda info: info.suspended),
    # "Rerun": ecflow_client --force queued, tasks, (not active) and (not submitted)
    Action("rerun", "Rerun", ("--force=queued",),
           "Rerun {path}? It is queued again and runs when its dependencies allow, "
           "keeping its try count and earlier output.",
           "Queued {path} to run again.", TASK_KINDS - {"alias"}, _not_running),
    # "Execute": ecflow_client --run <full_name>, tasks and aliases (families: Special)
    Action("execute", "Execute", ("--run",),
           "Execute {path} now? Its job is submitted at once, whatever its triggers, "
           "times and limits say.", "Submitted {path}.", TASK_KINDS | {"family"},
           _not_running),
    # "Requeue": ecflow_client --requeue=force, enabled (not active) and (not submitted)
    Action("requeue", "Requeue", ("--requeue=force",),
           "Requeue {path}? Its tries and repeats start again; a job still running "
           "below it becomes a zombie.",
           "Requeued {path}.", NODE_KINDS - {"alias"}, _not_running),
    # "Requeue aborted": ecflow_client --requeue=abort, suites and families, aborted or
    # suspended
    Action("requeue_aborted", "Requeue aborted", ("--requeue=abort",),
           "Requeue the aborted tasks under {path}? They run again when their "
           "dependencies allow.", "Requeued the aborted tasks under {path}.",
           FAMILY_KINDS, lambda info: info.run_state == "aborted" or info.suspended),
    # "Set complete": ecflow_client --force=complete, tasks and aliases not complete
    Action("complete", "Set complete", ("--force=complete",),
           "Set {path} complete? Tasks waiting on it may start. If it is submitted or "
           "active, check first that its job is not running any more.",
           "Set {path} complete.", TASK_KINDS, lambda info: info.run_state != "complete"),
    # "Set aborted": ecflow_client --force=aborted, tasks and aliases not aborted
    Action("aborted", "Set aborted", ("--force=aborted",),
           "Set {path} aborted? Have you checked that its job is not running any more "
           "(job status)?", "Set {path} aborted.", TASK_KINDS,
           lambda info: info.run_state != "aborted"),
    # "Kill": ecflow_client --kill; tasks active/submitted/suspended, families also aborted
    Action("kill", "Kill", ("--kill",),
           "Kill {path}? The server runs ECF_KILL_CMD on the job of each submitted or "
           "active task at or below it.",
           "Sent kill for {path}: killed jobs normally abort their task.", NODE_KINDS,
           lambda info: info.run_state in ("active", "submitted") or info.suspended or
           (info.kind not in TASK_KINDS and info.run_state == "aborted")),
    # "Free deps": ecflow_client --free-dep all|trigger|time|date <full_name>, enabled
    # (queued or suspended or active) and has_triggers / has_time / has_date
    Action("free_all", "All dependencies", ("--free-dep=all",),
           "Free every dependency of {path} (triggers, dates, times)? It may run at once; "
           "a freed time slot is missed.", "Freed every dependency of {path}.",
           NODE_KINDS - {"alias"}, _free("all"), menu="Free dependencies"),
    Action("free_trigger", "Trigger dependencies", ("--free-dep=trigger",),
           "Free the trigger of {path}? It runs without waiting for what it names.",
           "Freed the trigger of {path}.", NODE_KINDS - {"alias"}, _free("trigger"),
           menu="Free dependencies"),
    Action("free_time", "Time dependencies", ("--free-dep=time",),
           "Free the time dependencies of {path} (time, today, cron, day)? The next "
           "time slot is missed.", "Freed the time dependencies of {path}.",
           NODE_KINDS - {"alias"}, _free("time"), menu="Free dependencies"),
    Action("free_date", "Date dependencies", ("--free-dep=date",),
           "Free the date dependencies of {path}?", "Freed the date dependencies of {path}.",
           NODE_KINDS - {"alias"}, _free("date"), menu="Free dependencies"),
    # "Defstatus": ecflow_client --alter change defstatus complete|queued <full_name>
    Action("defstatus_complete", "Complete", ("--alter", "change", "defstatus", "complete"),
           "Make complete the default state of {path}? After a requeue or a begin it is "
           "complete, and does not run.", "The default state of {path} is complete.",
           NODE_KINDS, lambda info: "defstatus:complete" not in info.facts,
           menu="Defstatus"),
    Action("defstatus_queued", "Queued", ("--alter", "change", "defstatus", "queued"),
           "Make queued the default state of {path}?", "The default state of {path} is "
           "queued.", NODE_KINDS, lambda info: "defstatus:queued" not in info.facts,
           menu="Defstatus"),
    # "Order peers": ecflow_client --order <full_name> top|up|down|bottom|alpha
    *[Action(f"order_{where}", label, ("--order", "{path}", where),
             f"Move {{path}} {text} among its peers? The order is the order of "
             "submission when nothing else decides.", f"Moved {{path}} {text}.", NODE_KINDS,
             menu="Order", multi=False)
      for where, label, text in (("top", "Top", "to the top"), ("up", "Up", "up one place"),
                                 ("down", "Down", "down one place"),
                                 ("bottom", "Bottom", "to the bottom"),
                                 ("alpha", "Alphabetically", "and its peers alphabetically"))],
    # "Begin": ecflow_client --begin <node_name>, suites, unknown or complete
    Action("begin", "Begin", ("--begin={suite}",),
           "Begin {path}? Its tasks are queued and run as their dependencies allow.",
           "Began {path}.", frozenset({"suite"}),
           lambda info: info.run_state in ("unknown", "complete"), multi=False),
    # "Clear late flag" / "Clear zombie flag" / "Clear killed flag":
    # ecflow_client --alter clear_flag late|zombie|killed <full_name>
    *[Action(f"clear_{flag}", f"{flag.capitalize()} flag",
             ("--alter", "clear_flag", flag),
             f"Clear the {flag} flag of {{path}}?", f"Cleared the {flag} flag of {{path}}.",
             TASK_KINDS, _flag(flag), menu="Clear flags")
      for flag in ("late", "zombie", "killed")],
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


def run_action(server: Server, name: str, path: str | Sequence[str]) -> str:
    """Run action ``name`` on the node at ``path`` (or on each of several paths: one
    command where ecflow_client takes several, else one per node) and return a
    one-line report. Every run is recorded in the session's ``action_log()``.

    The nodes must exist in the server's last synced view (NodeNotFound otherwise),
    and the action must apply to each one's kind (ValueError naming the first that it
    does not). Refusals raise AccessDenied (no write access: the server's own words
    included), ServerUnreachable, or ServerError with the server's reply. The view is
    not synced afterwards: the caller's next sync shows the new state."""
    _action(name)  # an unknown name is the caller's mistake: say so before asking the server
    paths = [normalise_path(p) for p in ([path] if isinstance(path, str) else path)]
    if not paths:
        raise ValueError(f"{ACTIONS[name].label} needs at least one node path")
    paths = list(dict.fromkeys(paths))
    for one in paths:
        action = check_action(name, server.summary(one).kind)
        if action.kinds == {"server"} and one != "/":
            raise ValueError(f"{action.label} is a server command: give the path '/'")
    batches = [paths] if action.multi else [[one] for one in paths]
    for batch in batches:
        command = action.command(batch)
        proc = server.run_client(*command)
        if proc.returncode != 0:
            reply = server_reply(proc.stderr)
            record(server, action.label, batch, command, False, reply)
            if re.search(r"[Cc]ould not find node", reply):  # requeue's has no quotes
                raise NodeNotFound(batch[0], server.address)
            text = reply + "\n" + proc.stderr.decode(errors="replace")
            raise server.map_error(f"{action.label} on {_named(batch)}", text)
        record(server, action.label, batch, command, True,
               action.done.format(path=_named(batch)))
    return action.done.format(path=_named(paths))


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
    command = action.command(path)
    proc = server.run_client(*command)
    if proc.returncode != 0:
        reply = server_reply(proc.stderr)
        record(server, f"zombie {action.label}", [path], command, False, reply)
        text = reply + "\n" + proc.stderr.decode(errors="replace")
        raise server.map_error(f"{action.label} the zombie of {path}", text)
    done = action.done.format(path=path)
    record(server, f"zombie {action.label}", [path], command, True, done)
    return done
