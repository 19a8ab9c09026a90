"""The host scripts' line protocol as typed events: pure parsers, no I/O.

Each line a host script prints is `TAG REST`. `parse_line` turns a line of hold.sh,
swap.sh or restore.sh into one frozen event, `parse_fact` a header line of facts.sh;
the engine then matches on event types instead of comparing strings. A line that is
not understood becomes `Unknown` (shown to nobody, never a crash): the host is data.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal, get_args

CheckName = Literal["postconf-n", "postconf-M", "tls-files", "inet-ports", "doveconf",
                    "php-include"]
CHECK_LABELS: dict[CheckName, str] = {
    "postconf-n": "postconf -n", "postconf-M": "postconf -M", "inet-ports": "master.cf ports",
    "doveconf": "doveconf -n", "php-include": "php -l / include", "tls-files": "TLS file check",
}
FileKind = Literal["link", "broken-link", "directory", "block-device", "char-device", "fifo",
                   "socket", "other"]
FILE_KIND_TEXT: dict[FileKind, str] = {
    "link": "a symbolic link", "broken-link": "a symbolic link to nothing",
    "directory": "a directory", "block-device": "a block device",
    "char-device": "a character device", "fifo": "a FIFO (named pipe)", "socket": "a socket",
    "other": "not a regular file",
}


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text


# -- the lock --------------------------------------------------------------------------

@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a host's lock, from its `info` file (`key=value` lines)."""

    run: str = ""
    owner: str = ""
    started: str = ""
    raw: str = ""

    @classmethod
    def parse(cls, text: str) -> LockHolder:
        fields = dict(word.partition("=")[::2] for word in text.replace("\n", " ").split(" ")
                      if "=" in word)
        # owner values contain spaces ("alice@admin pid 42"): take everything up to the
        # next key
        owner = text.partition("owner=")[2].partition(" started=")[0].strip()
        return cls(fields.get("run", ""), owner, fields.get("started", ""), text.strip())

    def describe(self) -> str:
        if not (self.owner or self.run):
            return self.raw or "(the lock records no holder)"
        return f"held by {self.owner or '?'} (run {self.run or '?'}, since {self.started or '?'})"


# -- events of hold.sh, swap.sh and restore.sh -----------------------------------------

@dataclass(frozen=True)
class Timing:
    label: str
    ms: int


@dataclass(frozen=True)
class StaleLock:
    """An interrupted run's lock was found and taken over."""

    holder: LockHolder


@dataclass(frozen=True)
class Locked:
    """Another live run holds the lock; this script gave up waiting."""

    holder: LockHolder


@dataclass(frozen=True)
class Refused:
    """The script stopped before touching any live file (FAIL)."""

    message: str


@dataclass(frozen=True)
class Staged:
    path: str


@dataclass(frozen=True)
class LiveDigest:
    path: str
    sha256: str | None  # None: the file does not exist


@dataclass(frozen=True)
class CheckReport:
    check: CheckName
    rc: int
    output: str

    @property
    def label(self) -> str:
        return CHECK_LABELS[self.check]


@dataclass(frozen=True)
class Ready:
    """Everything validated; hold.sh now holds the lock until RELEASE."""


@dataclass(frozen=True)
class BackedUp:
    path: str  # the backup dir


@dataclass(frozen=True)
class Wrote:
    path: str


@dataclass(frozen=True)
class SwapFailed:
    reason: str


@dataclass(frozen=True)
class Restored:
    path: str


@dataclass(frozen=True)
class Removed:
    path: str  # a file the change had created


@dataclass(frozen=True)
class NotBack:
    path: str
    why: str


@dataclass(frozen=True)
class After:
    """The services after a rollback: problem None means all came back as before."""

    problem: str | None


@dataclass(frozen=True)
class RolledBack:
    complete: bool  # every file back


@dataclass(frozen=True)
class Done:
    complete: bool


@dataclass(frozen=True)
class NoBackup:
    which: str


@dataclass(frozen=True)
class ActionFailed:
    text: str


@dataclass(frozen=True)
class BackupName:
    name: str


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    sha256: str | None  # None: the file did not exist before that run


@dataclass(frozen=True)
class Unknown:
    line: str


Event = (Timing | StaleLock | Locked | Refused | Staged | LiveDigest | CheckReport | Ready
         | BackedUp | Wrote | SwapFailed | Restored | Removed | NotBack | After | RolledBack
         | Done | NoBackup | ActionFailed | BackupName | ManifestEntry | Unknown)


