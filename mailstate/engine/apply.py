"""Apply a host's plan safely: lock, re-check, stage, validate, back up, swap, verify.

Round trips per host: facts (1), lock+stage+validate (2), swap+reload+verify (3), and the
release of the lock on the same channel as (2). The two host scripts (`remote/hold.sh`,
`remote/swap.sh`, each sent after `remote/prelude.sh`) do the work on the host; the swap
script rolls back by itself, so the host never depends on the controller staying alive
to be left consistent. Their lines are parsed into typed events by `engine.protocol.scripts`.
"""

from __future__ import annotations

import contextlib
import io
import re
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mailstate.diagnostics import Diagnostic, Location, MailstateError, Severity
from mailstate.engine import hooks
from mailstate.engine.hostscripts import BACKUP_ROOT, host_command, lock_owner
from mailstate.engine.plan import (
    FileChange,
    HostPlan,
    action_line,
    mask_diagnostics,
    plan_host,
    stale_reasons,
)
from mailstate.engine.protocol.scripts import (
    ActionFailed,
    After,
    BackedUp,
    CheckReport,
    Done,
    Event,
    LiveDigest,
    Locked,
    NotBack,
    Ready,
    Refused,
    Removed,
    Restored,
    RolledBack,
    Staged,
    StaleLock,
    SwapFailed,
    Timing,
    Wrote,
    parse_line,
)
from mailstate.engine.runner import unexpected
from mailstate.expectations import expected_listeners
from mailstate.model.masking import mask_text
from mailstate.transport.base import CommandTimeout

if TYPE_CHECKING:
    from mailstate.engine.savedplan import SavedPlan
    from mailstate.inventory import HostSpec
    from mailstate.model import MailState
    from mailstate.transport.base import Connection, RunningCommand

__all__ = ["BACKUP_ROOT", "ApplyOptions", "HostResult", "apply_host"]

ApplyStatus = Literal["unchanged", "applied", "failed", "rolled-back", "refused"]
KEEP_LOCK = ("swap", "rollback-incomplete")  # the host must be looked at before a next run
STAGE_SECONDS = 600  # validation of a big Dovecot tree on a slow host stays well below


@dataclass
class ApplyOptions:
    """How apply behaves on every host."""

    lock_wait: int = 30
    verify_seconds: int = 15
    saved: SavedPlan | None = None  # the approved plan: apply exactly that, or refuse
    owner: str = field(default_factory=lock_owner)


@dataclass
class HostResult:
    """What happened on one host."""

    host: str
    status: ApplyStatus
    plan: HostPlan | None = None
    messages: list[Diagnostic] = field(default_factory=list)
    backup: str | None = None
    written: list[str] = field(default_factory=list)
    round_trips: int = 0
    seconds: float = 0.0
    timings: dict[str, int] = field(default_factory=dict)  # host-side milestones, ms

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "applied")

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host, "status": self.status, "ok": self.ok,
            "plan": self.plan.to_json() if self.plan else None,
            "messages": [m.to_json() for m in self.messages], "backup": self.backup,
            "written": self.written, "round_trips": self.round_trips,
            "seconds": round(self.seconds, 3), "host_timings_ms": self.timings,
        }


def _diag(host: str, summary: str, detail: str = "", severity: Severity = "error",
          code: str = "", fix: str = "", location: Location | None = None) -> Diagnostic:
    return Diagnostic(severity, f"{host}: {summary}", location, detail=detail, code=code,
                      fix=fix)


def payload_tar(changes: list[FileChange]) -> bytes:
    """The candidate files as a tar stream (paths relative, no owner: the host sets it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for change in changes:
            data = change.candidate.after
            info = tarfile.TarInfo(change.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _checks(changes: list[FileChange]) -> str:
    """hold.sh's checks, one a line: `postfix`, `dovecot`, `php PATH`."""
    services = {c.service for c in changes}
    checks = []
    if services & {"postfix", "map"}:
        checks.append("postfix")
    if "dovecot" in services:
        checks.append("dovecot")
    checks += [f"php {c.path}" for c in changes if c.service == "roundcube"]
    return "\n".join(checks)


def _expect_lines(state: MailState, plan: HostPlan) -> str:
    reloaded = {a.service for a in plan.actions if a.kind in ("reload", "restart")}
    wanted = [e for e in expected_listeners(state)
              if _service_of(e.source) in reloaded]
    owner = {"postfix": "master", "dovecot": "dovecot"}
    return "\n".join(f"{e.port} {e.reach} {owner[_service_of(e.source)]}" for e in wanted)


def _service_of(source: str) -> str:
    return "dovecot" if source.startswith("dovecot") else "postfix"


