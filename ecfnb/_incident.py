"""Incident records: the evidence about one node, as a static document.

A widget is gone when a notebook is reopened without a kernel; an incident record is
not. It displays as a mimebundle of ``text/html`` (the timeline embedded as a PNG
data URI, so ``nbconvert --to html`` keeps it), ``text/markdown`` and ``image/png``,
all computed once when the record is made: the saved notebook holds the evidence as
it was. Everything from the server or a job is escaped: output is untrusted text.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ._base.html import output_lines_html, state_chip
from ._base.serverlog import LogClock, mentions, parse_line
from ._base.states import TASK_KINDS
from ._base.text import md_code, md_fence, md_text, printable
from ._map.fsmap import FileSystemMap
from ._server.changes import action_log
from ._server.server import Server, resolve
from .errors import EcfnbError

KEY_VARIABLES = ("ECF_JOB", "ECF_JOBOUT", "ECF_SCRIPT", "ECF_TRYNO", "ECF_TRIES", "ECF_RID",
                 "ECF_JOB_CMD", "ECF_KILL_CMD", "ECF_HOST", "ECF_PORT", "ECF_HOME",
                 "ECF_OUT", "SCHOST", "QUEUE", "ACCOUNT")


@dataclass
class IncidentRecord:
    """What was known about ``path`` on ``server`` at ``made``; see ``incident()``."""

    server: str
    version: str
    path: str
    kind: str
    state: str
    since: datetime | None
    try_no: int
    reason: str
    expressions: dict[str, str]
    why: str
    variables: dict[str, str]
    attributes: list[tuple[str, str, str]]
    output_tail: str
    output_source: str
    log_lines: list[str]
    made: datetime
    timeline_png: bytes | None = field(default=None, repr=False)
    timeline_note: str = ""
    #: How the server log's stamps were read (its zone, and how that was known).
    log_clock: str = ""
    #: The actions taken from ecfnb in this session on the node, above or below it
    #: (``action_log().about(path)``): time (UTC), user, action, nodes, command, outcome.
    actions: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    #: The node's suite as it was at the node's last state change (for an aborted task:
    #: the moment it aborted), from the server log: (path, state, since UTC or '').
    tree_at: datetime | None = None
    tree: list[tuple[str, str, str]] = field(default_factory=list)
    tree_note: str = ""

    # -- displays ------------------------------------------------------------------
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/html": self.to_html(), "text/markdown": self.to_markdown(),
                                  "text/plain": repr(self)}
        if self.timeline_png:
            bundle["image/png"] = base64.b64encode(self.timeline_png).decode()
        return bundle

    def __repr__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return (f"<IncidentRecord {self.path} on {self.server}: {self.state}{reason}, "
                f"made {self.made:%Y-%m-%d %H:%M} UTC>")

    def to_html(self) -> str:
        esc = html.escape
        rows = [("server", f"<code>{esc(self.server)}</code> (ecFlow {esc(self.version)})"),
                ("node", f"<code>{esc(self.path)}</code> ({esc(self.kind)})"),
                ("state", f"{state_chip(self.state)} since {_when(self.since)}"),
                ("try", str(self.try_no)),
                ("aborted reason", esc(self.reason) or "&ndash;")]
        rows += [(kind, f"<code>{esc(text)}</code>") for kind, text in self.expressions.items()]
        head = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>"
                       f"{v}</td></tr>" for k, v in rows)
        variables = "".join(f"<tr><td><code>{esc(k)}</code></td><td><code>{esc(v)}</code></td>"
                            "</tr>" for k, v in self.variables.items())
        attributes = "".join(f"<tr><td>{esc(kind)}</td><td><code>{esc(name)}</code></td>"
                             f"<td><code>{esc(value)}</code></td></tr>"
                             for kind, name, value in self.attributes)
        picture = ""
        if self.timeline_png:
            data = base64.b64encode(self.timeline_png).decode()
            picture = (f'<img alt="timeline of runs around {esc(self.path)}" '
                       f'src="data:image/png;base64,{data}" style="max-width:100%">')
        elif self.timeline_note:
            picture = f"<p><i>{esc(self.timeline_note)}</i></p>"
        pre = "<pre style='max-height:40em;overflow:auto;background:#f6f6f6;padding:4px'>"
        return "\n".join([
            f"<div class='ecfnb-incident'><h3>Incident: <code>{esc(self.path)}</code></h3>",
            f"<p>Recorded {self.made:%Y-%m-%d %H:%M:%S} UTC by ecfnb.</p>",
            f"<table>{head}</table>",
            f"<h4>Why is it not running?</h4>{pre}{esc(self.why) or '&ndash;'}</pre>",
            f"<h4>Key variables</h4><table>{variables}</table>",
            f"<h4>Labels, meters, events</h4><table>{attributes or '<tr><td>none</td></tr>'}"
            "</table>",
            f"<h4>Job output (last lines, {esc(self.output_source)})</h4>"
            f"{pre}{output_lines_html(self.output_tail)}</pre>",
            f"<h4>Server log for this node</h4>{pre}"
            f"{esc(chr(10).join(self.log_lines)) or '(no lines)'}</pre>",
            f"<h4>Timeline</h4>{picture}",
            f"<h4>{esc(self._tree_title())}</h4>{self._tree_html()}",
            f"<h4>Actions taken from ecfnb</h4>{self._actions_html()}</div>"])

    def _tree_title(self) -> str:
        when = "at the abort" if self.state == "aborted" else "at its last change"
        return f"The suite {when}" + (f" ({_when(self.tree_at)})" if self.tree_at else "")

    def _tree_html(self) -> str:
        if not self.tree:
            return f"<p><i>{html.escape(self.tree_note or 'not recorded')}</i></p>"
        esc = html.escape
        bold = ' style="font-weight:bold"'
        rows = "".join(
            f"<tr{bold if path == self.path else ''}><td><code>"
            f"{esc(path)}</code></td><td>{state_chip(state)}</td><td>{esc(since)}</td></tr>"
            for path, state, since in self.tree)
        note = f"<p><i>{esc(self.tree_note)}</i></p>" if self.tree_note else ""
        return (f"<table class='ecfnb-incident-tree'><tr><th>node</th><th>state</th>"
                f"<th>since (UTC)</th></tr>{rows}</table>{note}")

    def _actions_html(self) -> str:
        if not self.actions:
            return "<p><i>none in this session</i></p>"
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in ACTION_COLUMNS)
        rows = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
                       for row in self.actions)
        return f"<table class='ecfnb-incident-actions'><tr>{head}</tr>{rows}</table>"

    def to_markdown(self, image: str | None = None) -> str:
        """Markdown; ``image`` is the timeline picture's file name when saved beside it.
        Server text is escaped as the HTML is: code spans and fences longer than any
        backtick run inside them, plain text with HTML and Markdown escaped, so that a
        label cannot break out into markup (``_text``)."""
        def cell(text: str) -> str:  # in a table: | would end the cell
            return text.replace("|", "\\|")

        def block(text: str) -> list[str]:
            fence = md_fence(text)
            return [fence, printable(text.rstrip("\n")), fence]

        lines = [f"### Incident: {md_code(self.path)}", "",
                 f"Recorded {self.made:%Y-%m-%d %H:%M:%S} UTC by ecfnb.", "",
                 "| | |", "|---|---|",
                 f"| server | {cell(md_code(self.server))} (ecFlow {md_text(self.version)}) |",
                 f"| node | {cell(md_code(self.path))} ({md_text(self.kind)}) |",
                 f"| state | **{md_text(self.state)}** since {_when(self.since)} |",
                 f"| try | {self.try_no} |",
                 f"| aborted reason | {cell(md_text(self.reason)) or '-'} |"]
        if self.log_clock:
            lines.append(f"| server log clock | {cell(md_text(self.log_clock))} |")
        lines += [f"| {md_text(kind)} | {cell(md_code(text))} |"
                  for kind, text in self.expressions.items()]
        lines += ["", "#### Why is it not running?", "", *block(self.why or "-"), "",
                  "#### Key variables", "", "| variable | value |", "|---|---|"]
        lines += [f"| {cell(md_code(k))} | {cell(md_code(v))} |"
                  for k, v in self.variables.items()]
        lines += ["", "#### Labels, meters, events", ""]
        lines += [f"- {md_text(kind)} {md_code(name)}: {md_code(value)}"
                  for kind, name, value in self.attributes] or ["none"]
        lines += ["", f"#### Job output (last lines, {md_text(self.output_source)})", "",
                  *block(self.output_tail), "", "#### Server log for this node", "",
                  *block("\n".join(self.log_lines) or "(no lines)"), "", "#### Timeline", ""]
        if image:
            lines.append(f"![timeline of runs around {md_text(self.path)}]({image})")
        else:
            lines.append(md_text(self.timeline_note) or "(see the saved timeline picture)")
        lines += ["", f"#### {md_text(self._tree_title())}", ""]
        if self.tree:
            lines += ["| node | state | since (UTC) |", "|---|---|---|"]
            lines += [f"| {cell(md_code(p))} | {md_text(st)} | {md_text(since)} |"
                      for p, st, since in self.tree]
        if self.tree_note or not self.tree:
            lines.append(md_text(self.tree_note or "not recorded"))
        lines += ["", "#### Actions taken from ecfnb", ""]
        if self.actions:
            lines += ["| " + " | ".join(ACTION_COLUMNS) + " |",
                      "|" + "---|" * len(ACTION_COLUMNS)]
            lines += ["| " + " | ".join(cell(md_code(c) if i == 4 else md_text(c))
                                        for i, c in enumerate(row)) + " |"
                      for row in self.actions]
        else:
            lines.append("none in this session")
        return "\n".join(lines) + "\n"

    def save(self, filename: str | Path) -> Path:
        """Write Markdown to ``filename`` and the timeline PNG beside it."""
        target = Path(filename)
        image = None
        if self.timeline_png:
            picture = target.with_name(target.stem + "-timeline.png")
            picture.write_bytes(self.timeline_png)
            image = picture.name
        target.write_text(self.to_markdown(image=image))
        return target

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data (times as ISO strings, no picture)."""
        data = asdict(self)
        data.pop("timeline_png")
        data["since"] = self.since.isoformat() if self.since else None
        data["made"] = self.made.isoformat()
        data["tree_at"] = self.tree_at.isoformat() if self.tree_at else None
        data["has_timeline"] = self.timeline_png is not None
        json.dumps(data)  # fail here, not in the caller, if something is not plain
        return data


