"""What an action will set in motion, before it runs: ``preview(server, action, paths)``.

No ecFlow tool has this. It is computed, not guessed, from the live definition as the
last sync holds it (``Server.plan``: one walk of the suites involved, under the lock)
and ecFlow's own rules, as measured on 5.9 and 5.13:

- the action's immediate changes, as the server applies them: a force requeue puts
  every task below back to queued (complete where its defstatus says so), resets
  events, meters, repeats and time slots, clears the suspension of the nodes *below*
  (not the node's own: measured), and gives back the limit tokens its jobs held;
  rerun/complete/aborted force one task's state; suspend/resume set the flag;
  free-dep marks a trigger, a time or a date as free for one run;
- then the server's next pass over the tree (it runs one right after every command):
  depth first in the definition's order, a queued task is submitted when neither it
  nor a node above it is suspended, every trigger on the way holds (``expression``,
  evaluated on the states the action leaves), no time/date/day/cron holds it (for a
  node the action reset, from the server's clock; for any other, from ecFlow's own
  ``why``), and each limit it is in has room — the tokens it takes count for the
  tasks after it in the same pass, as on the server;
- "released later": the tasks that run once the submitted ones (and those already
  running) complete, found by repeating the pass as if they had; each with what it
  waits for. "Held": tasks the action queued that nothing in sight releases.

What the preview cannot know (a variable in an expression, a time attribute whose
state ecFlow does not say) is reported as undecided, never guessed. It stops at its
time budget (``seconds``) and says how far it got.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from .actions import ACTIONS, _named, check_action
from .changes import Server
from .nodes import normalise_path
from .walks import Plan
from .world import SubmissionPass, World, parsed, requeue, resolved

__all__ = ["Preview", "Waiting", "LimitUse", "StateChange", "preview"]


@dataclass(frozen=True)
class StateChange:
    """A node whose state the action changes at once."""

    path: str
    before: str
    after: str


@dataclass(frozen=True)
class Waiting:
    """A task the action concerns that is not submitted at once, and why: ``reason``
    names the trigger, time or limit that holds it."""

    path: str
    reason: str


@dataclass(frozen=True)
class LimitUse:
    """A limit whose tokens the submissions take: ``name`` as 'path:limit', tokens in
    use before and after, its maximum and who takes them."""

    name: str
    before: int
    after: int
    maximum: int
    takers: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    """What ``action`` on ``paths`` sets in motion: ``changes`` (at once), ``submitted``
    (tasks whose jobs the server submits right after it), ``later`` (released once
    those complete, with the reason they wait), ``held`` (queued by the action, not
    released by anything in sight), ``undecided`` (depends on what ecfnb cannot
    know), ``limits`` taken, ``notes``; ``complete`` is False when it stopped at its
    time budget after ``examined`` nodes."""

    action: str
    label: str
    paths: tuple[str, ...]
    changes: tuple[StateChange, ...] = ()
    submitted: tuple[str, ...] = ()
    later: tuple[Waiting, ...] = ()
    held: tuple[Waiting, ...] = ()
    undecided: tuple[Waiting, ...] = ()
    limits: tuple[LimitUse, ...] = ()
    notes: tuple[str, ...] = ()
    complete: bool = True
    examined: int = 0
    seconds: float = field(default=0.0, compare=False)

    def summary(self) -> str:
        """One line: '3 nodes change state; 2 jobs submitted now; 4 released later'."""
        parts = [f"{len(self.changes)} node(s) change state at once",
                 f"{len(self.submitted)} job(s) submitted now",
                 f"{len(self.later)} released later"]
        if self.held:
            parts.append(f"{len(self.held)} held")
        if self.undecided:
            parts.append(f"{len(self.undecided)} undecided")
        if not self.complete:
            parts.append(f"stopped after {self.examined} nodes (time budget)")
        return "; ".join(parts)

    def __repr__(self) -> str:
        lines = [f"Preview of {self.label} on {_named(list(self.paths))}: {self.summary()}"]
        for change in self.changes[:20]:
            lines.append(f"  changes   {change.path}: {change.before} -> {change.after}")
        for path in self.submitted[:20]:
            lines.append(f"  submitted {path}")
        for wait in self.later[:20]:
            lines.append(f"  later     {wait.path}: {wait.reason}")
        for wait in self.held[:20]:
            lines.append(f"  held      {wait.path}: {wait.reason}")
        for wait in self.undecided[:20]:
            lines.append(f"  undecided {wait.path}: {wait.reason}")
        for use in self.limits:
            lines.append(f"  limit     {use.name}: {use.before} -> {use.after} of "
                         f"{use.maximum}")
        lines.extend(f"  note      {note}" for note in self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return preview_html(self)


def preview_html(found: Preview, rows: int = 50) -> str:
    """The preview as a compact HTML block (the confirmation shows it)."""
    def items(title: str, entries: Sequence[str]) -> str:
        if not entries:
            return ""
        more = (f"<li><i>and {len(entries) - rows} more</i></li>"
                if len(entries) > rows else "")
        body = "".join(f"<li>{entry}</li>" for entry in entries[:rows])
        return (f'<div class="ecfnb-preview-{title.split()[0].lower()}"><b>{escape(title)}'
                f" ({len(entries)})</b><ul>{body}{more}</ul></div>")

    code = lambda text: f"<code>{escape(text)}</code>"  # noqa: E731
    parts = [
        f'<div class="ecfnb-preview"><p><b>Preview</b>: {escape(found.summary())}</p>',
        items("Changes state at once", [f"{code(c.path)}: {escape(c.before)} → "
                                        f"{escape(c.after)}" for c in found.changes]),
        items("Submitted now", [code(p) for p in found.submitted]),
        items("Released later", [f"{code(w.path)}: {escape(w.reason)}" for w in found.later]),
        items("Held", [f"{code(w.path)}: {escape(w.reason)}" for w in found.held]),
        items("Undecided", [f"{code(w.path)}: {escape(w.reason)}" for w in found.undecided]),
        items("Limits taken", [f"{code(u.name)}: {u.before} → {u.after} of {u.maximum}"
                               for u in found.limits]),
        items("Notes", [escape(n) for n in found.notes]), "</div>"]
    return "".join(parts)

def _apply(world: World, action: str, paths: Sequence[str], notes: list[str]) -> None:
    for path in paths:
        if path not in world.nodes:
            continue
        if action in ("requeue", "begin"):
            requeue(world, path)
        elif action == "requeue_aborted":
            for one in world.below(path):
                if world.nodes[one].kind in ("task", "alias") and world.state[one] == "aborted":
                    world.set(one, "queued")
                    world.reset.add(one)
        elif action == "rerun":
            world.release_tokens(path)
            world.set(path, "queued")
        elif action in ("complete", "aborted"):
            world.release_tokens(path)
            world.set(path, action)
        elif action == "execute":
            for one in world.below(path):
                if world.nodes[one].kind in ("task", "alias") and \
                        world.state[one] not in ("active", "submitted"):
                    world.set(one, "submitted")
        elif action == "suspend":
            world.suspended[path] = True
        elif action == "resume":
            world.suspended[path] = False
        elif action.startswith("free_"):
            kinds = {"trigger", "time", "date"} if action == "free_all" else {action[5:]}
            world.free.setdefault(path, set()).update(kinds)
        elif action == "kill":
            running = [one for one in world.below(path)
                       if world.nodes[one].kind in ("task", "alias")
                       and world.state[one] in ("active", "submitted")]
            notes.append(f"the server runs ECF_KILL_CMD on {len(running)} job(s)"
                         + (f" ({', '.join(running[:10])})" if running else "")
                         + "; a killed job normally aborts its task, once it dies")


def _clock(server: Server, suite: str) -> datetime | None:
    """The suite's clock now (its time attributes use it: UTC, not the log's zone)."""
    try:
        return server.suite_clock(suite)
    except Exception:  # noqa: BLE001 - no clock: reset time attributes are undecided
        return None


def preview(server: Server, action: str, paths: str | Iterable[str],
            seconds: float = 1.0) -> Preview:
    """What ``action`` (a name of ``ACTIONS``) on ``paths`` will set in motion, from
    the last synced definition: see the module's docstring. Answers within about
    ``seconds`` (``complete`` False past it, saying how far it got)."""
    started = time.monotonic()
    if action not in ACTIONS:
        raise ValueError(f"unknown node action {action!r}: use one of {', '.join(ACTIONS)}")
    chosen = [normalise_path(p) for p in ([paths] if isinstance(paths, str) else paths)]
    if not chosen:
        raise ValueError("give at least one node path to preview an action on")
    chosen = list(dict.fromkeys(chosen))
    spec = ACTIONS[action]
    for path in chosen:
        check_action(action, server.summary(path).kind)
    notes: list[str] = []
    if spec.kinds == {"server"}:
        text = {"halt": "no job is submitted, and no job's message is taken, until the "
                        "server is restarted",
                "shutdown": "no new job is submitted until the server is restarted; "
                            "running jobs may finish",
                "checkpoint": "changes no node", "restart": "the server schedules again: "
                "every queued task whose dependencies hold is submitted"}[action]
        return Preview(action, spec.label, tuple(chosen), notes=(text,),
                       seconds=time.monotonic() - started)
    if action.startswith(("defstatus_", "order_", "clear_")):
        notes.append("changes no state now" + (
            "; the new default state applies at the next requeue or begin"
            if action.startswith("defstatus_") else ""))
        return Preview(action, spec.label, tuple(chosen), notes=tuple(notes),
                       seconds=time.monotonic() - started)
    deadline = started + seconds
    suites = list(dict.fromkeys(p.strip("/").split("/", 1)[0] for p in chosen))
    plan = server.plan(suites, max(0.05, deadline - time.monotonic()))
    extra = _outside_references(plan)
    if extra:
        more = server.plan([], max(0.05, deadline - time.monotonic()), paths=extra)
        plan.nodes.update({p: n for p, n in more.nodes.items() if p not in plan.nodes})
    before = World(plan)
    after = before.copy()
    _apply(after, action, chosen, notes)
    clock = _clock(server, suites[0])
    halted = plan.server_state != "running"
    if halted:
        notes.append(f"the server is {plan.server_state}: it submits nothing until it is "
                     "restarted; 'released later' lists what it would submit then")
    now_before = before.copy()
    submitted_before, waits_before, _ = SubmissionPass(now_before, clock).run(deadline)
    if submitted_before:
        notes.append(f"{len(submitted_before)} task(s) look ready already, action or not "
                     f"(the server may be about to submit them): "
                     f"{', '.join(submitted_before[:5])}")
    limits_before = {k: v[0] for k, v in after.limits.items()}
    now = SubmissionPass(after, clock)
    submitted, waits, finished = now.run(deadline)
    limits_after = {k: (v[0], v[1], v[2]) for k, v in after.limits.items()}
    eventual_after = after.copy()
    later_after, _, done_after = SubmissionPass(eventual_after, clock).run(deadline,
                                                                          eventually=True)
    eventual_before = now_before.copy()
    later_before, _, done_before = SubmissionPass(eventual_before, clock).run(deadline,
                                                                     eventually=True)
    complete = plan.complete and finished and done_after and done_before
    skip = set(submitted_before)
    submitted = [p for p in submitted if p not in skip]
    not_new = set(later_before) | skip
    later = {p: waits.get(p, ("released when what it waits for completes", True))
             for p in later_after if p not in not_new}
    targets = {one for path in chosen for one in after.below(path)}
    eventually = set(later_after)
    # held: what the action concerns and nothing in sight releases — unless it was held
    # the same way before (a kill does not hold the tasks that already waited)
    released_before = set(later_before)
    never = {p: why for p, why in waits.items()
             if p not in later and p not in eventually and p in targets
             and not (waits_before.get(p) == why and p not in released_before)}
    takers: dict[str, list[str]] = {}
    going = set(submitted)
    for key, (_value, _maximum, holders) in limits_after.items():
        gained = [h for h in holders if h in going]
        if gained:
            takers[key] = gained
    uses = {key: LimitUse(key, limits_before.get(key, 0), limits_after[key][0],
                          limits_after[key][1], tuple(names))
            for key, names in takers.items()}
    if halted:  # nothing goes now: what would go once restarted is for later
        later = {**{p: ("submitted once the server is restarted", True) for p in submitted},
                 **later}
        submitted, uses = [], {}
        after = before.copy()
        _apply(after, action, chosen, [])
    return _result(action, spec.label, chosen, _changes(before, after, submitted),
                   tuple(submitted), later, never, uses, notes, plan, started, complete)


def _changes(before: World, after: World, submitted: Iterable[str]
             ) -> tuple[StateChange, ...]:
    """The nodes whose state (or suspension) differs once the action and the server's
    pass after it are done, the submitted tasks aside (they are listed as such)."""
    skip = set(submitted)

    def shown(world: World, path: str) -> str:
        return "suspended" if world.suspended[path] else world.state[path]
    return tuple(StateChange(p, shown(before, p), shown(after, p)) for p in before.order
                 if p not in skip and shown(before, p) != shown(after, p))


def _outside_references(plan: Plan) -> list[str]:
    """Absolute paths the expressions of ``plan`` name outside it."""
    found: dict[str, None] = {}
    for node in plan.nodes.values():
        for text in (node.trigger, node.complete):
            if not text:
                continue
            expr = parsed(text)
            if expr is None:
                continue
            parent = node.path.rsplit("/", 1)[0] or "/"
            for written, _attribute in expr.names:
                path = resolved(parent, written)
                if path not in plan.nodes:
                    found[path] = None
    return list(found)


def _result(action: str, label: str, chosen: list[str], changes: tuple[StateChange, ...],
            submitted: tuple[str, ...], later: dict[str, tuple[str, bool]],
            never: dict[str, tuple[str, bool]], uses: dict[str, LimitUse],
            notes: list[str], plan: Plan, started: float, complete: bool = True) -> Preview:
    held = tuple(Waiting(p, why) for p, (why, decided) in never.items() if decided)
    undecided = tuple(Waiting(p, why) for p, (why, decided) in never.items() if not decided)
    return Preview(action, label, tuple(chosen), changes, submitted,
                   tuple(Waiting(p, why) for p, (why, _d) in later.items()), held, undecided,
                   tuple(uses.values()), tuple(notes), complete and plan.complete,
                   len(plan.nodes), time.monotonic() - started)
