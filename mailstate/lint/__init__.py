"""`mailstate lint`: rules over a merged desired state, before it goes near a server.

Each rule (see `RULES`) is a small function registered with an id, a severity and a
reference; findings are `Diagnostic`s located at the YAML line that set the value. The
rules cover the seed guide's mistakes (MAIL-FACTS.md 1-10), SMTP AUTH/TLS exposure,
cross-service requirements (Postfix SASL -> Dovecot socket, Roundcube -> listeners, the
name Roundcube verifies certificates against) and, with a target release, what that
release's Postfix and Dovecot do not accept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailstate.diagnostics import Diagnostic
from mailstate.lint import (  # noqa: F401 (register)
    cross_rules,
    path_rules,
    postfix_rules,
    release_rules,
    service_rules,
    tls_names,
)
from mailstate.lint.registry import RULES, Finding, Rule, rule, run
from mailstate.lint.view import StateView
from mailstate.model.loader import ResolvedState

if TYPE_CHECKING:
    from mailstate.releases.catalog import Target

__all__ = ["RULES", "Finding", "Rule", "StateView", "lint", "rule"]


def lint(resolved: ResolvedState, existing_paths: set[str] | None = None,
         target: Target | None = None) -> list[Diagnostic]:
    """All findings for a resolved state. `existing_paths` (files known to exist on the
    host, from facts) enables the checks that need them; `target` (a release or program
    versions) adds what that release's Postfix and Dovecot refuse."""
    return run(StateView(resolved, existing_paths, target))
