"""`mailstate rollback` as an engine operation: put back a backup that apply made.

One exec of `remote/restore.sh` (after the prelude) per host and phase: `list_backups`
reads what is there; `rollback_host` takes the host lock like apply (a stale one is taken
over, a live one refused by name), restores every file of the chosen backup atomically,
runs that change's postmap/reload again and checks that the listeners of before the
change came back. Every outcome is a `RollbackResult`; nothing here prints or raises
for a host problem.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mailstate.diagnostics import Diagnostic, MailstateError, Severity
from mailstate.engine import hooks
from mailstate.engine.hostscripts import BACKUP_ROOT, host_command, lock_owner
from mailstate.engine.plan import mask_diagnostics
from mailstate.engine.protocol.scripts import (
    ActionFailed,
    After,
    BackedUp,
    BackupName,
    Done,
    Locked,
    ManifestEntry,
    NoBackup,
    NotBack,
    Refused,
    Removed,
    Restored,
    StaleLock,
    Timing,
    parse_line,
)
from mailstate.engine.runner import unexpected
from mailstate.model.masking import mask_text
from mailstate.transport.base import CommandTimeout

if TYPE_CHECKING:
    from mailstate.transport.base import Connection

RollbackStatus = Literal["restored", "failed"]


@dataclass(frozen=True)
class Backup:
    """One backup on a host: its name (`<UTC time>-<run>`) and what it holds."""

    name: str
    files: tuple[str, ...] = ()  # restored from the backup
    absent: tuple[str, ...] = ()  # did not exist before that run: removed by a rollback

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "files": list(self.files), "absent": list(self.absent)}


@dataclass
class HostBackups:
    """The backups listed on one host, or why they could not be listed."""

    host: str
    backups: list[Backup] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)

    def chosen(self, which: str) -> Backup | None:
        """The backup a rollback with `which` restores: the newest matching one."""
        matching = [b for b in self.backups if which == "latest" or b.name.startswith(which)]
        return matching[-1] if matching else None

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "ok": not self.errors,
                "backups": [b.to_json() for b in self.backups],
                "errors": [e.to_json() for e in self.errors]}


@dataclass
class RollbackOptions:
    """Which backup (`latest`, or a name prefix), and how long to wait and verify."""

    which: str = "latest"
    lock_wait: int = 30
    verify_seconds: int = 15
    owner: str = field(default_factory=lambda: lock_owner("rollback"))


@dataclass
class RollbackResult:
    """What a rollback did on one host."""

    host: str
    status: RollbackStatus
    backup: str | None = None
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    not_back: dict[str, str] = field(default_factory=dict)  # path -> why
    messages: list[Diagnostic] = field(default_factory=list)
    round_trips: int = 0
    seconds: float = 0.0
    timings: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "restored"

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "status": self.status, "ok": self.ok, "backup": self.backup,
                "restored": self.restored, "removed": self.removed,
                "not_back": self.not_back, "messages": [m.to_json() for m in self.messages],
                "round_trips": self.round_trips, "seconds": round(self.seconds, 3),
                "host_timings_ms": self.timings}


def _diag(host: str, summary: str, detail: str = "", code: str = "", fix: str = "",
          severity: Severity = "error") -> Diagnostic:
    return Diagnostic(severity, f"{host}: {summary}", detail=detail, code=code, fix=fix)


def list_backups(conn: Connection) -> list[Backup]:
    """The backups on a host, oldest first (one exec)."""
    out = conn.run(host_command("restore", ["list", "-", "0", "list", "0"]))
    entries: dict[str, tuple[list[str], list[str]]] = {}
    current: tuple[list[str], list[str]] | None = None
    for line in out.stdout.splitlines():
        match parse_line(line):
            case BackupName(name):
                current = entries[name] = ([], [])
            case ManifestEntry(path, digest) if current is not None:
                current[0 if digest is not None else 1].append(path)
    if out.rc != 0:
        raise MailstateError(_diag(conn.name, "listing the backups failed",
                                   out.error_text(), code="rollback-list"))
    return [Backup(name, tuple(files), tuple(absent))
            for name, (files, absent) in entries.items()]


def rollback_host(conn: Connection, options: RollbackOptions,
                  secrets: set[str] | None = None) -> RollbackResult:
    """Restore one backup on one host; never raises (every problem is in the result)."""
    started = time.monotonic()
    result = RollbackResult(conn.name, "failed")
    try:
        _rollback(conn, options, result)
    except MailstateError as exc:
        result.status = "failed"
        result.messages.extend(exc.diagnostics)
    except Exception as exc:  # a surprise on this host is this host's result
        result.status = "failed"
        result.messages.append(unexpected(conn.name, exc))
    result.messages = mask_diagnostics(result.messages, secrets or set())
    result.not_back = {path: mask_text(why, secrets or set())
                       for path, why in result.not_back.items()}
    result.round_trips = conn.round_trips
    result.seconds = time.monotonic() - started
    return result


@dataclass
class _Report:
    done: Done | None = None
    problems: list[Diagnostic] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    actions_failed: list[str] = field(default_factory=list)


def _rollback(conn: Connection, options: RollbackOptions, result: RollbackResult) -> None:
    name = conn.name
    args = [uuid.uuid4().hex[:12], options.owner, str(options.lock_wait), options.which,
            str(options.verify_seconds)]
    running = conn.start(host_command("restore", args))
    running.close_stdin()
    report = _Report()
    deadline = time.monotonic() + options.lock_wait + options.verify_seconds + 120
    try:
        while line := running.readline(timeout=max(1.0, deadline - time.monotonic())):
            _take(name, parse_line(line), result, report)
        running.wait(timeout=30)
    except CommandTimeout:
        report.problems.append(_diag(name, "the host reported no result in time",
                                     code="timeout"))
    _outcome(name, result, report)


def _take(name: str, event: object, result: RollbackResult, report: _Report) -> None:
    match event:
        case BackedUp(path):
            result.backup = path
        case Restored(path):
            result.restored.append(path)
        case Removed(path):
            result.removed.append(path)
        case NotBack(path, why):
            result.not_back[path] = why
        case After(problem):
            if problem:
                report.after.append(problem)
        case ActionFailed(text):
            report.actions_failed.append(text)
        case Done() as done:
            report.done = done
        case Timing(label, ms):
            result.timings[label] = ms
            hooks.point(label, name)  # rollback-restored, -verified, ... (tests only)
        case StaleLock(holder):
            result.messages.append(_diag(
                name, "a stale lock from an interrupted run was found and taken over",
                holder.describe(), code="stale-lock", severity="warning",
                fix=f"that run's backup is under {BACKUP_ROOT}"))
        case Locked(holder):
            report.problems.append(_diag(
                name, "another run holds the lock on this host: nothing was restored",
                holder.describe(), code="locked",
                fix="wait for it to finish (or raise --lock-wait), then roll back"))
        case NoBackup(which):
            what = "no backup" if which == "latest" else f"no backup matches {which!r}"
            report.problems.append(_diag(name, f"{what} on the host: nothing was restored",
                                         code="no-backup",
                                         fix="list them with `mailstate rollback HOST --list`"))
        case Refused(message):
            report.problems.append(_diag(name, message, code="rollback-refused"))


def _outcome(name: str, result: RollbackResult, report: _Report) -> None:
    result.messages.extend(report.problems)
    if report.problems:
        return
    if report.done is None:
        result.messages.append(_diag(
            name, "the rollback did not report an end", code="connection",
            detail="the host finishes a restore it has started on its own",
            fix="run `mailstate rollback HOST --list` and `mailstate plan` to see the host"))
        return
    if result.not_back:
        result.messages.append(_diag(
            name, f"{len(result.not_back)} file(s) could not be put back",
            "\n".join(f"{p}: {why}" for p, why in result.not_back.items()),
            code="rollback-incomplete",
            fix=f"fix the cause, then roll back again (the backup {result.backup} is kept)"))
    if report.actions_failed:
        result.messages.append(_diag(name, "running the change's actions again failed",
                                     "\n".join(report.actions_failed), code="rollback-actions"))
    if report.after:
        result.messages.append(_diag(
            name, "after the rollback the services are not as they were before the change",
            "\n".join(report.after), code="rollback-unverified",
            fix="look at the host's services now (`mailstate audit`, the mail logs)"))
    if report.done.complete and not report.after and not report.actions_failed:
        result.status = "restored"
