"""Making server text safe for where it goes: a terminal, Markdown, a UTF-8 editor.

Labels, abort reasons and variable values are written by jobs and by anyone with
write access to the server: they can hold ANSI and OSC escapes (measured:
``ecflow_client --abort=$'\\e]0;pwned\\a\\e[2J'`` reached ``ecfnb watch``'s terminal
and retitled it), backticks that break out of a Markdown code span, and bytes that
are not UTF-8. Every text ecfnb *generates* from such values goes through here;
job outputs are the job's own bytes and stay byte-exact.
"""

from __future__ import annotations

import html
import re

#: C0 controls but tab and newline, DEL, and the C1 range (U+0080-U+009F, where
#: a terminal also reads CSI and OSC).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN`` (``\\e[2J`` becomes the
    four characters ``\\x1b[2J``): it cannot drive the terminal that shows it."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def one_line(text: str) -> str:
    """``printable`` with newlines shown as ``\\n``: for a field on one line."""
    return printable(text).replace("\n", "\\n").replace("\t", "\\t")


def md_code(text: str) -> str:
    """``text`` as a Markdown code span that nothing inside can close: a fence longer
    than any run of backticks in it (CommonMark), so ``x` <img ...> `y`` stays code."""
    text = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_text(text: str) -> str:
    """``text`` as plain Markdown inline text: HTML escaped (Markdown passes HTML through)
    and Markdown punctuation backslashed, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line(text), quote=False))


def md_fence(text: str) -> str:
    """A fence for a fenced code block holding ``text``: longer than any backtick run
    inside it, at least three."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    return "`" * (longest + 1)


def to_utf8(data: bytes) -> bytes:
    """``data`` as valid UTF-8: unchanged when it already is, else with each undecodable
    byte replaced by U+FFFD (what the explorer shows for the same file)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace").encode("utf-8")
    return data
