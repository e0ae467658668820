"""Mailing watcher events: a plain-text body with the output tail, a subject that names
the server and the path, through any SMTP server (``host:port``, no TLS/auth by default,
as on a site's internal relay)."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

from .watch_events import AbortEvent, Event


def event_message(event: Event, to: Sequence[str], sender: str) -> EmailMessage:
    msg = EmailMessage()
    what = "aborted" if isinstance(event, AbortEvent) else "late"
    msg["Subject"] = f"[ecFlow {event.server}] {what}: {event.path}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg.set_content(event.text())
    return msg


def send_event(event: Event, to: Sequence[str], smtp: str, sender: str = "ecfnb@localhost",
               timeout: float = 10.0) -> None:
    host, _, port = smtp.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bad SMTP address {smtp!r}: give HOST:PORT, e.g. localhost:25")
    with smtplib.SMTP(host, int(port), timeout=timeout) as client:
        client.send_message(event_message(event, to, sender))
