"""Apply a host's plan safely: lock, re-check, stage, validate, back up, swap, verify.

Round trips per host: facts (1), lock+stage+validate (2), swap+reload+verify (3), and the
release of the lock on the same channel as (2). The two remote scripts in `remote/` do
the work on the host; the swap script rolls back by itself, so the host never depends on
the controller staying alive to be left consistent.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import signal
import socket
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.engine.plan import FileChange, HostPlan, plan_host, stale_reasons
from mailstate.expectations import expected_listeners
from mailstate.transport.base import sh_command

if TYPE_CHECKING:
    from mailstate.inventory import HostSpec
    from mailstate.model import MailState
    from mailstate.transport.base import Connection, RunningCommand

BACKUP_ROOT = "/var/backups/mailstate"
CHECK_NAMES = {
    "postconf-n": "postconf -n", "postconf-M": "postconf -M", "inet-ports": "master.cf ports",
    "doveconf": "doveconf -n", "php-include": "php -l / include",
    "tls-files": "TLS file check",
}


def fault_point(name: str) -> None:
    """Test-only fault injection: MAILSTATE_FAULT=kill-controller:NAME dies right here;
    pause-controller:NAME waits here while the file $MAILSTATE_FAULT_PAUSE exists.

    The fault tests (tests/faults/) use it to prove what a host looks like when the
    controller vanishes at each step; nothing happens unless the variable is set.
    """
    fault = os.environ.get("MAILSTATE_FAULT")
    if fault == f"kill-controller:{name}":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == f"pause-controller:{name}":  # wait while the test's marker file exists
        marker = os.environ.get("MAILSTATE_FAULT_PAUSE", "")
        open(marker, "w").close()
        deadline = time.monotonic() + 60
        while os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)


def host_fault() -> str:
    """Test-only fault for the host scripts ("-" = none).

    MAILSTATE_FAULT=host-die:POINT makes swap.sh kill its own process group at POINT;
    host-pause:POINT makes hold.sh/swap.sh wait at POINT while the host file
    /tmp/mailstate-fault-pause exists (the test drops the connection meanwhile).
    """
    kind, _, point = os.environ.get("MAILSTATE_FAULT", "").partition(":")
    if not point:
        return "-"
    return {"host-die": point, "host-pause": f"pause:{point}"}.get(kind, "-")


def remote_script(name: str) -> str:
    return resources.files("mailstate.engine").joinpath(f"remote/{name}").read_text()


@dataclass
class ApplyOptions:
    """How apply behaves on every host."""

    lock_wait: int = 30
    verify_seconds: int = 15
    saved: dict[str, Any] | None = None  # the saved plan document, per host
    owner: str = field(default_factory=lambda: f"{os.environ.get('USER', 'root')}@"
                       f"{socket.gethostname()} pid {os.getpid()}")


@dataclass
class HostResult:
    """What happened on one host."""

    host: str
    status: str  # unchanged | applied | failed | rolled-back | refused
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


def _diag(host: str, summary: str, detail: str = "", severity: str = "error",
          code: str = "", fix: str = "") -> Diagnostic:
    return Diagnostic(severity, f"{host}: {summary}", detail=detail, code=code,  # type: ignore[arg-type]
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
    services = {c.service for c in changes}
    checks = []
    if services & {"postfix", "map"}:
        checks.append("postfix")
    if "dovecot" in services:
        checks.append("dovecot")
    checks += [f"php:{c.path}" for c in changes if c.service == "roundcube"]
    return " ".join(checks)


def _action_lines(plan: HostPlan) -> str:
    lines = []
    for action in plan.actions:
        if action.kind == "postmap":
            lines.append(f"postmap {action.argument}")
        else:
            lines.append(f"{action.kind}-{action.service}")
    return "\n".join(lines)


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
    """Converge one host; never raises for host-level problems (they go in the result).

    Without a saved plan, files that changed while we waited for another apply's lock
    are planned again once (that apply may already have done the work); with a saved
    plan they are refused, since the user approved exactly that plan.
    """
    started = time.monotonic()
    result = _apply_once(host, state, conn, options)
    if options.saved is None and result.status == "refused" and \
            any(m.code == "stale-plan" for m in result.messages):
        result = _apply_once(host, state, conn, options)
    result.round_trips = conn.round_trips
    result.seconds = time.monotonic() - started
    return result


def _apply_once(host: HostSpec, state: MailState, conn: Connection,
                options: ApplyOptions) -> HostResult:
    plan = plan_host(host, state, conn)
    result = HostResult(host.name, "unchanged", plan)
    try:
        if plan.error:
            result.status, result.messages = "failed", list(plan.error)
        elif options.saved is not None and _refuse_stale(plan, options.saved, result):
            pass
        elif plan.changed or (plan.facts is not None and plan.facts.stale_lock):
            # a stale lock alone is taken over (and its stage removed), nothing swapped
            _apply_changes(host, state, conn, plan, options, result)
    except MailstateError as exc:
        result.status = "failed"
        result.messages.extend(exc.diagnostics)
    return result


def _refuse_stale(plan: HostPlan, saved: dict[str, Any], result: HostResult) -> bool:
    host_saved = saved.get("hosts", {}).get(plan.host)
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


def _apply_changes(host: HostSpec, state: MailState, conn: Connection, plan: HostPlan,
                   options: ApplyOptions, result: HostResult) -> None:
    run_id = uuid.uuid4().hex[:12]
    payload = payload_tar(plan.changes)
    args = [run_id, options.owner, str(options.lock_wait), str(len(payload)),
            "\n".join(c.path for c in plan.changes), _checks(plan.changes), BACKUP_ROOT]
    clock = time.monotonic()
    holder = conn.start(sh_command(remote_script("hold.sh"), args), payload)
    released = False
    try:
        stage = _await_ready(host.name, holder, plan, result)
        result.timings["controller_validated"] = int((time.monotonic() - clock) * 1000)
        if stage is None:
            return
        fault_point("validated")
        if plan.changed:
            _swap(host.name, state, conn, plan, options, run_id, stage, result)
        result.timings["controller_swapped"] = int((time.monotonic() - clock) * 1000)
        if any(m.code == "swap" for m in result.messages):
            # the swap died half-way: no RELEASE, the lock stays and records its actions
            holder.close_stdin()
            released = True
            return
        _release(holder)
        result.timings["controller_released"] = int((time.monotonic() - clock) * 1000)
        released = True
    finally:
        if not released:
            _release_quietly(holder)


def _release(holder: RunningCommand) -> None:
    """Tell hold.sh to drop the stage dir and the lock, and wait for it to exit."""
    holder.write(b"RELEASE\n")
    holder.close_stdin()
    holder.wait(timeout=30)


def _release_quietly(holder: RunningCommand) -> None:
    """The same on an error path, where a second failure must not hide the first."""
    with contextlib.suppress(OSError, MailstateError, EOFError):
        _release(holder)


def _await_ready(name: str, holder: RunningCommand, plan: HostPlan,
                 result: HostResult) -> str | None:
    """Read the holder's report; return the stage dir when everything validated."""
    stage, problems, live = None, [], {}
    while True:
        line = holder.readline(timeout=600).decode("utf-8", "replace").rstrip("\n")
        tag, _, rest = line.partition(" ")
        if tag == "READY":
            break
        if tag == "" and not line:
            problems.append(_diag(name, "the host closed the connection during staging",
                                  code="connection"))
            break
        if tag == "STALE":
            result.messages.append(_diag(
                name, "a stale lock from an interrupted run was found and taken over",
                rest, severity="warning", code="stale-lock",
                fix="check the backups of that run under " + BACKUP_ROOT))
        elif tag == "LOCKED":
            problems.append(_diag(name, "another apply holds the lock on this host",
                                  rest, code="locked",
                                  fix="wait for it to finish (or raise --lock-wait)"))
            break
        elif tag == "FAIL":
            problems.append(_diag(name, rest, code="stage"))
            break
        elif tag == "STAGE":
            stage = rest
        elif tag == "H":
            digest, _, path = rest.partition(" ")
            live[path] = None if digest == "-" else digest
        elif tag == "C":
            problems.extend(_check_problem(name, rest))
        elif tag == "T":
            _timing(result, rest)
    problems.extend(_stale_under_lock(name, plan, live) if not problems else [])
    if problems:
        result.status = "refused" if any(p.code == "stale-plan" for p in problems) else "failed"
        result.messages.extend(problems)
        return None
    return stage


