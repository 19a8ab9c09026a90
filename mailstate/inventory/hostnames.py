"""Host keys as Ansible reads them: `name`, `name:port`, `[v6]:port`, ranges `web[01:20:2]`.

`parse_address` follows Ansible's grammar (ansible.parsing.utils.addresses): an IPv4,
IPv6 or DNS-like name, each of which may hold `[a:b(:step)]` ranges, with an optional
`:port` (brackets required for IPv6). `expand` expands ranges like Ansible (numbers with
zero padding, single letters from a-zA-Z, a step), but counts first: a pattern that
would make more than MAX_RANGE_HOSTS names is refused instead of filling memory.
"""

from __future__ import annotations

import functools
import re
import string

MAX_RANGE_HOSTS = 100_000

_NUM_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_HEX_RANGE = r"\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_V4_PART = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_V6_PART = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_LABEL = rf"(?:\w|{_ALNUM_RANGE})(?:[\w-]|{_ALNUM_RANGE})*(?<![_-])"

_IPV6_FORMS = [
        rf"(?:{_V6_PART}:){{7}}{_V6_PART}",
        rf"(?:{_V6_PART}:){{1,6}}:",
        rf"(?:{_V6_PART}:)(?::{_V6_PART}){{1,6}}",
        rf"(?:{_V6_PART}:){{2}}(?::{_V6_PART}){{1,5}}",
        rf"(?:{_V6_PART}:){{3}}(?::{_V6_PART}){{1,4}}",
        rf"(?:{_V6_PART}:){{4}}(?::{_V6_PART}){{1,3}}",
        rf"(?:{_V6_PART}:){{5}}(?::{_V6_PART}){{1,2}}",
        rf"(?:{_V6_PART}:){{6}}(?::{_V6_PART})",
        rf":(?::{_V6_PART}){{1,6}}",
        rf"{_V6_PART}?::",
        rf"(?:0:){{6}}(?:{_V4_PART}\.){{3}}{_V4_PART}",
        rf"::(?:ffff:)?(?:{_V4_PART}\.){{3}}{_V4_PART}",
        rf"(?:0:){{5}}ffff:(?:{_V4_PART}\.){{3}}{_V4_PART}",
]


@functools.cache
def _patterns() -> dict[str, re.Pattern[str]]:
    """Compiled on first use: most runs never parse a host key with a port or range."""
    return {
        "bracketed_port": re.compile(r"\[(.+)\]:([0-9]+)"),
        "host_port": re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)"),
        "ipv4": re.compile(rf"(?:{_V4_PART}\.){{3}}{_V4_PART}", re.I),
        "ipv6": re.compile("(?:" + "|".join(_IPV6_FORMS) + ")", re.I),
        "hostname": re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.I | re.UNICODE),
    }

MAX_PATTERN = 4096  # longer host keys or patterns are refused before any regex runs


class RangeError(ValueError):
    """A host range Ansible would refuse, or one that expands to too many names."""


def parse_address(text: str, allow_ranges: bool = True) -> tuple[str, int | None] | None:
    """(host, port) when `text` is a host with an optional port, else None."""
    if len(text) > MAX_PATTERN:
        return None
    port = None
    compiled = _patterns()
    for pattern in (compiled["bracketed_port"], compiled["host_port"]):
        match = pattern.fullmatch(text)
        if match:
            text, port = match.group(1), int(match.group(2))
    if not any(compiled[k].fullmatch(text) for k in ("ipv4", "ipv6", "hostname")):
        return None
    if not allow_ranges and "[" in text:
        return None
    return text, port


def _bounds(body: str) -> tuple[list[str], str]:
    """The items of one range body `beg:end[:step]` and the zero-fill width format."""
    parts = body.split(":")
    if len(parts) not in (2, 3):
        raise RangeError("host range must be begin:end or begin:end:step")
    beg, end = parts[0] or "0", parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not end:
        raise RangeError("host range must specify end value")
    width = 0
    if beg[0] == "0" and len(beg) > 1:
        if len(beg) != len(end):
            raise RangeError("host range must specify equal-length begin and end formats")
        width = len(beg)
    try:
        step = int(step_text)
    except ValueError:
        raise RangeError(f"host range step {step_text!r} is not a number") from None
    if step <= 0:
        raise RangeError("host range step must be a positive number")
    letters = string.ascii_letters
    if beg in letters and end in letters and len(beg) == len(end) == 1:
        i, j = letters.index(beg), letters.index(end)
        if i > j:
            raise RangeError("host range must have begin <= end")
        return list(letters[i:j + 1:step]), ""
    if not (beg.isdigit() and end.isdigit()):
        raise RangeError(f"host range [{body}] is neither numbers nor single letters")
    first, last = int(beg), int(end)
    count = max(0, (last - first) // step + 1)
    if count > MAX_RANGE_HOSTS:
        raise RangeError(f"host range [{body}] makes {count} names; at most "
                         f"{MAX_RANGE_HOSTS} are allowed")
    return [str(n).zfill(width) for n in range(first, last + 1, step)], ""


def expand(pattern: str) -> list[str]:
    """Every host name a (range) pattern stands for, in Ansible's order."""
    if "[" not in pattern:
        return [pattern]
    pieces: list[list[str]] = []
    rest = pattern
    total = 1
    while "[" in rest:
        head, _, after = rest.partition("[")
        body, closed, tail = after.partition("]")
        if not closed:
            raise RangeError("host range is missing its closing ]")
        items, _ = _bounds(body)
        pieces.append([head])
        pieces.append(items)
        total *= max(1, len(items))
        if total > MAX_RANGE_HOSTS:
            raise RangeError(f"host pattern {pattern[:80]!r} makes more than "
                             f"{MAX_RANGE_HOSTS} names")
        rest = tail
    pieces.append([rest])
    names = [""]
    for options in pieces:
        names = [prefix + option for prefix in names for option in options]
    return names


def host_key(text: str) -> tuple[list[str], int | None]:
    """A host entry as written in an inventory: the names it stands for and a port."""
    if ":" not in text and "[" not in text:
        return [text], None  # the common case, without any regex
    parsed = parse_address(text, allow_ranges=True)
    name, port = parsed if parsed is not None else (text, None)
    return expand(name), port


# -- what may reach ssh ------------------------------------------------------------
_SAFE_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252})")
_SAFE_V6 = re.compile(r"[0-9A-Fa-f:.]{2,45}(?:%[A-Za-z0-9_.-]{1,32})?")
_SAFE_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?")


def unsafe_address(address: str) -> str | None:
    """Why `address` cannot be given to ssh (None when it is a plain name or IP).

    Only letters, digits, `.`, `-`, `_` (and `:`/`%zone` in IPv6) pass: nothing a shell
    or an ssh_config token (`Match exec ... %h`) could act on, no leading `-`."""
    if _SAFE_HOST.fullmatch(address) or (":" in address and _SAFE_V6.fullmatch(address)):
        return None
    bad = sorted({c for c in address if not (c.isalnum() and c.isascii()) and c not in "._-:"})
    if bad:
        return "it contains " + " ".join(repr(c) for c in bad[:5])
    if address.startswith("-"):
        return "it starts with '-'"
    return "it is not a host name or IP address"


def unsafe_user(user: str) -> str | None:
    if _SAFE_USER.fullmatch(user):
        return None
    return "a user name has letters, digits, '.', '_', '-' or '@' only"


def is_ip(name: str) -> bool:
    """An IPv4 or IPv6 address (Ansible keeps those whole as inventory_hostname_short)."""
    return bool(_patterns()["ipv4"].fullmatch(name) or _patterns()["ipv6"].fullmatch(name))