def _sha_or_none(word: str, none: str) -> str | None:
    return None if word == none else word


def _parse_check(rest: str, line: str) -> Event:
    name, rc, encoded = [*rest.split(" ", 2), "", ""][:3]
    if name not in get_args(CheckName) or not rc.lstrip("-").isdigit():
        return Unknown(line)
    check: CheckName = name  # type: ignore[assignment]  # checked just above
    return CheckReport(check, int(rc), _b64(encoded).strip() if encoded else "")


def _parse_timing(rest: str, line: str) -> Event:
    label, _, ms = rest.partition(" ")
    return Timing(label, int(ms)) if ms.isdigit() else Unknown(line)


def parse_line(raw: bytes | str) -> Event:
    """One line of hold.sh, swap.sh or restore.sh."""
    line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).rstrip("\r\n")
    tag, _, rest = line.partition(" ")
    simple: dict[str, type[Staged | BackedUp | Wrote | SwapFailed | Restored | Removed
                         | NoBackup | ActionFailed | BackupName | Refused]] = {
        "STAGE": Staged, "BACKUP": BackedUp, "WROTE": Wrote, "FAILED": SwapFailed,
        "RESTORED": Restored, "REMOVED": Removed, "NOBACKUP": NoBackup,
        "ACTFAIL": ActionFailed, "B": BackupName, "FAIL": Refused,
    }
    if tag in simple:
        return simple[tag](rest)
    match tag:
        case "T":
            return _parse_timing(rest, line)
        case "STALE":
            return StaleLock(LockHolder.parse(rest))
        case "LOCKED":
            return Locked(LockHolder.parse(rest))
        case "H":
            digest, _, path = rest.partition(" ")
            return LiveDigest(path, _sha_or_none(digest, "-"))
        case "C":
            return _parse_check(rest, line)
        case "READY":
            return Ready()
        case "NOTBACK":
            why, _, path = rest.partition(" ")
            return NotBack(path, _b64(why).strip())
        case "AFTER":
            return After(None if rest == "ok" else rest)
        case "ROLLEDBACK":
            return RolledBack(rest == "complete")
        case "DONE":
            return Done(rest == "complete")
        case "M":
            digest, _, path = rest.partition(" ")
            return ManifestEntry(path, _sha_or_none(digest, "absent"))
    return Unknown(line)


# -- the header of facts.sh ------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    package: str
    version: str


@dataclass(frozen=True)
class LockFound:
    holder: LockHolder


@dataclass(frozen=True)
class LockProcessAlive:
    role: str  # holder | worker


@dataclass(frozen=True)
class PendingActions:
    """The actions of a swap that started and never finished (one action a line)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class FileTime:
    path: str
    mtime: int


@dataclass(frozen=True)
class NotRegular:
    """A path facts did not read because it is not a regular file."""

    path: str
    kind: FileKind
    target: str = ""  # for a link: where it points

    def describe(self) -> str:
        text = FILE_KIND_TEXT[self.kind]
        return f"{text} to {self.target}" if self.target else text


@dataclass(frozen=True)
class ThroughLink:
    """A Dovecot config file read through a link (L), or a dir reached through one (D)."""

    path: str
    target: str
    is_dir: bool


FactEvent = (Version | LockFound | LockProcessAlive | PendingActions | FileTime | NotRegular
             | ThroughLink | Unknown)


def _parse_not_regular(rest: str, line: str) -> FactEvent:
    kind, _, where = rest.partition(" ")
    path, _, target = where.partition("\t")
    if kind not in get_args(FileKind) or not path:
        return Unknown(line)
    file_kind: FileKind = kind  # type: ignore[assignment]  # checked just above
    return NotRegular(path, file_kind, target)


def parse_fact(line: str) -> FactEvent:
    """One header line of facts.sh (before its `TAR` line)."""
    tag, _, rest = line.partition(" ")
    match tag:
        case "V":
            name, _, version = rest.partition(" ")
            return Version(name, version.strip())
        case "K":
            return LockFound(LockHolder.parse(_b64(rest)))
        case "A":
            return LockProcessAlive(rest)
        case "W":
            return PendingActions(tuple(a for a in _b64(rest).split("\n") if a.strip()))
        case "S":
            stamp, _, path = rest.partition(" ")
            return FileTime(path, int(stamp)) if stamp.isdigit() else Unknown(line)
        case "N":
            return _parse_not_regular(rest, line)
        case "L" | "D":
            path, _, target = rest.partition("\t")
            return ThroughLink(path, target, tag == "D")
    return Unknown(line)
