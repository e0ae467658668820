"""The HTML every surface shares: state chips in ecflow_ui's colours, the static
summaries shown at the end of a notebook cell (a Server, a NodeInfo), job output lines
with errors marked, and the one clock format. Pure functions over plain data (duck
typed: this leaf imports nothing of ecfnb above it); everything from the server or a
job is escaped here."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from .states import state_colour


def clock(when: datetime | None) -> str:
    """``14:23:22 UTC`` (every time ecfnb shows is UTC), or ``never``."""
    return f"{when:%H:%M:%S} UTC" if when else "never"


def state_chip(state: str) -> str:
    colour = state_colour(state)
    return (f'<span style="background:{colour};color:#000;padding:0 .4em;'
            f'border-radius:3px">{html.escape(state)}</span>')


def server_html(server: Any) -> str:
    """Address, connection, state and suites, without making a request if never synced."""
    esc = html.escape
    if not server.connected or server.last_sync is None:
        return f"<b>ecFlow server</b> <code>{esc(server.address)}</code> (not connected)"
    root = server.node("/", detail=False)
    suites = ", ".join(esc(name) for name in root.child_names) or "no suites"
    when = f"{server.last_sync:%H:%M:%S} UTC"
    return (f"<b>ecFlow server</b> <code>{esc(server.address)}</code> {state_chip(root.state)}"
            f" &middot; suites: {suites} &middot; synced {when}")


def node_html(info: Any) -> str:
    """State chip, kind, path, since, try and abort reason; every server string escaped."""
    esc = html.escape
    since = f" since {info.since:%Y-%m-%d %H:%M:%S} UTC" if info.since else ""
    extra = f", try {info.try_no}" if info.try_no else ""
    if info.aborted_reason:
        extra += f", reason: {esc(info.aborted_reason)}"
    return (f"{state_chip(info.state)} <b>{esc(info.kind)}</b> <code>{esc(info.path)}</code>"
            f"{since}{extra}")


#: Output lines worth the eye, case-insensitive; ``exit N`` only for a non-zero N.
ERROR_LINE = re.compile(
    r"error|abort|traceback|exception|fatal|fail|killed|segmentation fault|core dumped"
    r"|\bexit(?:\s+code)?\s*[:=]?\s*[1-9]", re.IGNORECASE)
ERROR_STYLE = "background:#ffebee;color:#b71c1c;font-weight:bold"


def output_lines_html(text: str, highlight: str = f'style="{ERROR_STYLE}"') -> str:
    """Job output as escaped lines, error lines wrapped in ``<span {highlight}>``. Job
    output is untrusted: every line goes through ``html.escape``."""
    lines = text.rstrip("\n").split("\n")
    return "\n".join(f"<span {highlight}>{html.escape(line)}</span>"
                     if ERROR_LINE.search(line) else html.escape(line) for line in lines)
