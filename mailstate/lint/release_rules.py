"""Lint rules for one release (`mailstate lint --target debian13`), no SSH needed.

The same checks the plan makes against a host's versions, made against a named release:
main.cf parameters that release's Postfix lacks (per-service ones against its stock
master.cf plus the state's services), Dovecot settings it refuses (with the right name
and the reason), and, as info, how mailstate will write the settings it translates.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailstate.lint.registry import Finding, rule
from mailstate.lint.view import StateView
from mailstate.releases.dovecot_renames import UPGRADE
from mailstate.releases.dovecot_translate import Problem, Translation, translate

POSTCONF = "postconf(5) https://www.postfix.org/postconf.5.html; postconf -d of the release"


def _finding(problem: Problem, prefix: tuple[str, ...]) -> Finding:
    return Finding(problem.message, (*prefix, *problem.path), fix=problem.fix,
                   severity=problem.severity)


@rule("release-postfix-parameter", "error", "main.cf parameter the target Postfix lacks",
      POSTCONF)
def postfix_parameter(view: StateView) -> Iterator[Finding]:
    if view.target is None or view.target.postfix is None or view.state.postfix is None:
        return
    from mailstate.model.postfix_params import table
    from mailstate.releases.postfix import parameter_problems, state_services

    postfix, series = view.state.postfix, view.target.postfix
    services = lambda: state_services(postfix, table(series).stock_services())  # noqa: E731
    for problem in parameter_problems(postfix, series, services):
        yield _finding(problem, ())


@rule("release-dovecot-setting", "error", "Dovecot setting the target version refuses",
      f"Dovecot 2.3 to 2.4 upgrade notes {UPGRADE}")
def dovecot_setting(view: StateView) -> Iterator[Finding]:
    for problem in _translation(view).problems:
        yield _finding(problem, ("dovecot", "settings"))


@rule("release-dovecot-written-as", "info", "how mailstate writes a setting for the target",
      f"Dovecot 2.3 to 2.4 upgrade notes {UPGRADE}")
def dovecot_written_as(view: StateView) -> Iterator[Finding]:
    for note in _translation(view).notes:
        yield _finding(note, ("dovecot", "settings"))


def _translation(view: StateView) -> Translation:
    if view.target is None or view.target.dovecot is None or view.state.dovecot is None:
        return Translation()
    return translate(view.state.dovecot.settings_flat(), view.target.dovecot)