#: The columns of an incident's action table.
ACTION_COLUMNS = ("time (UTC)", "user", "action", "nodes", "command", "outcome")


def action_rows(path: str, server: str) -> list[tuple[str, str, str, str, str, str]]:
    """The session's actions about ``path`` on ``server`` as the record's table rows."""
    return [(f"{r.time:%Y-%m-%d %H:%M:%S}", r.user, r.action, ", ".join(r.paths),
             "ecflow_client " + " ".join(r.command),
             ("ok: " if r.ok else "refused: ") + r.answer)
            for r in action_log().about(path, server)]


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "unknown"


def incident(path: str, server: Server | str | None = None, lines: int = 200,
             variables: tuple[str, ...] = (), hours: float = 6.0,
             tz: Any = None, tree_rows: int = 300) -> IncidentRecord:
    """Gather the record of ``path``: state, reason, expressions, why, key variables
    (plus ``variables``), labels/meters/events, the last ``lines`` of job output, the
    server log lines about it from ``hours`` before its last state change on, and a
    timeline of the runs of its family over that time. ``server``: a Server,
    "host:port", or None for the notebook's current server (``%ecf_connect``), else
    ECF_HOST/ECF_PORT. ``tz``: the server log's zone when ecfnb should not detect it
    (see ``Server.log_clock``); every time in the record is UTC. The node's suite as
    it was at the node's last state change (the abort) is kept too (``history``: at
    most ``tree_rows`` nodes, the node's own family first; 0 leaves it out)."""
    srv = resolve(server)
    info = srv.node(path)
    fsmap = FileSystemMap(srv)
    if info.kind in TASK_KINDS:
        out_path = fsmap.path_of(info.path, "jobout")
        tail = fsmap.tail(out_path, lines).decode("utf-8", errors="replace")
        local = fsmap.local_path(out_path)
        source = f"try {info.try_no}, from {local}" if local else \
            f"try {info.try_no}, the server's copy"
    else:
        tail, source = f"(a {info.kind} has no job output)", "none"
    wanted = tuple(KEY_VARIABLES) + tuple(variables)
    seen = {v.name: v.value for v in reversed(info.variables)}
    chosen = {name: seen[name] for name in wanted if name in seen}
    made = datetime.now(timezone.utc)
    clock = LogClock.of(tz) or srv.log_clock()
    # The window is anchored on the node's own state change (the server's clock), not on
    # this machine's: what happened around the incident, whatever the clocks say.
    start = (info.since or made) - timedelta(hours=hours)
    png, note = _timeline_png(srv, info.path, start, clock)
    return IncidentRecord(
        server=srv.address, version=srv.info().version, path=info.path, kind=info.kind,
        state=info.state, since=info.since, try_no=info.try_no, reason=info.aborted_reason,
        expressions={a.kind: a.value for a in info.attributes if a.kind in ("trigger",
                                                                            "complete")},
        why=srv.why(info.path).strip(), variables=chosen,
        attributes=[(a.kind, a.name, a.value) for a in info.attributes
                    if a.kind in ("label", "meter", "event")],
        output_tail=tail, output_source=source,
        log_lines=node_log_lines(srv, info.path, start, clock=clock),
        made=made, timeline_png=png, timeline_note=note, log_clock=clock.describe(),
        actions=action_rows(info.path, srv.address),
        **_tree_at(srv, info.path, info.state, info.since, clock, tree_rows))


