"""The plan: what would change on each host, as data (shown by views, saved, applied).

A saved plan holds sha256 digests, never file contents: it cannot leak a secret, and
`apply` recomputes the candidates and refuses a host whose live files (before) or desired
files (after) no longer match the digests.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.engine import hooks
from mailstate.engine.compile import (
    Action,
    ActionKind,
    ActionService,
    Candidate,
    compile_host,
    facts_request,
)
from mailstate.engine.diff import unified_diff
from mailstate.engine.facts import DOVECOT_DIRS, Facts, gather
from mailstate.engine.protocol import LockHolder
from mailstate.engine.turns import COMPUTE
from mailstate.model.masking import mask_text

if TYPE_CHECKING:
    from mailstate.engine.savedplan import SavedHost, SavedPlan
    from mailstate.inventory import HostSpec
    from mailstate.model import MailState
    from mailstate.transport.base import Connection


def sha256(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


@dataclass(frozen=True)
class FileChange:
    """One file that would change: digests, a masked diff, and the bytes to write."""

    path: str
    service: str
    before_sha256: str | None
    after_sha256: str
    diff: str
    candidate: Candidate = field(repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "service": self.service, "before_sha256": self.before_sha256,
                "after_sha256": self.after_sha256, "diff": self.diff,
                "created": self.before_sha256 is None}


@dataclass
class HostPlan:
    """The plan for one host; `error` set when the host could not be planned."""

    host: str
    changes: list[FileChange] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    error: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0
    round_trips: int = 0
    facts: Facts | None = field(default=None, repr=False)

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.actions)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ok": not self.error,
            "changed": self.changed,
            "changes": [c.to_json() for c in self.changes],
            "actions": [a.describe() for a in self.actions],
            "warnings": [w.to_json() for w in self.warnings],
            "errors": [e.to_json() for e in self.error],
            "seconds": round(self.seconds, 3),
            "round_trips": self.round_trips,
            "versions": dict(self.facts.versions) if self.facts else {},
        }


def build_plan(host: str, state: MailState, facts: Facts) -> HostPlan:
    """Compile and diff: pure, no I/O (the same function apply uses)."""
    _refuse_not_regular(state, facts)
    compiled = compile_host(state, facts)
    _refuse_writes_through_links(facts, compiled.candidates)
    secrets = state.secret_values()
    changes = [
        FileChange(c.path, c.service, sha256(c.before.data) if c.before else None,
                   sha256(c.after) or "",
                   unified_diff(c.path, c.before.data if c.before else None, c.after, secrets,
                                file_secrets=state.file_secrets(c.path, c.service)),
                   c)
        for c in compiled.candidates
    ]
    warnings, pending = _interrupted_apply(host, facts)
    actions = compiled.actions + [a for a in pending if a not in compiled.actions]
    actions.sort(key=lambda a: a.kind != "postmap")  # stable: postmap before any reload
    return HostPlan(host, changes, actions,
                    compiled.warnings + _dovecot_tree_notes(host, facts) + warnings,
                    error=list(compiled.errors), facts=facts)


def _refuse_not_regular(state: MailState, facts: Facts) -> None:
    """Only regular files at a managed path: a link, dir, device, FIFO is refused by name."""
    problems = [
        Diagnostic("error", f"{path} is {facts.not_regular[path].describe()}: mailstate "
                   "manages only regular files", Location(path), code="not-regular-file",
                   fix="point the state at the real file, or replace what is there with a "
                       "regular file, then plan again")
        for path in facts_request(state).files if path in facts.not_regular]
    if problems:
        raise MailstateError(problems)


def _refuse_writes_through_links(facts: Facts, candidates: list[Candidate]) -> None:
    """A Dovecot file read through a link is never written through it."""
    problems = []
    for candidate in candidates:
        link = facts.link_of(candidate.path)
        if link is None:
            continue
        what = "reached through the linked directory" if link.is_dir else "a symbolic link to"
        problems.append(Diagnostic(
            "error", f"the change would write {candidate.path}, which is {what} "
            f"{link.path if link.is_dir else link.target}"
            + (f" -> {link.target}" if link.is_dir else "") + ": mailstate does not write "
            "through links", Location(candidate.path), code="write-through-link",
            fix="make it a regular file in /etc/dovecot (or set the value in another "
                "file), then plan again"))
    if problems:
        raise MailstateError(problems)


def _dovecot_tree_notes(host: str, facts: Facts) -> list[Diagnostic]:
    """Say what in the Dovecot tree was read through a link, or could not be read."""
    notes = [Diagnostic("warning", f"{host}: {link.path} is read through a link to "
                        f"{link.target}, as Dovecot's !include follows it", Location(link.path),
                        code="read-through-link")
             for link in facts.links.values()]
    tree = tuple(d + "/" for d in DOVECOT_DIRS)
    notes += [Diagnostic("warning", f"{host}: {entry.path} is {entry.describe()}: not read",
                         Location(entry.path), code="not-regular-file")
              for entry in facts.not_regular.values() if entry.path.startswith(tree)]
    return notes


def _interrupted_apply(host: str, facts: Facts) -> tuple[list[Diagnostic], list[Action]]:
    """A stale lock: say so, and redo the actions of a swap that never finished.

    Such a swap may have put every file in place and died before the reload: the files
    then match the state, but the services still run the old configuration.
    """
    if not facts.stale_lock:
        return [], []
    pending = [a for a in map(_action_of, facts.lock_pending or ()) if a is not None]
    detail = LockHolder.parse(facts.lock_info or "").describe()
    if facts.lock_pending is not None:
        detail += ("\nits swap started and never finished; run again: "
                   + (", ".join(a.describe() for a in pending) or "nothing"))
    return [Diagnostic("warning", f"{host}: an interrupted apply left its lock on the host",
                       detail=detail, code="stale-lock",
                       fix="apply takes the lock over; that run's backup is under "
                           "/var/backups/mailstate")], pending


ACTION_VERBS: dict[str, tuple[ActionKind, ActionService]] = {
    f"{kind}-{service}": (kind, service)
    for kind in ("reload", "restart") for service in ("postfix", "dovecot")}


def action_line(action: Action) -> str:
    """An action as the host scripts take it (`postmap hash:/p`, `reload-postfix`)."""
    if action.kind == "postmap":
        return f"postmap {action.argument}"
    return f"{action.kind}-{action.service}"


def _action_of(line: str) -> Action | None:
    """The inverse of `action_line` (None for a line that is no action)."""
    verb, _, argument = line.strip().partition(" ")
    if verb == "postmap" and argument:
        return Action("postmap", "postfix", argument)
    if verb in ACTION_VERBS:
        return Action(*ACTION_VERBS[verb])
    return None


def plan_host(host: HostSpec, state: MailState, conn: Connection) -> HostPlan:
    """Fetch facts (one round trip) and build the plan for one host."""
    started = time.monotonic()
    facts: Facts | None = None
    try:
        facts = gather(conn, facts_request(state))
        hooks.point("facts-read", host.name)
        with COMPUTE:  # pure computation: one host at a time (engine/turns.py)
            plan = build_plan(host.name, state, facts)
    except MailstateError as exc:  # the facts stay: a refusal's versions explain it
        plan = HostPlan(host.name, error=mask_diagnostics(exc.diagnostics,
                                                          state.secret_values()), facts=facts)
    plan.seconds = time.monotonic() - started
    plan.round_trips = conn.round_trips
    return plan


def mask_diagnostics(diagnostics: list[Diagnostic], secrets: set[str]) -> list[Diagnostic]:
    """The same diagnostics with every secret value of the state masked (what a host's
    tools say back may quote a secret)."""
    if not secrets:
        return diagnostics
    return [replace(d, summary=mask_text(d.summary, secrets), detail=mask_text(d.detail, secrets))
            for d in diagnostics]


def saved_plan(plans: list[HostPlan], inventory: str | list[str],
               limit: str | None) -> SavedPlan:
    """The document `plan -o FILE` writes: digests and actions only, no file contents."""
    from mailstate.engine.savedplan import SavedHost, SavedPlan  # only when saving: ~15 ms

    return SavedPlan(
        format=1,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        inventory=inventory,
        limit=limit,
        hosts={
            p.host: SavedHost.model_validate({
                "files": {c.path: {"before_sha256": c.before_sha256,
                                   "after_sha256": c.after_sha256} for c in p.changes},
                "actions": [a.describe() for a in p.actions]})
            for p in plans if not p.error
        },
    )


def stale_reasons(plan: HostPlan, saved: SavedHost) -> list[str]:
    """Why a freshly computed plan differs from the saved one (empty = still valid)."""
    reasons: list[str] = []
    now = {c.path: c for c in plan.changes}
    for path, digests in saved.files.items():
        change = now.get(path)
        live = plan.facts.sha256(path) if plan.facts else None
        if live != digests.before_sha256:
            reasons.append(f"{path} changed on the host since the plan was made")
        elif change is None or change.after_sha256 != digests.after_sha256:
            reasons.append(f"{path}: the desired content is no longer what the plan showed")
    for path in now.keys() - saved.files.keys():
        reasons.append(f"{path} would change but is not in the saved plan")
    if [a.describe() for a in plan.actions] != saved.actions and not reasons:
        reasons.append("the actions differ from the saved plan")
    return reasons
