"""What ecfnb changes on a server: the session's action log, and the edits of a node's
attributes and variables (``ecflow_client --alter``), checked before they are sent.

Every change ecfnb makes — a menu action, a zombie action, an edit, a job submitted
from an edited script — goes through ``record`` into one log (``action_log()``): who,
when, on which server and nodes, the exact ``ecflow_client`` arguments and what the
server answered. It can be shown in a notebook and goes into incident records.

Edits are checked against the node as the server has it (``Server.node``) before
anything is sent: a meter outside its range, an event or label the node does not
have, a variable name ecFlow would refuse, a repeat value outside the repeat, an
inherited variable to delete — each a ValueError saying what would do; what the
server refuses after that (a read-only user) is raised as for any request.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from .._base.child import ForkSafeLock
from .._base.serverlog import LogClock
from .nodes import Attribute, NodeInfo
from .walks import Plan


class Server(Protocol):
    """What the action, edit and preview code uses of a ``server.Server``. The server
    module imports those modules (its methods call them); a protocol keeps the import
    one way, so no module cycle closes through a type annotation."""

    @property
    def address(self) -> str: ...
    @property
    def user(self) -> str: ...
    def run_client(self, *args: str) -> subprocess.CompletedProcess: ...
    def map_error(self, what: str, text: str) -> Exception: ...
    def summary(self, path: str, marks: bool = False) -> NodeInfo: ...
    def plan(self, suites: Iterable[str], seconds: float = 1.0,
             paths: Iterable[str] = ()) -> Plan: ...
    def log_clock(self) -> LogClock: ...
    def clock_skew(self) -> timedelta: ...
    def suite_clock(self, suite: str) -> datetime: ...

__all__ = ["ActionRecord", "ActionLog", "record", "action_log", "EditableScript"]


@dataclass(frozen=True)
class ActionRecord:
    """One action ecfnb ran: when (UTC), by whom on which server, on which nodes, the
    ``ecflow_client`` arguments, whether the server accepted it and what it said."""

    time: datetime
    user: str
    server: str
    action: str
    paths: tuple[str, ...]
    command: tuple[str, ...]
    ok: bool
    answer: str


class ActionLog:
    """The actions run from this Python session, oldest first (the newest
    ``MAX_RECORDS``); shown as a table at the end of a notebook cell."""

    MAX_RECORDS = 10_000

    def __init__(self, records: Sequence[ActionRecord] = ()) -> None:
        self.records = list(records)

    def __repr__(self) -> str:
        return f"<ActionLog: {len(self.records)} action(s)>"

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ActionRecord]:
        return iter(self.records)

    def about(self, path: str, server: str | None = None) -> ActionLog:
        """The actions on ``path`` or on a node above or below it (on ``server``, an
        address as ``Server.address`` gives it, when given)."""
        path = "/" + path.strip("/")
        return ActionLog([r for r in self.records if (server is None or r.server == server)
                          and any(
            p == path or p.startswith(path.rstrip("/") + "/") or path.startswith(
                p.rstrip("/") + "/") or p == "/" for p in r.paths)])

    def _repr_html_(self) -> str:
        from html import escape

        if not self.records:
            return "<p><i>no action was run from ecfnb in this session</i></p>"
        rows = "".join(
            f"<tr><td>{r.time:%Y-%m-%d %H:%M:%S} UTC</td><td>{escape(r.user)}</td>"
            f"<td><code>{escape(r.server)}</code></td><td>{escape(r.action)}</td>"
            f"<td>{escape(', '.join(r.paths))}</td><td><code>ecflow_client "
            f"{escape(' '.join(r.command))}</code></td><td>{'ok' if r.ok else 'refused'}"
            f"</td><td>{escape(r.answer)}</td></tr>" for r in self.records)
        return ('<table class="ecfnb-action-log"><tr><th>time</th><th>user</th><th>server'
                "</th><th>action</th><th>nodes</th><th>command</th><th>outcome</th>"
                f"<th>the server said</th></tr>{rows}</table>")


_LOG: list[ActionRecord] = []
_LOG_LOCK = ForkSafeLock()


def record(server: Server, action: str, paths: Sequence[str], command: Sequence[str],
           ok: bool, answer: str) -> ActionRecord:
    """Add one action to the session's log (every runner of actions calls this)."""
    entry = ActionRecord(datetime.now(timezone.utc), server.user, server.address, action,
                         tuple(paths), tuple(command), ok, answer.strip())
    with _LOG_LOCK:
        _LOG.append(entry)
        del _LOG[:-ActionLog.MAX_RECORDS]
    return entry


