"""Mailing watcher events: a plain-text body with the output tail, a subject that names
the server and the path, through any SMTP server (``host:port``, no TLS/auth by default,
as on a site's internal relay)."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

from .._base.text import one_line
from .events import Event


def event_message(event: Event, to: Sequence[str], sender: str) -> EmailMessage:
    msg = EmailMessage()
    what = {"abort": "aborted", "zombie": "zombie", "watcher": "WATCHER PROBLEM",
            "forecast": f"forecast {getattr(event, 'verdict', '')}"}.get(event.kind, "late")
    msg["Subject"] = one_line(f"[ecFlow {event.server}] {what}: {event.path}")
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg.set_content(event.text())
    return msg


def smtp_address(smtp: str) -> tuple[str, int]:
    """``HOST:PORT`` of a mail server, or ValueError saying how to write it."""
    host, _, port = str(smtp).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad SMTP address {smtp!r}: give HOST:PORT, e.g. localhost:25")
    return host, int(port)


def check_smtp(smtp: str, timeout: float = 10.0) -> None:
    """Connect and say EHLO, so that a wrong mail server is an error when the watcher
    starts rather than at the first abort (when the mail that matters is lost)."""
    host, port = smtp_address(smtp)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as client:
            code, reply = client.ehlo()
    except (OSError, smtplib.SMTPException) as exc:
        raise ValueError(f"cannot reach the SMTP server {smtp}: {exc}. Check --smtp HOST:PORT "
                         "(the site's mail relay)") from None
    if not 200 <= code < 300:
        raise ValueError(f"the SMTP server {smtp} refused EHLO: {code} "
                         f"{reply.decode(errors='replace')}")


def send_event(event: Event, to: Sequence[str], smtp: str, sender: str = "ecfnb@localhost",
               timeout: float = 10.0) -> None:
    host, port = smtp_address(smtp)
    with smtplib.SMTP(host, port, timeout=timeout) as client:
        client.send_message(event_message(event, to, sender))
