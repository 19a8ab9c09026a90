"""Exact unified diffs of real file bytes, with secrets masked on both sides.

Lines are the formats' lines (split at `\\n` only, decoded with surrogateescape), so every
byte (CRLF, non-UTF-8, a missing final newline) shows up as it is. Masking happens here,
once, before any view sees a diff, and it is structural: each side of the diff is masked
with its own file's parser (`formats.masks`), so the old value of a secret, the context
lines of a secret map and values the state never mentions are hidden as well as the new
ones. The state's secret strings and credential-looking `key = value` lines are masked on
top of that, anywhere. Control characters of a live file are shown escaped (`\\x1b`), so
a file cannot drive the terminal that reads the plan.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable

from mailstate.engine.memo import SharedMemo
from mailstate.formats._text import body, decode
from mailstate.formats.masks import MASK, FileSecrets, LineSpans, apply_spans, secret_spans

__all__ = ["MASK", "kind_of", "mask_line", "unified_diff"]

_CACHE: SharedMemo[str] = SharedMemo(512)
NO_EOL = "\\ No newline at end of file\n"

# key = value style lines whose value is a secret (main.cf, dovecot, maps)
_SECRET_KV = re.compile(
    r"^(?P<key>\s*[\w.-]*(?:password|passwd|secret|des_key|_key_pass)[\w.-]*\s*=\s*)(?P<value>.+?)(?P<end>\s*)$",
    re.IGNORECASE,
)
# Roundcube: $config['des_key'] = '...';
_SECRET_PHP = re.compile(
    r"""^(?P<key>\s*\$config\s*\[\s*['"][^'"]*(?:password|pass|secret|des_key|key)['"]\s*\]\s*=\s*)"""
    r"""(?P<value>.+?)(?P<end>;\s*)$""",
    re.IGNORECASE,
)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def kind_of(path: str) -> str:
    """The file kind of a managed path, for masking when the caller names none."""
    if path.endswith("/postfix/main.cf"):
        return "main.cf"
    if path.endswith("/postfix/master.cf"):
        return "master.cf"
    if path.startswith("/etc/dovecot/"):
        return "dovecot"
    if path.endswith(".php"):
        return "roundcube"
    return "other"


def mask_line(line: str, secrets: Iterable[str] = ()) -> str:
    """Hide secret values in one line; keep the key so the reader knows what changed."""
    return _mask_line(line, _longest_first(secrets))


def _longest_first(secrets: Iterable[str]) -> list[str]:
    """The order secrets are replaced in: a longer one before any it contains."""
    return sorted((s for s in secrets if s), key=len, reverse=True)


def _mask_line(line: str, ordered: list[str]) -> str:
    text = line.rstrip("\r\n")
    ending = line[len(text):]
    for value in ordered:
        text = text.replace(value, MASK)
    for pattern in (_SECRET_PHP, _SECRET_KV):
        m = pattern.match(text)
        if m:
            text = m.group("key") + MASK + m.group("end")
            break
    return text + ending


def _visible(line: str) -> str:
    """Control characters of a line shown as escapes; its line ending kept."""
    text = body(line)
    if not _CONTROL.search(text):
        return line
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                         else f"\\u{ord(m.group()):04x}", text)
    return shown + line[len(text):]


def unified_diff(path: str, before: bytes | None, after: bytes | None,
                 secrets: Iterable[str] = (), context: int = 3,
                 file_secrets: FileSecrets | None = None) -> str:
    """A unified diff of two versions of `path`; `None` means the file does not exist.

    `file_secrets` says which values of this file are secret (see
    `MailState.file_secrets`); without it, the kind is taken from the path and only
    credential-looking names are masked structurally.

    Hosts of a fleet mostly show the same change of the same file: each distinct diff is
    computed once (keyed by digests, so the cache holds no file contents).
    """
    declared = file_secrets or FileSecrets(kind_of(path))
    key = (path, _digest(before), _digest(after), tuple(sorted(s for s in secrets if s)),
           context, declared)
    return _CACHE.get(key, lambda: _unified_diff(path, before, after, list(key[3]), context,
                                                 declared))


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _range(start: int, stop: int) -> str:
    """difflib's unified range: `start,length` (1-based; `n` alone when length is 1)."""
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    return f"{start if not length else start + 1},{length}"


class _Side:
    """One version of the file: its raw lines, shown masked one line at a time."""

    def __init__(self, data: bytes | None, declared: FileSecrets, secrets: list[str]) -> None:
        self.lines: list[str] = []
        self.spans: LineSpans = {}
        self.controls = False  # any control character: its lines are shown escaped
        if data:
            text = decode(data)
            self.lines, self.spans = secret_spans(text, declared)
            self.controls = bool(_CONTROL.search(text.replace("\r\n", "").replace("\n", "")))
        self.secrets = _longest_first(secrets)

    def shown(self, i: int) -> str:
        return _mask_line(apply_spans(self.lines[i], self.spans.get(i, ())), self.secrets)


def _unified_diff(path: str, before: bytes | None, after: bytes | None,
                  secrets: list[str], context: int, declared: FileSecrets) -> str:
    old, new = _Side(before, declared, secrets), _Side(after, declared, secrets)
    visible = _visible if old.controls or new.controls else _as_is
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old.lines, new.lines)
    for group in matcher.get_grouped_opcodes(context):
        if not out:
            out.append(f"--- a{path}\n" if before is not None else "--- /dev/null\n")
            out.append(f"+++ b{path}\n" if after is not None else "+++ /dev/null\n")
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                    # the same text: show it as masked as either side masks it
                    line = old.shown(i)
                    _emit(out, " ", visible(line if line != old.lines[i] else new.shown(j)))
                continue
            for i in range(i1, i2):
                _emit(out, "-", visible(old.shown(i)))
            for j in range(j1, j2):
                _emit(out, "+", visible(new.shown(j)))
    text = "".join(out)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _as_is(line: str) -> str:
    """`_visible` for a diff whose two sides hold no control character."""
    return line


def _emit(out: list[str], sign: str, line: str) -> None:
    if line.endswith("\n"):
        out.append(sign + line)
    else:
        out.append(sign + line + "\n")
        out.append(NO_EOL)
