"""HTML for the explorer, as plain functions (testable without a browser or ipywidgets).

jsTree inserts a node's name into the page as markup, and ipywidgets ``HTML`` values
are unsanitised: every name, label, path and line that comes from the server or a
job goes through ``html.escape`` here, and nowhere else builds explorer HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any

from .._base.html import clock, node_html, output_lines_html, state_chip
from .._base.states import CONNECTION_COLOURS, state_colour
from .._server.nodes import Attribute, NodeInfo, Variable

MARK_CHARS = 48  # a label longer than this is cut in the tree (the panel shows it whole)

EXPLORER_CSS = """<style>
.ecfnb-node { color: #000; padding: 0 4px; border-radius: 2px; border: 1px solid #999; }
.ecfnb-marks { color: #555; font-size: 90%; margin-left: .4em; }
.ecfnb-mark { margin-right: .6em; white-space: nowrap; }
.ecfnb-meter-bar { display: inline-block; width: 3em; height: .6em; border: 1px solid #777;
  vertical-align: middle; background: #fff; }
.ecfnb-meter-fill { display: block; height: 100%; background: #1e88e5; }
.ecfnb-mark-event { color: #2e7d32; }
.ecfnb-flag { margin-left: .3em; color: #b71c1c; }
.ecfnb-link { color: #1565c0; cursor: pointer; text-decoration: underline; }
.ecfnb-table { border-collapse: collapse; font-size: 12px; }
.ecfnb-table td, .ecfnb-table th { border-bottom: 1px solid #e0e0e0; padding: 1px 6px;
  text-align: left; white-space: nowrap; }
.ecfnb-table th[data-ecfnb-op] { cursor: pointer; text-decoration: underline; }
.ecfnb-logtime { color: #555; }
.ecfnb-more { color: #1565c0; font-style: italic; }
.ecfnb-panel-text pre { margin: 0; padding: 4px 6px; background: #f8f8f8; border: 1px solid
  #e0e0e0; max-height: 36em; overflow: auto; font-size: 12px; line-height: 1.3;
  white-space: pre-wrap; overflow-wrap: anywhere; max-width: 100%; box-sizing: border-box; }
.ecfnb-panel, .ecfnb-panel .widget-tab, .ecfnb-panel-text { min-width: 0; max-width: 100%; }
.ecfnb-panel-confirm .widget-button { flex: 0 0 auto; overflow: visible; }
.ecfnb-panel-tabs .widget-toggle-buttons { flex-wrap: wrap; }
.ecfnb-panel-tabs button.widget-toggle-button { width: auto; min-width: fit-content;
  flex: 0 0 auto; border-radius: 4px 4px 0 0; margin: 0 1px 0 0; }
.ecfnb-panel-tabs button.widget-toggle-button.mod-active { background: #fff;
  border-bottom: 2px solid #1976d2; font-weight: bold; box-shadow: none; }
.ecfnb-errline { background: #ffebee; color: #b71c1c; font-weight: bold; }
.ecfnb-hit { background: #fff59d; }
.ecfnb-vars { border-collapse: collapse; font-size: 12px; }
.ecfnb-vars td, .ecfnb-vars th { border-bottom: 1px solid #e0e0e0; padding: 1px 8px;
  text-align: left; vertical-align: top; }
.ecfnb-message-error { color: #b71c1c; font-weight: bold; }
.ecfnb-message-ok { color: #2e7d32; }
</style>"""


#: ecFlow flags a tree draws as icons (ecflow_ui draws these three), with their tooltips.
FLAG_ICONS = {
    "late": ("\u23f0", "late: a late attribute's time has passed"),
    "zombie": ("\u2620", "zombie: a job of this task talks to the server with another "
                          "password or try (see the server's Zombies tab)"),
    "killed": ("\u2716", "killed: a kill command was sent to its job"),
}
#: Icons of the time attributes and the repeat.
KIND_ICONS = {"time": "\u23f1", "today": "\u23f1", "date": "\U0001f4c5", "day": "\U0001f4c5",
              "cron": "\u27f3", "repeat": "\u21bb", "limit": "\u25a6"}


def node_label(info: NodeInfo) -> str:
    """A tree node: the name on its state colour (as ecflow_ui draws it), flags as icons,
    then what ecflow_ui draws beside it (``marks``), each with a tooltip.
    ``data-ecf-path`` lets tests and scripts find a node in the page, ``data-ecf-mark``
    an attribute (``meter:progress``)."""
    colour = state_colour(info.state)
    name = (f'<span class="ecfnb-node ecfnb-state-{escape(info.state)}" '
            f'data-ecf-path="{escape(info.path)}" title="{escape(info.path)} '
            f'({escape(info.state)})" style="background:{colour}">{escape(info.name)}</span>')
    flags = "".join(f'<span class="ecfnb-flag ecfnb-flag-{flag}" data-ecf-mark="flag:{flag}" '
                    f'title="{escape(FLAG_ICONS[flag][1])}">{FLAG_ICONS[flag][0]}</span>'
                    for flag in sorted(info.flags) if flag in FLAG_ICONS)
    marks = "".join(mark_html(mark) for mark in info.marks)
    return name + flags + (f'<span class="ecfnb-marks">{marks}</span>' if marks else "")


def past_label(info: NodeInfo, state: str, since: str = "") -> str:
    """A tree node as it was at an instant of the past (the time slider): its name on
    the colour of its state then, and nothing live beside it (flags and marks are
    today's; the log does not keep them)."""
    colour = state_colour(state)
    when = f" since {since}" if since else ""
    return (f'<span class="ecfnb-node ecfnb-past ecfnb-state-{escape(state)}" '
            f'data-ecf-path="{escape(info.path)}" data-ecf-past-state="{escape(state)}" '
            f'title="{escape(info.path)} ({escape(state)}{escape(when)}, from the server log)'
            f'" style="background:{colour}">{escape(info.name)}</span>')


def mark_html(mark: Attribute) -> str:
    """One attribute in the tree: a meter as a small bar with its value, an event as a
    filled or empty dot, a label's value, a repeat's current value, a time, a limit's use."""
    value = mark.value.replace("\n", " ")
    short = value if len(value) <= MARK_CHARS else value[:MARK_CHARS - 1] + "\u2026"
    tip = escape(f"{mark.text}" if mark.kind != "label" else f"label {mark.name}: {value}")
    start = (f'<span class="ecfnb-mark ecfnb-mark-{escape(mark.kind)}" '
             f'data-ecf-mark="{escape(mark.kind)}:{escape(mark.name)}" '
             f'data-value="{escape(value)}" title="{tip}">')
    if mark.kind == "meter":
        low, high = _meter_bounds(mark.text)
        share = 0.0 if high <= low else (float(value) - low) / (high - low)
        width = round(100 * min(1.0, max(0.0, share)))
        body = (f'{escape(mark.name)} <span class="ecfnb-meter-bar"><span class="'
                f'ecfnb-meter-fill" style="width:{width}%"></span></span> {escape(value)}')
    elif mark.kind == "event":
        body = ("\u25cf " if value == "set" else "\u25cb ") + escape(mark.name)
    elif mark.kind == "label":
        body = f"{escape(mark.name)}: {escape(short)}"
    elif mark.kind in ("repeat", "limit"):
        body = f"{KIND_ICONS[mark.kind]} {escape(mark.name)} {escape(short)}"
    else:
        body = f"{KIND_ICONS.get(mark.kind, '')} {escape(short)}"
    return start + body + "</span>"


def _meter_bounds(text: str) -> tuple[float, float]:
    """(min, max) from a meter's definition line ``meter name min max [threshold]``."""
    parts = text.split()
    try:
        return float(parts[2]), float(parts[3])
    except (IndexError, ValueError):
        return 0.0, 100.0


def marks_text(marks: Iterable[Attribute]) -> str:
    """The marks as one line of plain text (``progress=42  info: ready``)."""
    parts = []
    for mark in marks:
        value = mark.value.replace("\n", " ")
        if len(value) > MARK_CHARS:
            value = value[:MARK_CHARS - 1] + "\u2026"
        parts.append(f"{mark.name}={value}" if mark.kind == "meter" else f"{mark.name}: {value}")
    return "  ".join(parts)


def server_label(address: str, state: str, status: str, message: str = "") -> str:
    """The root of one server: address, server state, and why it is not connected."""
    text = f'<b data-ecf-path="/">{escape(address)}</b> '
    if status in ("disconnected", "error", "connecting"):
        reason = f": {message}" if message else ""
        return text + (f'<span class="ecfnb-server-{status}" style="color:'
                       f'{CONNECTION_COLOURS[status]}">({escape(status + reason)})</span>')
    return text + state_chip(state)


def more_label(count: int, what: str = "") -> str:
    what = f" {what}" if what else ""
    return f'<span class="ecfnb-more">… {count} more{what} (click to show)</span>'


def status_line(rows: Iterable[tuple[str, str, str, datetime | None, float, bool]]) -> str:
    """One line per server: address, connection state, last sync, refresh interval."""
    lines = []
    for address, status, message, last_sync, interval, paused in rows:
        colour = CONNECTION_COLOURS.get(status, "#757575")
        detail = f" ({escape(message)})" if message and status != "connected" else ""
        live = "paused" if paused else f"every {interval:g} s"
        lines.append(f'<span class="ecfnb-status-{escape(status)}"><code>{escape(address)}'
                     f'</code> <b style="color:{colour}">{escape(status)}</b>{detail} · last '
                     f'sync {clock(last_sync)} · refresh {live}</span>')
    return "<br>".join(lines)


def header(info: NodeInfo, address: str) -> str:
    return f"<code>{escape(address)}</code> " + node_html(info)


def text_block(text: str, kind: str) -> str:
    return f'<pre class="ecfnb-text-{escape(kind)}">{escape(text)}</pre>'


def script_block(text: str, kind: str) -> str:
    """A script or job, highlighted as shell by pygments (which escapes it); plain
    escaped text without pygments."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import BashLexer
    except ImportError:  # pragma: no cover - pygments comes with the lab extra
        return text_block(text, kind)
    body = highlight(text, BashLexer(), HtmlFormatter(noclasses=True, nowrap=True))
    return f'<pre class="ecfnb-text-{escape(kind)}">{body}</pre>'


def output_lines(text: str, search: str = "") -> list[str]:
    """Job output as HTML lines: escaped, error lines marked, lines containing ``search``
    marked (the Output tab sends these, and appends more as a job writes them)."""
    if not text:
        return []
    lines = output_lines_html(text, highlight='class="ecfnb-errline"').split("\n")
    if search:
        needle = escape(search)
        lines = [f'<span class="ecfnb-hit">{line}</span>' if needle in line else line
                 for line in lines]
    return lines


def output_block(text: str, search: str = "") -> str:
    """Job output as one ``<pre>`` (see ``output_lines``)."""
    return '<pre class="ecfnb-text-output">' + "\n".join(output_lines(text, search)) + "</pre>"


#: What an empty Manual or Why tab says, instead of a blank page.
EMPTY = {"Manual": "{path} has no manual: write one in its script between %manual and "
                   "%end, or in a .man file beside it",
         "Why": "ecFlow gives no reason why {path} is held: nothing holds it now"}


def server_summary(info: Any, stats: str, clock: str) -> str:
    """The server's row in the panel: version, state, suites, log clock, statistics."""
    suites = ", ".join(escape(name) for name in info.suites) or "none"
    rows = [("server", f"<code>{escape(info.address)}</code>"),
            ("ecFlow", escape(info.version)), ("state", state_chip(info.state)),
            ("server state", escape(info.server_state)),
            ("suites", suites), ("ECF_HOME", f"<code>{escape(info.home)}</code>"),
            ("log times", escape(clock))]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return (f'<table class="ecfnb-vars ecfnb-server-summary">{table}</table>'
            f'<details><summary>statistics</summary>{text_block(stats, "stats")}</details>')


def variables_table(variables: Iterable[Variable]) -> str:
    rows = "".join(f"<tr><td>{escape(v.name)}</td><td>{escape(v.value)}</td>"
                   f"<td>{escape(v.origin)}</td><td><code>{escape(v.source)}</code></td></tr>"
                   for v in variables)
    return ('<table class="ecfnb-vars"><tr><th>name</th><th>value</th><th>origin</th>'
            f"<th>defined on</th></tr>{rows}</table>")


def message(text: str, ok: bool) -> str:
    kind = "ok" if ok else "error"
    return f'<span class="ecfnb-message-{kind}">{escape(text)}</span>'
