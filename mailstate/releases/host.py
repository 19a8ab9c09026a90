"""The engine's one hook into release support: judge a host's versions, translate.

`engine.compile` calls these with the host's facts; each raises `MailstateError` for what
must stop the plan of that host (an unsupported version, a parameter or setting the
host's version does not have) and returns warnings for the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.releases.catalog import Target, host_target
from mailstate.releases.dovecot_translate import Problem, Settings, translate


def target(state: Any, versions: Mapping[str, str]) -> Target:
    """The host's Postfix/Dovecot series for the programs its state manages."""
    return host_target(dict(versions), state.postfix is not None, state.dovecot is not None)


def check_postfix(postfix: Any, series: str, master_cf: bytes) -> None:
    """Refuse main.cf parameters this Postfix does not know (master.cf after the edits)."""
    from mailstate.releases.postfix import parameter_problems, services_of

    problems = list(parameter_problems(postfix, series, lambda: services_of(master_cf)))
    if problems:
        raise MailstateError([_diagnostic(p) for p in problems])


def dovecot_settings(settings: Mapping[tuple[str, ...], str | None], series: str,
                     warnings: list[Diagnostic]) -> Settings:
    """The state's Dovecot settings in the host's spelling; refusals raise."""
    result = _translated(tuple(settings.items()), series)
    errors = [p for p in result.problems if p.severity == "error"]
    if errors:
        raise MailstateError([_diagnostic(p) for p in errors])
    warnings.extend(_diagnostic(p) for p in result.problems if p.severity != "error")
    return dict(result.settings)


@functools.lru_cache(maxsize=64)
def _translated(items: tuple[tuple[tuple[str, ...], str | None], ...], series: str) -> Any:
    """Hosts of a fleet share a state: translate each distinct one once."""
    return translate(dict(items), series)


def refused_dovecot_lines(files: dict[str, bytes], root: str) -> list[Diagnostic]:
    """For a Dovecot 2.4 host: every candidate line 2.4 refuses, file:line, as errors."""
    from mailstate.formats.dovecot import DovecotConfig
    from mailstate.releases.dovecot_live import reference, refused_lines

    refused = refused_lines(DovecotConfig.load(files, root), files)
    if not refused:
        return []
    out = [Diagnostic("error", f"{r.what}: {r.reason}", Location(r.file, r.line),
                      code="dovecot-2.3-config", extra={"setting": r.what, "new": r.new})
           for r in refused]
    out.append(Diagnostic(
        "error", f"the live Dovecot configuration is written for Dovecot 2.3 and this host "
        f"runs 2.4, which refuses the {len(refused)} line(s) above: Dovecot cannot start, "
        "and mailstate changes nothing on this host until they are converted (the diffs "
        "show what the state changes then)",
        Location(root), code="dovecot-2.3-config",
        fix="convert /etc/dovecot to 2.4 (the names above; Debian 13's stock files are in "
            "/usr/share/dovecot/, Dovecot's upgrader is at https://dovecot.org/upgrader/), "
            "then plan again; settings the state manages are converted by mailstate",
        reference=reference()))
    return out


def _diagnostic(problem: Problem) -> Diagnostic:
    """No location yet: the engine sees the merged state only. `state_path` (the key in
    the state) lets the command that knows the inventory add the state's file:line
    (`commands._targets.Target.place`)."""
    path = problem.path
    full = path if path[:1] == ("postfix",) else ("dovecot", "settings", *path)
    where = ".".join(path) if path[:1] == ("postfix",) else "dovecot.settings." + "/".join(path)
    return Diagnostic(problem.severity, problem.message, None, fix=problem.fix,
                      reference=problem.reference, code="release",
                      extra={"path": where, "state_path": list(full)})
