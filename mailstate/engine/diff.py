"""Exact unified diffs of real file bytes, with secrets masked.

Lines are compared as text decoded with surrogateescape, so every byte (CRLF, non-UTF-8,
a missing final newline) shows up as it is; masking happens here, once, before any view
sees a diff.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable

from mailstate.engine.memo import SharedMemo

MASK = "********"
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


def mask_line(line: str, secrets: Iterable[str] = ()) -> str:
    """Hide secret values in one line; keep the key so the reader knows what changed."""
    body = line.rstrip("\r\n")
    ending = line[len(body):]
    for value in secrets:
        if value:
            body = body.replace(value, MASK)
    for pattern in (_SECRET_PHP, _SECRET_KV):
        m = pattern.match(body)
        if m:
            body = m.group("key") + MASK + m.group("end")
            break
    return body + ending


def _lines(data: bytes | None) -> list[str]:
    if not data:
        return []
    return data.decode("utf-8", "surrogateescape").splitlines(keepends=True)


def unified_diff(path: str, before: bytes | None, after: bytes | None,
                 secrets: Iterable[str] = (), context: int = 3) -> str:
    """A unified diff of two versions of `path`; `None` means the file does not exist.

    Hosts of a fleet mostly show the same change of the same file: each distinct diff is
    computed once (keyed by digests, so the cache holds no file contents).
    """
    key = (path, _digest(before), _digest(after), tuple(sorted(s for s in secrets if s)),
           context)
    return _CACHE.get(key, lambda: _unified_diff(path, before, after, list(key[3]), context))


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _unified_diff(path: str, before: bytes | None, after: bytes | None,
                  secrets: list[str], context: int) -> str:
    old, new = _lines(before), _lines(after)
    label_old = f"a{path}" if before is not None else "/dev/null"
    label_new = f"b{path}" if after is not None else "/dev/null"
    out: list[str] = []
    for line in difflib.unified_diff(old, new, label_old, label_new, n=context):
        if line.startswith(("---", "+++", "@@")):
            out.append(line if line.endswith("\n") else line + "\n")
            continue
        masked = line[0] + mask_line(line[1:], secrets)
        if not masked.endswith("\n"):
            out.append(masked + "\n")
            out.append(NO_EOL)
        else:
            out.append(masked)
    text = "".join(out)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
