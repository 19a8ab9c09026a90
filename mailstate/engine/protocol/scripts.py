"""Events of hold.sh, swap.sh and restore.sh (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from mailstate.engine.protocol import LockHolder, Unknown, b64text

CheckName = Literal["postconf-n", "postconf-M", "tls-files", "inet-ports", "doveconf",
                    "php-include"]
CHECK_LABELS: dict[CheckName, str] = {
    "postconf-n": "postconf -n", "postconf-M": "postconf -M", "inet-ports": "master.cf ports",
    "doveconf": "doveconf -n", "php-include": "php -l / include", "tls-files": "TLS file check",
}


# -- events of hold.sh, swap.sh and restore.sh -----------------------------------------

@dataclass(frozen=True)
class Timing:
    """T LABEL MS: a milestone, in ms since the script started."""

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
    """STAGE DIR: the private stage dir hold.sh made."""

    path: str


@dataclass(frozen=True)
class LiveDigest:
    """H SHA256|- PATH: a live file's digest, taken under the lock."""

    path: str
    sha256: str | None  # None: the file does not exist


@dataclass(frozen=True)
class CheckReport:
    """C CHECK RC BASE64: one validation check and what the tool said."""

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
    """BACKUP DIR: where this run's (or the restored) backup is."""

    path: str  # the backup dir


@dataclass(frozen=True)
class Wrote:
    """WROTE PATH: a new file renamed into place."""

    path: str


@dataclass(frozen=True)
class SwapFailed:
    """FAILED REASON: the change did not come up; the swap rolls back."""

    reason: str


@dataclass(frozen=True)
class Restored:
    """RESTORED PATH: a file put back from the backup."""

    path: str


@dataclass(frozen=True)
class Removed:
    """REMOVED PATH: a file the change had created, removed again."""

    path: str  # a file the change had created


@dataclass(frozen=True)
class NotBack:
    """NOTBACK BASE64(WHY) PATH: a file the restore could not put back."""

    path: str
    why: str


@dataclass(frozen=True)
class After:
    """The services after a rollback: problem None means all came back as before."""

    problem: str | None


@dataclass(frozen=True)
class RolledBack:
    """ROLLEDBACK complete|incomplete: the swap's own rollback ended."""

    complete: bool  # every file back


@dataclass(frozen=True)
class Done:
    """DONE complete|incomplete: the script ended (swap: the change is in)."""

    complete: bool


@dataclass(frozen=True)
class NoBackup:
    """NOBACKUP WHICH: no backup matches the requested name."""

    which: str


@dataclass(frozen=True)
class ActionFailed:
    """ACTFAIL TEXT: a line of what a rerun action said when it failed."""

    text: str


@dataclass(frozen=True)
class BackupName:
    """B NAME: a backup in the listing."""

    name: str


@dataclass(frozen=True)
class ManifestEntry:
    """M SHA256|absent PATH: a file of the listed backup."""

    path: str
    sha256: str | None  # None: the file did not exist before that run


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
    return CheckReport(check, int(rc), b64text(encoded).strip() if encoded else "")


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
            return NotBack(path, b64text(why).strip())
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
