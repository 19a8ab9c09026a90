"""Dotted names for places in a state: `postfix.main.smtpd_tls_security_level`.

Used as the keys of `ResolvedState.sources`, in error messages and in `mailstate show`.
A part containing `.`, `"`, `[` or `]` (map paths, domain keys) is written in double
quotes: `postfix.maps."/etc/postfix/tls_policy".entries."example.com"`. List items are
`[0]`. `split_dotted` reverses `dotted`.
"""

from __future__ import annotations

import json
import re

_PLAIN = re.compile(r'[^."\[\]]+')


def dotted(path: tuple[str | int, ...] | list[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN.fullmatch(part):
            text += ("." if text else "") + part
        else:
            text += ("." if text else "") + json.dumps(part)
    return text


def split_dotted(text: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    i = 0
    while i < len(text):
        if text[i] == ".":
            i += 1
        elif text[i] == '"':
            value, end = json.JSONDecoder().raw_decode(text, i)
            parts.append(value)
            i = end
        elif text[i] == "[":
            end = text.index("]", i)
            parts.append(int(text[i + 1:end]))
            i = end + 1
        else:
            match = _PLAIN.match(text, i)
            assert match is not None
            parts.append(match.group())
            i = match.end()
    return tuple(parts)