def apply_host(host: HostSpec, state: MailState, conn: Connection,
               options: ApplyOptions) -> HostResult:
    """Converge one host; never raises (any problem, expected or not, is in the result).

    Without a saved plan, files that changed while we waited for another apply's lock
    are planned again once (that apply may already have done the work); with a saved
    plan they are refused, since the user approved exactly that plan.
    """
    started = time.monotonic()
    result = _apply_guarded(host, state, conn, options)
    if options.saved is None and result.status == "refused" and \
            any(m.code == "stale-plan" for m in result.messages):
        result = _apply_guarded(host, state, conn, options)
    result.messages = mask_diagnostics(result.messages, state.secret_values())
    result.round_trips = conn.round_trips
    result.seconds = time.monotonic() - started
    return result


def _apply_guarded(host: HostSpec, state: MailState, conn: Connection,
                   options: ApplyOptions) -> HostResult:
    result = HostResult(host.name, "unchanged")
    try:
        _apply_once(host, state, conn, options, result)
    except MailstateError as exc:
        result.status = "failed"
        result.messages.extend(exc.diagnostics)
    except Exception as exc:  # a surprise on this host is this host's result
        result.status = "failed"
        result.messages.append(unexpected(host.name, exc))
    return result


def _apply_once(host: HostSpec, state: MailState, conn: Connection,
                options: ApplyOptions, result: HostResult) -> None:
    damaged = options.saved.damaged(host.name) if options.saved is not None else []
    if damaged:
        result.status, result.messages = "refused", list(damaged)
        return
    plan = result.plan = plan_host(host, state, conn)
    if plan.error:
        result.status, result.messages = "failed", list(plan.error)
    elif options.saved is not None and _refuse_stale(plan, options.saved, result):
        pass
    elif plan.changed or (plan.facts is not None and plan.facts.stale_lock):
        # a stale lock alone is taken over (and its stage removed), nothing swapped
        _Apply(host.name, state, conn, plan, options, result).run()


def _refuse_stale(plan: HostPlan, saved: SavedPlan, result: HostResult) -> bool:
    host_saved = saved.hosts.get(plan.host)
    if host_saved is None:
        result.status = "refused"
        result.messages.append(_diag(plan.host, "not in the saved plan", code="stale-plan",
                                     fix="run `mailstate plan -o FILE` again"))
        return True
    reasons = stale_reasons(plan, host_saved)
    if reasons:
        result.status = "refused"
        result.messages.append(_diag(plan.host, "the saved plan is stale: nothing was changed",
                                     "\n".join(reasons), code="stale-plan",
                                     fix="review a fresh `mailstate plan` and save it again"))
        return True
    return False


@dataclass
class _Swap:
    """What swap.sh reported, gathered from its events."""

    failure: str = ""
    refused: bool = False
    done: bool = False
    rolled_back: RolledBack | None = None
    put_back: list[str] = field(default_factory=list)  # restored, or removed (created)
    not_back: list[NotBack] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # problems after the rollback
    rollback_actions: list[str] = field(default_factory=list)  # what failed in the rerun
    ended: Literal["eof", "timeout", "lost"] = "eof"