def _tree_at(server: Server, path: str, state: str, since: datetime | None,
             clock: LogClock, rows: int) -> dict[str, Any]:
    """The record's tree fields: the node's suite at ``since``, from the log."""
    if rows <= 0:
        return {"tree_note": "left out (tree_rows=0)"}
    if since is None:
        return {"tree_note": "the node has no state-change time to rebuild the tree at"}
    from ._map.history import history

    try:
        found = history(server, tz=clock)
    except (EcfnbError, OSError, ValueError) as exc:
        return {"tree_note": f"no tree: {exc}"}
    # the log's own line for that change: the node's time is the suite calendar's, and
    # measured a second before the log's stamp of the same abort (then the tree at the
    # node's time still shows it active)
    moment = next((m for m, st, _t, _r in reversed(found.changes_of(path))
                   if st == state and abs(m - since) <= timedelta(seconds=5)), since)
    past = found.at(moment)
    suite = "/" + path.strip("/").split("/", 1)[0]
    family = path.rpartition("/")[0] or "/"
    nodes = past.under(suite)
    nodes.sort(key=lambda n: (not (n.path == family or n.path.startswith(family + "/")),
                              n.path))
    kept = nodes[:rows]
    kept.sort(key=lambda n: n.path)
    note = f"{len(nodes) - rows} more nodes of {suite} not kept" if len(nodes) > rows else ""
    return {"tree_at": past.instant, "tree_note": note,
            "tree": [(n.path, n.state, f"{n.since:%Y-%m-%d %H:%M:%S}" if n.since else "")
                     for n in kept]}


