"""HTML for the watch panel, as plain functions (testable without a browser or ipywidgets).

Everything that comes from the server or from a job — paths, reasons, output, the
watcher's error messages — is untrusted and goes through ``html.escape``: an
ipywidgets ``HTML`` value is put into the page as markup, unsanitised.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .._base.html import clock, output_lines_html, state_chip
from .._base.states import CONNECTION_COLOURS
from .._watch.events import AbortEvent, Event

#: Styles for the classes the panel gives its widgets; one <style> per panel.
PANEL_CSS = """<style>
.ecfnb-watch { border: 1px solid #d0d0d0; border-radius: 4px; padding: 4px 6px; }
.ecfnb-watch-alert { background: #c62828; border-radius: 4px; padding: 2px 8px;
  align-items: center; }
.ecfnb-watch-alert .widget-html-content { color: #fff; font-weight: bold; }
.ecfnb-watch-header { align-items: center; }
.ecfnb-watch-hidden .widget-html-content { color: #757575; font-style: italic; }
.ecfnb-watch-event { margin: 0; }
.ecfnb-watch-event .widget-html-content { line-height: 1.4; }
.ecfnb-watch-event summary { cursor: pointer; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.ecfnb-watch-event pre { margin: 2px 0 6px 1.2em; padding: 4px 6px; background: #f6f6f6;
  border: 1px solid #e0e0e0; max-height: 24em; overflow: auto; font-size: 12px;
  line-height: 1.3; white-space: pre; }
.ecfnb-watch-errline { background: #ffebee; color: #b71c1c; font-weight: bold; }
</style>"""


def output_html(text: str) -> str:
    """The output tail as a ``<pre>``, escaped, error lines highlighted."""
    if not text.strip():
        return "<pre>(no output)</pre>"
    return "<pre>" + output_lines_html(text, 'class="ecfnb-watch-errline"') + "</pre>"


def event_html(event: Event) -> str:
    """One line per event; an abort expands (``<details>``) to its output tail."""
    stamp = (f'<span title="{escape(event.time.isoformat())}">{clock(event.time)}</span>')
    path = f"<code>{escape(event.path)}</code>"
    if isinstance(event, AbortEvent):
        reason = escape(event.reason) if event.reason else "<i>no reason given</i>"
        summary = (f"{stamp} {state_chip('aborted')} {path} try {event.try_no} "
                   f"&middot; {reason}")
        return (f"<details><summary>{summary}</summary>{output_html(event.output_tail)}"
                "</details>")
    what = getattr(event, "why", "") or getattr(event, "explanation", "")
    return (f"<div>{stamp} {state_chip(event.kind)} {path} &middot; {escape(what)}</div>")


def alert_html(event: Event, more: int = 0) -> str:
    """The banner's text for the newest abort (or the watcher's own trouble); ``more``
    others not yet dismissed."""
    extra = f" &middot; and {more} more" if more else ""
    if not isinstance(event, AbortEvent):
        return f"&#9888; {escape(event.text().strip())}{extra}"
    return (f"&#9888; New abort: <code style=\"color:inherit\">{escape(event.path)}</code> "
            f"({clock(event.time)}){extra}")


def status_html(watcher: Any) -> str:
    """Connection state, address, paths, last poll and poll count of an AbortWatcher."""
    state = str(watcher.status)
    colour = CONNECTION_COLOURS.get(state, "#757575")
    aborts = sum(isinstance(e, AbortEvent) for e in list(watcher.events))
    paths = " ".join(watcher.paths) or "/"
    message = f": {escape(watcher.message)}" if watcher.message else ""
    return (f'<b>ecFlow abort watcher</b> <code>{escape(watcher.address)}</code> '
            f'watching <code>{escape(paths)}</code> &middot; <span style="color:{colour}">&#9679; '
            f'<b>{escape(state)}</b>{message}</span> &middot; last poll '
            f'{clock(watcher.last_poll)} &middot; {watcher.polls} poll'
            f'{"" if watcher.polls == 1 else "s"} &middot; {aborts} abort'
            f'{"" if aborts == 1 else "s"}')


def hidden_html(count: int, shown: int) -> str:
    return (f"{count} older event{'' if count == 1 else 's'} not shown (newest {shown} are); "
            "all are in <code>panel.watcher.events</code>")