@dataclass
class _Apply:
    """Steps 2 and 3 on one host: hold (lock, stage, validate), swap, release."""

    name: str
    state: MailState
    conn: Connection
    plan: HostPlan
    options: ApplyOptions
    result: HostResult
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def mask(self, text: str) -> str:
        return mask_text(text, self.state.secret_values())

    def run(self) -> None:
        payload = payload_tar(self.plan.changes)
        args = [self.run_id, self.options.owner, str(self.options.lock_wait), str(len(payload)),
                "\n".join(c.path for c in self.plan.changes), _checks(self.plan.changes)]
        clock = time.monotonic()
        holder = self.conn.start(host_command("hold", args), payload)
        swap_started = released = False
        try:
            stage = self._await_ready(holder)
            self.result.timings["controller_validated"] = int((time.monotonic() - clock) * 1000)
            if stage is None:
                return
            hooks.point("validated", self.name)
            if self.plan.changed:
                swap_started = True
                self._swap(stage)
            self.result.timings["controller_swapped"] = int((time.monotonic() - clock) * 1000)
            if any(m.code in KEEP_LOCK for m in self.result.messages):
                return  # no RELEASE: the lock stays, and records the swap's actions
            self._release(holder)
            self.result.timings["controller_released"] = int((time.monotonic() - clock) * 1000)
            released = True
        finally:
            if not released:
                _end_quietly(holder, release=not swap_started)

    def _release(self, holder: RunningCommand) -> None:
        """Tell hold.sh to drop the stage dir and the lock, and wait for it to exit."""
        try:
            holder.write(b"RELEASE\n")
            holder.close_stdin()
            holder.wait(timeout=30)
        except (MailstateError, OSError, EOFError) as exc:
            self.result.messages.append(_diag(
                self.name, "the host's lock could not be released", str(exc),
                severity="warning", code="release",
                fix="the next run reports it as stale and takes it over"))

    def _await_ready(self, holder: RunningCommand) -> str | None:
        """Read hold.sh's report; return the stage dir when everything validated."""
        stage, problems, live = None, [], {}
        while True:
            try:
                line = holder.readline(timeout=STAGE_SECONDS)
            except CommandTimeout:
                problems.append(_diag(self.name, f"the host said nothing for {STAGE_SECONDS} s "
                                      "while staging and validating", code="timeout"))
                break
            if not line:
                problems.append(_diag(self.name, "the host closed the connection during "
                                      "staging", code="connection"))
                break
            match parse_line(line):
                case Ready():
                    break
                case StaleLock(holder_info):
                    self.result.messages.append(_diag(
                        self.name, "a stale lock from an interrupted run was found and "
                        "taken over", holder_info.describe(), severity="warning",
                        code="stale-lock", fix=f"check the backups of that run under "
                                               f"{BACKUP_ROOT}"))
                case Locked(holder_info):
                    problems.append(_diag(self.name, "another run holds the lock on this host",
                                          holder_info.describe(), code="locked",
                                          fix="wait for it to finish (or raise --lock-wait)"))
                    break
                case Refused(message):
                    problems.append(_diag(self.name, self.mask(message), code="stage"))
                    break
                case Staged(path):
                    stage = path
                case LiveDigest(path, digest):
                    live[path] = digest
                case CheckReport() as report:
                    self._check(report, problems)
                case Timing(label, ms):
                    self.result.timings[label] = ms
                    hooks.point(label, self.name)
        if not problems:
            problems.extend(self._stale_under_lock(live))
        if problems:
            stale = any(p.code == "stale-plan" for p in problems)
            self.result.status = "refused" if stale else "failed"
            self.result.messages.extend(problems)
            return None
        return stage

    def _check(self, report: CheckReport, problems: list[Diagnostic]) -> None:
        """A failed check is a refusal; a passed one that said something is a note."""
        output = self.mask(report.output)
        if report.rc != 0:
            problems.append(_diag(self.name, f"{report.label} rejected the candidate: nothing "
                                  "live was changed", output, code="validation",
                                  fix="correct the state; the message above is the tool's own",
                                  location=_location_of(output)))
        elif output:
            self.result.messages.append(_diag(self.name, f"{report.label}: {output}",
                                              severity="warning", code="validation-note"))

    def _stale_under_lock(self, live: dict[str, str | None]) -> list[Diagnostic]:
        changed = [c.path for c in self.plan.changes if live.get(c.path, "?") != c.before_sha256]
        if not changed:
            return []
        return [_diag(self.name, "files changed on the host between plan and lock: nothing "
                      "was changed", "\n".join(changed), code="stale-plan",
                      fix="run mailstate again")]

    def _swap(self, stage: str) -> None:
        files = "\n".join(f"{_mode(c, self.state):o} {c.candidate.owner} {c.candidate.group} "
                          f"{c.path}" for c in self.plan.changes)
        args = [self.run_id, stage, files, "\n".join(map(action_line, self.plan.actions)),
                _expect_lines(self.state, self.plan), str(self.options.verify_seconds)]
        running = self.conn.start(host_command("swap", args))
        report = _Swap()
        try:
            running.close_stdin()
            self._read_swap(running, report)
            out = running.wait(timeout=30)
            report.failure = report.failure or out.error_text()
        except CommandTimeout:
            report.ended = "timeout"
        except MailstateError as exc:
            report.ended, report.failure = "lost", report.failure or str(exc)
        self._swap_outcome(report)

    def _read_swap(self, running: RunningCommand, report: _Swap) -> None:
        deadline = time.monotonic() + self.options.verify_seconds + 120
        while line := running.readline(timeout=max(1.0, deadline - time.monotonic())):
            self._take_swap_event(parse_line(line), report)

    def _take_swap_event(self, event: Event, report: _Swap) -> None:
        match event:
            case BackedUp(path):
                self.result.backup = path
            case Wrote(path):
                self.result.written.append(path)
                if len(self.result.written) == 1:
                    hooks.point("after-first-write", self.name)
            case Refused(message):
                report.failure, report.refused = message, True
            case SwapFailed(reason):
                report.failure = reason
            case Restored(path) | Removed(path):
                report.put_back.append(path)
            case NotBack() as missing:
                report.not_back.append(missing)
            case After(problem):
                if problem:
                    report.after.append(problem)
            case ActionFailed(text):
                report.rollback_actions.append(text)
            case RolledBack() as rolled:
                report.rolled_back = rolled
            case Done(complete):
                report.done = complete
            case Timing(label, ms):
                self.result.timings[label] = ms
                hooks.point(label, self.name)

    def _swap_outcome(self, report: _Swap) -> None:
        """The host's report as a status and messages."""
        failure = self.mask(report.failure)
        if report.done:
            self.result.status = "applied"
        elif report.refused and not self.result.written:
            self.result.status = "failed"
            self.result.messages.append(_diag(
                self.name, "the host refused the swap: nothing was changed", failure,
                code="swap-refused", fix="correct the host's problem named above, then "
                                         "apply again"))
        elif report.rolled_back is not None:
            self._rolled_back(report, failure)
        else:
            ended = {"eof": "the connection ended before the host reported a result",
                     "timeout": "the host reported no result in time",
                     "lost": "the connection was lost"}[report.ended]
            self.result.status = "failed"
            self.result.messages.append(_diag(
                self.name, "the swap step did not finish: every file is whole (old or new)",
                (failure or ended) + "\nthe host's lock is kept, so the next apply reports it "
                "and runs this run's postmap/reload actions again", code="swap",
                fix="run `mailstate plan` to see the host's state; a new apply converges it"))

    def _rolled_back(self, report: _Swap, failure: str) -> None:
        why = "why: " + failure.replace(";", "\n     ").strip() + \
            "\nput back: " + (", ".join(report.put_back) or "-")
        after = [self.mask(a) for a in report.after]
        if report.rolled_back is not None and not report.rolled_back.complete:
            self.result.status = "failed"
            self.result.messages.append(_diag(
                self.name, "the change did not come up, and the rollback could not put every "
                "file back", why + "\nnot back: " + "; ".join(
                    f"{n.path} ({self.mask(n.why)})" for n in report.not_back),
                code="rollback-incomplete",
                fix=f"restore those files by hand from {self.result.backup}/files, or run "
                    "`mailstate rollback` once the cause is fixed; the host's lock is left, "
                    "so the next run reports it"))
            return
        if after or report.rollback_actions:
            self._rollback_unverified(report, why, after)
            return
        self.result.status = "rolled-back"
        self.result.messages.append(_diag(
            self.name, "the change did not come up and was rolled back", why,
            code="rolled-back",
            fix=f"the files are as before; backup kept in {self.result.backup}"))

    def _rollback_unverified(self, report: _Swap, why: str, after: list[str]) -> None:
        """The files are back, but the services are not as before the change (or the
        rerun of its actions failed): not `rolled-back`, which promises both."""
        self.result.status = "failed"
        fix = (f"the files are as before (backup kept in {self.result.backup}); bring the "
               "services back by hand: `mailstate audit`, the mail logs")
        if report.rollback_actions:
            self.result.messages.append(_diag(
                self.name, "the change did not come up; its files were put back, but "
                "running its actions again failed", why + "\nafter the rollback: "
                + "\n".join(self.mask(a) for a in report.rollback_actions),
                code="rollback-actions", fix=fix))
        if after:
            self.result.messages.append(_diag(
                self.name, "the change did not come up; its files were put back, but the "
                "services are not as they were before it", why + "\nafter the rollback: "
                + "\n".join(after), code="rollback-unverified", fix=fix))


def _end_quietly(holder: RunningCommand, release: bool) -> None:
    """On an error path: release the lock only when no swap ran (else EOF keeps it: the
    host may still be finishing the swap); a second failure must not hide the first."""
    with contextlib.suppress(MailstateError, OSError, EOFError):
        if release:
            holder.write(b"RELEASE\n")
        holder.close_stdin()
        holder.wait(timeout=30)


def _location_of(output: str) -> Location | None:
    php = re.search(r" in (/etc/\S+) on line (\d+)", output)  # php -l
    if php:
        return Location(php.group(1), int(php.group(2)))
    for word in output.replace(",", " ").split():
        path, _, line = word.rstrip(":").partition(":")
        if path.startswith("/etc/") and line.isdigit():
            return Location(path, int(line))
    return None


def _mode(change: FileChange, state: MailState) -> int:
    """The mode to write: the live file's; a new file holding secrets gets 0600, not 0644."""
    if change.candidate.before is None and state.postfix is not None:
        spec = state.postfix.maps.get(change.path)
        if spec is not None and spec.secret:
            return 0o600
    return change.candidate.mode
