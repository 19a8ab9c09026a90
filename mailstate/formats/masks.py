"""Where the secret values of a file are: spans per line, found with the file's own parser.

A diff shows two versions of a file and the lines around each change. Masking only the
secret strings the state holds misses the old value (a password that is being replaced)
and every secret the state does not mention (the other lines of a `sasl_passwd`). So a
file's secrets are found by structure: the values of the names the state declares secret
(`FileSecrets.names`), of names that are credentials by their spelling (`*password*`,
`des_key`, Roundcube's `*_pass` at any depth), or every value of the file
(`FileSecrets.everything`, a `secret: true` map: keys stay visible, values and comments
do not). A file that does not parse is masked whole: nothing is shown rather than a guess.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailstate.diagnostics import ParseError
from mailstate.formats import dovecot, lookup, maincf, mastercf
from mailstate.formats._php import Token, tokenize
from mailstate.formats._text import WHITESPACE, body, split_lines
from mailstate.formats.roundcube import PLACEHOLDER, is_secret_key, string_value

MASK = "********"
# key = value names that hold a credential in any file (main.cf, master.cf -o, Dovecot)
SECRET_NAME = re.compile(r"password|passwd|secret|des_key|_key_pass", re.I)
KINDS = ("main.cf", "master.cf", "dovecot", "roundcube", "map", "other")

LineSpans = dict[int, list[tuple[int, int]]]  # line index -> [(start, end)] in its body


@dataclass(frozen=True)
class FileSecrets:
    """Which values of one file are secret: by name (any depth), or every value."""

    kind: str  # one of KINDS
    names: frozenset[str] = frozenset()
    everything: bool = False


def masked_lines(text: str, secrets: FileSecrets) -> list[str]:
    """The lines of `text` (endings kept) with every secret value replaced by MASK."""
    lines, spans = secret_spans(text, secrets)
    return [apply_spans(line, spans.get(i, ())) for i, line in enumerate(lines)]


def secret_spans(text: str, secrets: FileSecrets) -> tuple[list[str], LineSpans]:
    """The lines of `text` and, for the lines holding secrets, the spans to mask (a diff
    masks only the lines it shows: a 50 MB main.cf is not copied)."""
    lines = split_lines(text)
    if secrets.kind == "map" and not (secrets.names or secrets.everything):
        return lines, {}
    if (secrets.kind in ("main.cf", "master.cf", "dovecot") and not secrets.names
            and not SECRET_NAME.search(text)):
        return lines, {}  # nothing to look for: no parse
    try:
        return lines, _FINDERS[secrets.kind](lines, text, secrets)
    except ParseError:
        return lines, {i: [(0, len(body(line)))] for i, line in enumerate(lines)
                       if body(line)}


def apply_spans(line: str, spans: Iterable[tuple[int, int]]) -> str:
    """`line` with the given spans of its body replaced by MASK (merged when they touch)."""
    if not spans:
        return line
    text = body(line)
    merged: list[list[int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + MASK + text[end:]
    return text + line[len(body(line)):]


def _secret_name(name: str, secrets: FileSecrets) -> bool:
    return name in secrets.names or bool(SECRET_NAME.search(name))


def _rest_of(lines: list[str], first: int, column: int, end: int, out: LineSpans) -> None:
    """Mask from `column` of line `first` to the end of the logical line (its
    continuation lines whole, indentation kept)."""
    out.setdefault(first, []).append((column, len(body(lines[first]))))
    for i in range(first + 1, end):
        text = body(lines[i])
        indent = len(text) - len(text.lstrip(WHITESPACE))
        if text.strip(WHITESPACE) and not text.lstrip(WHITESPACE).startswith("#"):
            out.setdefault(i, []).append((indent, len(text)))


def _main_cf(lines: list[str], text: str, secrets: FileSecrets) -> LineSpans:
    out: LineSpans = {}
    for d in maincf.scan(lines, "main.cf"):
        if _secret_name(d.name, secrets):
            head = body(lines[d.start])
            column = head.find("=") + 1
            column += len(head[column:]) - len(head[column:].lstrip(WHITESPACE))
            _rest_of(lines, d.start, column, d.end, out)
    return out


def _master_cf(lines: list[str], text: str, secrets: FileSecrets) -> LineSpans:
    out: LineSpans = {}
    for entry in mastercf.scan(lines, "master.cf"):
        for option in entry.options:
            if _secret_name(option.key, secrets):
                arg = option.arg
                start = arg.start + arg.text.find("=") + 1
                out.setdefault(arg.line, []).append((start, arg.end))
    return out


def _dovecot(lines: list[str], text: str, secrets: FileSecrets) -> LineSpans:
    out: LineSpans = {}
    for item in dovecot.parse_file(lines, "dovecot.conf"):
        if item.kind == "setting" and _secret_name(item.key, secrets):
            _rest_of(lines, item.start, len(item.prefix), item.end, out)
    return out


def _map(lines: list[str], text: str, secrets: FileSecrets) -> LineSpans:
    if secrets.everything:
        return _every_value(lines)
    out: LineSpans = {}
    names = {n.casefold() for n in secrets.names}
    for e in lookup.scan(lines, "map"):
        if e.key.casefold() in names:
            _rest_of(lines, e.start, len(e.key) + len(e.separator), e.end, out)
    return out


def _every_value(lines: list[str]) -> LineSpans:
    """A secret map, line by line (no parse needed): keys stay, everything else goes."""
    out: LineSpans = {}
    for i, line in enumerate(lines):
        text = body(line)
        stripped = text.lstrip(WHITESPACE)
        if not stripped:
            continue
        indent = len(text) - len(stripped)
        if stripped.startswith("#"):
            out[i] = [(indent + 1, len(text))] if len(stripped) > 1 else []
        elif indent:
            out[i] = [(indent, len(text))]
        else:
            key = len(text.split(None, 1)[0])
            value = len(text) - len(text[key:].lstrip(WHITESPACE))
            out[i] = [(value, len(text))] if value < len(text) else []
    return out


def _roundcube(lines: list[str], text: str, secrets: FileSecrets) -> LineSpans:
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    out: LineSpans = {}
    tokens = tokenize(text, "config.inc.php")
    for n, tok in enumerate(tokens):
        if tok.kind == "word" and tok.text.startswith("$"):
            for secret in _secret_tokens(tokens, n, secrets):
                _token_spans(secret, starts, lines, out)
    return out


def _secret_tokens(tokens: list[Token], n: int, secrets: FileSecrets) -> Iterable[Token]:
    """Value tokens of an assignment `$var['a']['b'] = EXPR;` starting at token `n` that
    sit below a secret key (inside `if` blocks too: assignments are found anywhere)."""
    i, secret = n + 1, False
    while i + 2 < len(tokens) and tokens[i].text == "[" and tokens[i + 2].text == "]":
        key = string_value(tokens[i + 1].text) if tokens[i + 1].kind == "str" else None
        secret = secret or _secret_key(key, secrets)
        i += 3
    if i >= len(tokens) or tokens[i].text != "=":
        return
    end = i + 1
    while end < len(tokens) and not (tokens[end].text == ";"
                                     and tokens[end].depth == tokens[n].depth):
        end += 1
    yield from _rhs_secrets(tokens[i + 1:end], secret, secrets)


def _secret_key(key: str | None, secrets: FileSecrets) -> bool:
    return key is not None and (key in secrets.names or is_secret_key(key))


def _rhs_secrets(tokens: list[Token], secret: bool, secrets: FileSecrets) -> Iterable[Token]:
    stack = [secret]  # is the current array below a secret key?
    pending = False  # the key just read (`'k' =>`) is a secret key
    for n, tok in enumerate(tokens):
        following = tokens[n + 1].text if n + 1 < len(tokens) else ""
        if tok.text in ("[", "("):
            stack.append(stack[-1] or pending)
            pending = False
        elif tok.text in ("]", ")"):
            if len(stack) > 1:
                stack.pop()
            pending = False
        elif tok.text in (",", ";"):
            pending = False
        elif following == "=>":
            key = string_value(tok.text) if tok.kind == "str" else tok.text
            pending = _secret_key(key, secrets)
        elif tok.kind in ("str", "heredoc", "word") and (stack[-1] or pending):
            if tok.kind == "str" and PLACEHOLDER.fullmatch(string_value(tok.text) or ""):
                continue  # '%p' is Roundcube's placeholder for the user's password
            if tok.text.lower() not in ("array", "true", "false", "null"):
                yield tok


def _token_spans(tok: Token, starts: list[int], lines: list[str], out: LineSpans) -> None:
    first = bisect.bisect_right(starts, tok.start) - 1
    last = bisect.bisect_right(starts, max(tok.end - 1, tok.start)) - 1
    for i in range(first, last + 1):
        begin = max(tok.start - starts[i], 0)
        end = min(tok.end - starts[i], len(body(lines[i])))
        out.setdefault(i, []).append((begin, end))


def _nothing(lines: list[str], text: str, secrets: FileSecrets) -> LineSpans:
    return {}


_FINDERS = {"main.cf": _main_cf, "master.cf": _master_cf, "dovecot": _dovecot,
            "roundcube": _roundcube, "map": _map, "other": _nothing}