def _timing(result: HostResult, rest: str) -> None:
    label, _, ms = rest.partition(" ")
    result.timings[label] = int(ms) if ms.isdigit() else -1
    fault_point(label)  # test-only: kill-controller:hold-staged, :swapped, :postmap, ...


def _check_problem(name: str, rest: str) -> list[Diagnostic]:
    check, rc, encoded = ([*rest.split(" ", 2), "", ""])[:3]
    output = base64.b64decode(encoded).decode("utf-8", "replace").strip() if encoded else ""
    if rc == "0":
        return []
    return [Diagnostic(
        "error", f"{name}: {CHECK_NAMES.get(check, check)} rejected the candidate: nothing "
        "live was changed", location=_location_of(output), detail=output, code="validation",
        fix="correct the state; the message above is the tool's own")]


def _location_of(output: str) -> Location | None:
    php = re.search(r" in (/etc/\S+) on line (\d+)", output)  # php -l
    if php:
        return Location(php.group(1), int(php.group(2)))
    for word in output.replace(",", " ").split():
        path, _, line = word.rstrip(":").partition(":")
        if path.startswith("/etc/") and line.isdigit():
            return Location(path, int(line))
    return None


def _stale_under_lock(name: str, plan: HostPlan, live: dict[str, str | None]) -> list[Diagnostic]:
    changed = [c.path for c in plan.changes if live.get(c.path, "?") != c.before_sha256]
    if not changed:
        return []
    return [_diag(name, "files changed on the host between plan and lock: nothing was changed",
                  "\n".join(changed), code="stale-plan", fix="run mailstate again")]


