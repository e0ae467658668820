"""How to reach one ecFlow server: its address, and the settings every request uses —
SSL, the user, its password file, the timeout — for the binding, for ``ecflow_client``
subprocesses and for ecfnb's helper processes alike.

Why here, apart from the view (``server.py``): a mount's daemon, the watcher's and the
explorer's pollers and every ``ecflow_client --file`` must reach the server exactly as
the notebook does; one ``Connection`` says how, as arguments or as the environment
variables ecFlow reads (ECF_SSL, ECF_USER, ECF_CUSTOM_PASSWD), and turns ecFlow's
error texts into exceptions that name the cause (measured on 5.9.2 and 5.13.8):

- a client without SSL to an SSL server reads "EOF(Server did not reply or mixing ssl
  and non-ssl)"; one with SSL to a plain server "handshake: error(wrong version
  number) ... possibly non-ssl server"; a missing certificate "Expected to find the
  self signed certificate file(CRT) server.crt *OR* <host>.<port>.crt in
  $HOME/.ecflowrc/ssl";
- a wrong password and an unknown user read the same ("User 'x' is not allowed any
  access"); a read-only user's write "User x has no *write* access";
- the binding reads the password file at its first request and keeps it, so that
  request runs with the settings in the environment (under a lock);
- the C++ client writes connection errors straight to fd 2: calls run with fd 2
  pointed at a scratch file whose text goes into the exception instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._base.child import ForkSafeLock
from ..errors import (
    AccessDenied,
    AuthenticationFailed,
    EcflowMissing,
    NodeNotFound,
    ServerError,
    ServerUnreachable,
    SSLMismatch,
)

try:
    import ecflow
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise EcflowMissing(str(exc)) from None

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 3141
_ENV_LOCK = ForkSafeLock()  # renewed in a forked poller
#: What ecFlow reads from the environment for these settings.
SETTINGS_ENV = ("ECF_SSL", "ECF_USER", "ECF_CUSTOM_PASSWD", "ECF_PASSWD")


#: ecflow_server refuses any other port (``ecflow_server --help``: "Allowed range 1024-49151").
PORT_RANGE = (1024, 49151)


def check_port(port: int | str | None, what: str = "ecFlow port") -> int:
    """``port`` as a number an ecflow_server can listen on, else ValueError saying so."""
    try:
        number = int(str(port).strip())
    except (TypeError, ValueError):
        raise ValueError(f"bad {what} {port!r}: give a number between {PORT_RANGE[0]} and "
                         f"{PORT_RANGE[1]}, e.g. 'localhost:3141'") from None
    if not PORT_RANGE[0] <= number <= PORT_RANGE[1]:
        raise ValueError(f"bad {what} {number}: ecflow_server only listens on ports "
                         f"{PORT_RANGE[0]}-{PORT_RANGE[1]}")
    return number


def parse_address(address: str | None = None, port: int | str | None = None
                  ) -> tuple[str, int]:
    """``host:port``, ``[ipv6]:port``, ``host`` + port, or nothing (ECF_HOST/ECF_PORT,
    then localhost:3141). A mistake (an empty host or port, a URL, a port no ecFlow
    server can use) is a ValueError that says what was wrong."""
    if address is not None and not isinstance(address, str):
        raise TypeError(f"an ecFlow address is a string like 'localhost:3141', not "
                        f"{address!r}")
    host = address.strip() if address else address
    if host and "://" in host:
        raise ValueError(f"bad ecFlow address {address!r}: give HOST:PORT without a scheme, "
                         "e.g. 'localhost:3141' (ecFlow does not speak http)")
    if host and host.startswith("["):  # [::1]:3141
        found = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\](?::(.*))?", host)
        if found is None:
            raise ValueError(f"bad ecFlow address {address!r}: write an IPv6 address as "
                             "'[::1]:3141'")
        host, given = found.group(1), found.group(2)
        if given is not None:
            if port is not None:
                raise ValueError(f"ecFlow address {address!r} has a port: do not also pass "
                                 f"port={port!r}")
            port = _port_part(given, address)
    elif host and host.count(":") == 1:
        host, _, given = host.partition(":")
        if not host:
            raise ValueError(f"bad ecFlow address {address!r}: the host is missing, e.g. "
                             "'localhost:3141'")
        if port is not None:
            raise ValueError(f"ecFlow address {address!r} has a port: do not also pass "
                             f"port={port!r}")
        port = _port_part(given, address)
    elif address is not None and not host:
        raise ValueError(f"bad ecFlow address {address!r}: give HOST:PORT, e.g. "
                         "'localhost:3141' (or None for ECF_HOST/ECF_PORT)")
    host = host or os.environ.get("ECF_HOST") or DEFAULT_HOST
    if port is None or port == "":
        port = os.environ.get("ECF_PORT") or DEFAULT_PORT
    return host, check_port(port)


def _port_part(given: str, address: str) -> int:
    if not given.strip():
        raise ValueError(f"bad ecFlow address {address!r}: the port is missing after ':', "
                         "e.g. 'localhost:3141'")
    return check_port(given)

@dataclass(frozen=True)
class Connection:
    """Where a server is and how to talk to it. ``Connection.of`` fills what is not given
    from the environment (ECF_HOST/ECF_PORT, ECF_SSL, ECF_USER, ECF_CUSTOM_PASSWD or
    ECF_PASSWD), so that the environment stays the default and arguments win."""

    host: str
    port: int
    timeout: float = 2.0
    ssl: bool = False
    user: str | None = None  # None: the login name
    password_file: str | None = None

    @classmethod
    def of(cls, host: str | None = None, port: int | str | None = None, *,
           timeout: float = 2.0, ssl: bool | None = None, user: str | None = None,
           password_file: str | os.PathLike | None = None) -> Connection:
        host, number = parse_address(host, port)
        if ssl is None:  # ecFlow: set at all means SSL ('1', or '<host>.<port>' certificates)
            ssl = "ECF_SSL" in os.environ
        user = user or os.environ.get("ECF_USER") or None
        password = password_file or os.environ.get("ECF_CUSTOM_PASSWD") or \
            os.environ.get("ECF_PASSWD") or None
        if password_file is not None and not os.path.isfile(password_file):
            raise ValueError(f"password file {os.fspath(password_file)!r} does not exist: "
                             "it holds lines 'USER HOST PORT PASSWORD' (mode 600)")
        return cls(host, number, timeout, bool(ssl), user,
                   os.fspath(password) if password else None)

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def user_name(self) -> str:
        """The user the server sees."""
        return self.user or _login_name()

    def environment(self) -> dict[str, str | None]:
        """The variables a process needs to reach the server as this connection does
        (None: remove it): what ecfnb's helper processes and ecflow_client get."""
        # A site's ECF_SSL=<host>.<port> (server-specific certificates) is kept as it is.
        ssl = (os.environ.get("ECF_SSL") or "1") if self.ssl else None
        env: dict[str, str | None] = {"ECF_HOST": self.host, "ECF_PORT": str(self.port),
                                      "ECF_SSL": ssl,
                                      "ECF_CONNECT_TIMEOUT": str(max(1, round(self.timeout)))}
        if self.user:
            env["ECF_USER"] = self.user
        if self.password_file:
            env["ECF_CUSTOM_PASSWD"] = self.password_file
        return env

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """A whole environment for a subprocess: ``base`` (this process's) with the
        connection's settings, and no ECF_NAME (inside a job it would make every
        command a child command)."""
        env = dict(os.environ if base is None else base)
        env.pop("ECF_NAME", None)
        for name, value in self.environment().items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def client_command(self, *args: str) -> tuple[list[str], dict[str, str]]:
        """``ecflow_client`` with these settings: the command line and its environment."""
        exe = shutil.which("ecflow_client")
        if exe is None:
            raise EcflowMissing("the ecflow_client command is not on PATH")
        return [exe, "--host", self.host, "--port", str(self.port), *args], self.child_env()

    @contextlib.contextmanager
    def settings_in_environment(self) -> Iterator[None]:
        """The settings in ``os.environ`` for the duration (under a lock): the binding
        reads ECF_CONNECT_TIMEOUT when a Client is made and the password file at its
        first request."""
        with _ENV_LOCK:
            saved = {name: os.environ.get(name) for name in
                     (*SETTINGS_ENV, "ECF_CONNECT_TIMEOUT")}
            try:
                for name, value in self.environment().items():
                    if name in ("ECF_HOST", "ECF_PORT"):
                        continue
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                yield
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

    def new_client(self) -> Any:
        """A binding Client with these settings (call inside ``settings_in_environment``):
        one connection attempt, so that no call waits longer than the timeout."""
        client = ecflow.Client(self.host, str(self.port))
        client.set_connection_attempts(1)
        client.set_retry_connection_period(1)
        if self.user:
            client.set_user_name(self.user)
        if self.ssl:
            client.enable_ssl()
        elif hasattr(client, "disable_ssl"):
            client.disable_ssl()
        return client

    def error(self, what: str, text: str) -> Exception:
        """The ecfnb exception for a failed request's error text: SSLMismatch,
        ServerUnreachable, NodeNotFound, AuthenticationFailed (no access at all:
        password or user), AccessDenied (read-only in the white list) or ServerError."""
        first = _first_line(text)
        if "mixing ssl and non-ssl" in text:
            return SSLMismatch(self.address, "the server speaks SSL (or did not answer): "
                               "pass ssl=True (--ssl), or set ECF_SSL=1")
        if re.search(r"handshake|non-ssl server|wrong version number", text):
            return SSLMismatch(self.address, "the server does not speak SSL: pass "
                               "ssl=False, or unset ECF_SSL")
        found = re.search(r"Expected to find the self signed certificate[^\n]*", text)
        if found:
            return SSLMismatch(self.address, "the server's certificate is missing here: "
                               f"{found.group(0).strip()} (ecFlow looks in "
                               "$HOME/.ecflowrc/ssl)")
        if re.search(r"Failed to connect|Connection error|timed out|Connection refused|"
                     r"Is the server running|Host not found|resolve", text):
            return ServerUnreachable(self.address, connection_reason(text, self.host,
                                                                      self.port))
        found = re.search(r"Cannot find node at path '([^']*)'|[Cc]ould not find [^']*'([^']*)'",
                          text)
        if found:
            return NodeNotFound(found.group(1) or found.group(2), self.address)
        refused = re.search(r"User '?([^' ]+)'? is not allowed any access", text)
        if refused or "Invalid custom user" in text:
            user = refused.group(1) if refused else self.user_name
            return AuthenticationFailed(self.address, what, user, self.password_file,
                                        client_side=refused is None)
        if re.search(r"write\*? access|authenticat|[Aa]uthoris", text):
            return AccessDenied(what, first)
        return ServerError(f"{what} failed on {self.address}: {first}")