def action_log() -> ActionLog:
    """Every action run from ecfnb in this session (explorer buttons, menus, scripts)."""
    with _LOG_LOCK:
        return ActionLog(list(_LOG))




# -- edits: the ``ecflow_client --alter`` arguments, checked first --------------------------
#: What ecFlow accepts as a variable (and label, meter, event, limit) name.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_LATE = re.compile(r"^(?:\s*-[sac]\s+\+?\d{1,2}:\d\d)+\s*$")
_TIME = re.compile(r"^\+?\d{1,2}:\d\d(?:\s+\d{1,2}:\d\d\s+\d{1,2}:\d\d)?$")
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _own(info: NodeInfo, kind: str, name: str) -> Attribute | None:
    for attr in info.attributes:
        if attr.kind == kind and attr.name == name:
            return attr
    return None


def _need(info: NodeInfo, kind: str, name: str) -> Attribute:
    found = _own(info, kind, name)
    if found is None:
        names = ", ".join(a.name for a in info.attributes if a.kind == kind) or "none"
        raise ValueError(f"{info.path} has no {kind} {name!r} (its {kind}s: {names})")
    return found


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"bad {what} name {name!r}: letters, digits, '_' and '.', not "
                         "starting with a digit (e.g. 'MY_VAR')")


def variable_change(info: NodeInfo, name: str, value: str) -> tuple[str, ...]:
    """Add or change the node's own variable ``name`` (an inherited or generated one
    of the same name is then overridden here)."""
    _check_name("variable", name)
    if not isinstance(value, str):
        raise ValueError(f"a variable's value is text, not {type(value).__name__}: "
                         f"give str({value!r})")
    verb = "change" if _own(info, "variable", name) else "add"
    return ("--alter", verb, "variable", name, value, info.path)


def variable_delete(info: NodeInfo, name: str) -> tuple[str, ...]:
    """Delete the node's own variable ``name`` (never all of them, as a bare
    ``--alter delete variable`` would)."""
    _check_name("variable", name)
    if _own(info, "variable", name) is None:
        seen = next((v for v in info.variables if v.name == name), None)
        where = (f"it is {seen.origin}" + (f" from {seen.source}" if seen.origin ==
                                           "inherited" else "") + ": delete it there"
                 if seen else "no such variable")
        raise ValueError(f"{name} is not a variable of {info.path} itself ({where})")
    return ("--alter", "delete", "variable", name, info.path)


def label_change(info: NodeInfo, name: str, value: str) -> tuple[str, ...]:
    _need(info, "label", name)
    return ("--alter", "change", "label", name, str(value), info.path)