def node_log_lines(server: Server, path: str, since: datetime, max_lines: int = 20000,
                   keep: int = 200, clock: LogClock | None = None) -> list[str]:
    """The server log lines that name ``path`` (or a node below it) since ``since``,
    each led by its time in UTC (the log's own stamp, in the server's zone, follows)."""
    clock = clock or server.log_clock()
    found: list[str] = []
    for raw in server.log_tail(max_lines).splitlines():
        if not mentions(raw, path):
            continue
        line = parse_line(raw)
        if line is None:
            continue
        when = clock.to_utc(line.local)
        if when < since:
            continue
        found.append(f"{when:%Y-%m-%d %H:%M:%S} UTC | {line.raw.decode('utf-8', 'replace')}")
    return found[-keep:]


def _timeline_png(server: Server, path: str, since: datetime, clock: LogClock
                  ) -> tuple[bytes | None, str]:
    """The runs of the node's family around the incident, or why there is no picture."""
    try:
        from ._map.timeline import timeline
    except ImportError as exc:  # matplotlib missing
        return None, f"no timeline: {exc}"
    parent = path.rpartition("/")[0] or "/"
    try:
        chart = timeline(server, path=parent, since=since, tz=clock)
        if not chart.runs:
            return None, f"no runs under {parent} in the server log since {_when(since)}"
        return chart.png(highlight=path), ""
    except (EcfnbError, OSError, ValueError) as exc:
        return None, f"no timeline: {exc}"
