"""The apply summary says what happened on each host, not what its plan proposed."""

from __future__ import annotations

from mailstate.engine.apply import HostResult
from mailstate.engine.compile import Action
from mailstate.engine.plan import HostPlan
from mailstate.views import summary_table


def _plan(host: str) -> HostPlan:
    return HostPlan(host, actions=[Action("postmap", "postfix", "hash:/etc/postfix/tls_policy"),
                                   Action("reload", "postfix")])


def _row(table: str, host: str) -> list[str]:
    return next(line.split(None, 4) for line in table.splitlines() if line.startswith(host))


def test_a_host_refused_before_the_swap_shows_nothing_written_or_run() -> None:
    table = summary_table([
        HostResult("h1", "applied", _plan("h1"), written=["/etc/postfix/main.cf"]),
        HostResult("h2", "failed", _plan("h2")),
        HostResult("h3", "rolled-back", _plan("h3"), written=["/etc/postfix/main.cf"]),
    ])
    assert _row(table, "h1")[:4] == ["h1", "applied", "1", "postmap"]
    assert "reload postfix" in _row(table, "h1")[4]
    assert _row(table, "h2")[:4] == ["h2", "failed", "0", "-"]
    assert _row(table, "h3")[:4] == ["h3", "rolled-back", "1", "-"]
    assert table.splitlines()[-1] == "apply: 3 hosts, 1 converged, 2 failed"


def test_a_plans_errors_and_warnings_name_their_severity_once() -> None:
    """A diagnostic's own text says `error [code]:`; the view used to put `error: `
    before it as well (`error: error [release]: ...` when it had no location)."""
    import io

    from mailstate.diagnostics import Diagnostic, Location
    from mailstate.views import render_plan

    out = io.StringIO()
    render_plan([HostPlan("h2", error=[
        Diagnostic("error", "auth_worker_max_count: Dovecot 2.4 does not accept it",
                   code="release", fix="service auth-worker { process_limit }"),
        Diagnostic("error", "bad value", Location("site.yaml", 7, 3), code="invalid-state"),
    ], warnings=[Diagnostic("warning", "unused", code="postconf-warning")])], out)
    lines = out.getvalue().splitlines()
    assert lines[:5] == [
        "== h2",
        "  error [release]: auth_worker_max_count: Dovecot 2.4 does not accept it",
        "    fix: service auth-worker { process_limit }",
        "  site.yaml:7:3: error [invalid-state]: bad value",
        "  warning [postconf-warning]: unused"]