def _whole(value: object) -> object:
    """A whole number given as text ('5', as a form gives it) is that number."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def meter_change(info: NodeInfo, name: str, value: int) -> tuple[str, ...]:
    value = _whole(value)  # type: ignore[assignment]
    attr = _need(info, "meter", name)
    parts = attr.text.split()
    low, high = int(parts[2]), int(parts[3])
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"meter {name} of {info.path} takes a whole number from {low} to "
                         f"{high}, not {value!r}")
    return ("--alter", "change", "meter", name, str(value), info.path)


def event_change(info: NodeInfo, name: str, value: bool) -> tuple[str, ...]:
    _need(info, "event", str(name))
    return ("--alter", "change", "event", str(name), "set" if value else "clear", info.path)


def limit_change(info: NodeInfo, name: str, value: int | None = None,
                 maximum: int | None = None) -> list[tuple[str, ...]]:
    _need(info, "limit", name)
    if value is None and maximum is None:
        raise ValueError("give the limit's new value (tokens in use) or maximum, or both")
    commands = []
    for what, number in (("limit_max", _whole(maximum)), ("limit_value", _whole(value))):
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"a limit's {what[6:]} is a whole number >= 0, not {number!r}")
        commands.append(("--alter", "change", what, name, str(number), info.path))
    return commands


def repeat_change(info: NodeInfo, value: str | int) -> tuple[str, ...]:
    """Set the repeat's current value: a number inside an integer repeat, a YYYYMMDD
    date inside a date repeat, one of the values of an enumerated or string repeat."""
    attr = next((a for a in info.attributes if a.kind == "repeat"), None)
    if attr is None:
        raise ValueError(f"{info.path} has no repeat")
    words = attr.text.split("#", 1)[0].split()
    kind, text = words[1], str(value)
    if kind in ("integer", "date"):
        low, high = int(words[3]), int(words[4])
        if not text.lstrip("-").isdigit() or not min(low, high) <= int(text) <= max(low, high):
            raise ValueError(f"repeat {kind} {words[2]} of {info.path} runs from {low} to "
                             f"{high}: {value!r} is outside it")
        if kind == "date":
            try:
                datetime.strptime(text, "%Y%m%d")
            except ValueError:
                raise ValueError(f"{value!r} is not a date YYYYMMDD") from None
    elif kind in ("enumerated", "string"):
        choices = [w.strip("\"'") for w in words[3:]]
        if text not in choices and not (text.isdigit() and int(text) < len(choices)):
            raise ValueError(f"repeat {kind} {words[2]} of {info.path} takes one of "
                             f"{', '.join(choices)} (or its index), not {value!r}")
    return ("--alter", "change", "repeat", text, info.path)


def late_change(info: NodeInfo, late: str) -> tuple[str, ...]:
    """Set the late attribute: ``-s +00:15 -a 20:00 -c +02:00`` (submitted, active,
    complete; '+' relative to the suite's start or the state change)."""
    if not isinstance(late, str) or not _LATE.match(late):
        raise ValueError(f"bad late attribute {late!r}: give e.g. '-s +00:15 -a 20:00 -c "
                         "+02:00' (-s submitted, -a active, -c complete)")
    verb = "change" if any(a.kind == "late" for a in info.attributes) else "add"
    return ("--alter", verb, "late", late.strip(), info.path)


def time_change(info: NodeInfo, kind: str, value: str, add: bool) -> tuple[str, ...]:
    """Add or delete a time, today, date, day or cron (cron: delete only, as ecFlow's
    --alter allows)."""
    value = str(value).strip()
    if kind not in ("time", "today", "date", "day", "cron"):
        raise ValueError(f"unknown time attribute {kind!r}: use time, today, date, day, cron")
    if add and kind == "cron":
        raise ValueError("ecflow_client --alter cannot add a cron: edit the definition")
    if kind in ("time", "today") and not _TIME.match(value):
        raise ValueError(f"bad {kind} {value!r}: give e.g. '23:00', '+00:30' or "
                         "'00:00 23:00 01:00'")
    if kind == "day" and value not in _DAYS:
        raise ValueError(f"bad day {value!r}: use one of {', '.join(_DAYS)}")
    if kind == "date" and not re.match(r"^(\d{1,2}|\*)\.(\d{1,2}|\*)\.(\d{4}|\*)$", value):
        raise ValueError(f"bad date {value!r}: give DD.MM.YYYY, '*' for any, e.g. '1.*.*'")
    def written(attr: Attribute) -> str:  # 'today 10:00 # free' -> '10:00'
        text = attr.value.split("#", 1)[0].strip()
        return text[len(kind):].strip() if text.startswith(kind + " ") else text
    if not add and not any(a.kind == kind and written(a) == value for a in info.attributes):
        have = ", ".join(written(a) for a in info.attributes if a.kind == kind) or "none"
        raise ValueError(f"{info.path} has no {kind} {value!r} (its {kind}s: {have})")
    return ("--alter", "add" if add else "delete", kind, value, info.path)


@dataclass(frozen=True)
class EditableScript:
    """A task's script as ecflow_ui's Edit panel shows it (``--edit_script edit``): the
    text, with the variables it uses first between ``%comment`` and ``%end``; those
    variables by name; and the script with its includes expanded (``pre_process``)."""

    path: str
    text: str
    variables: dict[str, str]
    preprocessed: str = ""


def script_variables(text: str) -> dict[str, str]:
    """The ``NAME = value`` lines of the first ``%comment``/``%end`` block."""
    found: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("%comment"):
            inside = True
            continue
        if inside and stripped.startswith("%end"):
            break
        if inside and "=" in line:
            name, _, value = line.partition("=")
            if name.strip():
                found[name.strip()] = value.strip()
    return found


def with_variables(text: str, variables: dict[str, str]) -> str:
    """``text`` with its ``%comment`` block's values replaced by ``variables`` (what
    the server then uses to make the job)."""
    lines, inside, done = [], False, set()
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("%comment") and not done:
            inside = True
        elif inside and stripped.startswith("%end"):
            inside = False
            done.add("block")
        elif inside and "=" in line:
            name = line.partition("=")[0].strip()
            if name in variables:
                line = f"{name} = {variables[name]}\n"
        lines.append(line)
    return "".join(lines)