def _mode(change: FileChange, state: MailState) -> int:
    """The mode to write: the live file's; a new file holding secrets gets 0600, not 0644."""
    if change.candidate.before is None and state.postfix is not None:
        spec = state.postfix.maps.get(change.path)
        if spec is not None and spec.secret:
            return 0o600
    return change.candidate.mode


def _swap(name: str, state: MailState, conn: Connection, plan: HostPlan,
          options: ApplyOptions, run_id: str, stage: str, result: HostResult) -> None:
    files = "\n".join(f"{c.path} {_mode(c, state):o} {c.candidate.owner} {c.candidate.group}"
                      for c in plan.changes)
    args = [run_id, stage, files, _action_lines(plan), _expect_lines(state, plan),
            str(options.verify_seconds), BACKUP_ROOT, host_fault()]
    running = conn.start(sh_command(remote_script("swap.sh"), args))
    running.close_stdin()
    failure, rolled_back, done, after, refused = "", False, False, [], False
    deadline = time.monotonic() + options.verify_seconds + 120
    while time.monotonic() < deadline:
        line = running.readline(timeout=max(1.0, deadline - time.monotonic()))
        if not line:
            break
        tag, _, rest = line.decode("utf-8", "replace").rstrip("\n").partition(" ")
        if tag == "BACKUP":
            result.backup = rest
        elif tag == "WROTE":
            result.written.append(rest)
            fault_point("after-first-write")
        elif tag in ("FAILED", "FAIL"):  # FAIL: refused before touching any live file
            failure, refused = rest, tag == "FAIL"
        elif tag == "ROLLEDBACK":
            rolled_back = True
        elif tag == "AFTER":
            after.append(rest)
        elif tag == "T":
            _timing(result, rest)
        elif tag == "DONE":
            done = rest == "ok"
    out = running.wait(timeout=30)
    _swap_outcome(name, result, done, rolled_back, refused,
                  failure or out.error_text(), after)


def _swap_outcome(name: str, result: HostResult, done: bool, rolled_back: bool,
                  refused: bool, failure: str, after: list[str]) -> None:
    """The host's report as a status and a message."""
    if done:
        result.status = "applied"
    elif refused and not result.written:
        result.status = "failed"
        result.messages.append(_diag(name, "the host refused the swap: nothing was changed",
                                     failure, code="swap-refused",
                                     fix="correct the host's problem named above, then "
                                         "apply again"))
    elif rolled_back:
        result.status = "rolled-back"
        result.messages.append(_diag(name, "the change did not come up and was rolled back",
                                     "why: " + failure.replace(";", "\n     ").strip()
                                     + "\nafter rollback: " + (", ".join(after) or "-"),
                                     code="rolled-back",
                                     fix="the files are as before; backup kept in "
                                         f"{result.backup}"))
    else:
        result.status = "failed"
        result.messages.append(_diag(
            name, "the swap step did not finish: every file is whole (old or new)",
            (failure or "the connection ended before the host reported a result")
            + "\nthe host's lock is kept, so the next apply reports it and runs this "
            "run's postmap/reload actions again", code="swap",
            fix="run `mailstate plan` to see the host's state; a new apply converges it"))