@contextlib.contextmanager
def captured_fd(fd: int) -> Iterator[list[str]]:
    """Point ``fd`` at a scratch file for the duration; yields a list that receives its text.

    Safe with threads because the ecflow binding holds the GIL for the whole call."""
    sink: list[str] = []
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), fd)
        try:
            yield sink
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            scratch.seek(0)
            sink.append(scratch.read().decode(errors="replace"))


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets (``[::1]:3141``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^\[[\d:. ]+\]\s*", "", line).strip()
        if line:
            return line[:300]
    return text.strip()[:300]


def server_reply(stderr: bytes) -> str:
    """The server's own words in ``ecflow_client``'s error output ('Server reply: ...')."""
    text = stderr.decode(errors="replace")
    found = re.search(r"Server reply:\s*(.+)", text)
    return (found.group(1) if found else _first_line(text)).strip()


def connection_reason(text: str, host: str = "", port: int = 0) -> str:
    """What a connection failure means, in words: the C++ text often says only "Failed
    to connect", so the name is looked up here, and a call that waited out its timeout
    is a server that does not answer (hung), one that failed at once a closed port."""
    if re.search(r"Host not found|resolve|Name or service not known|No address", text) or \
            (host and not _resolves(host, port)):
        return f"the host name {host!r} does not resolve (check its spelling or the DNS)"
    if "timed out" in text or "no answer" in text:
        return "no answer within the timeout; the server may be hung or overloaded"
    return "connection refused: no ecFlow server listens on that port"


def _resolves(host: str, port: int) -> bool:
    import socket

    try:
        socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    except OSError:
        return True  # not a name problem
    return True


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container)
        return str(os.getuid())
