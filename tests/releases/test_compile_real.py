"""compile(hardened, each release's stock files) yields candidates its own tools accept.

Debian 13: the facts come from the real gather script run in the debootstrapped root
(so Facts.versions are its dpkg versions: Postfix 3.10.13, Dovecot 2.4.1), the
candidates are judged by its doveconf and postconf. Debian 12: the same with this
machine's files and tools. One state file for both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.engine.facts import Facts, RemoteFile
from mailstate.engine.plan import FileChange, build_plan
from mailstate.model import MailState, load_state
from mailstate.transport.local import LocalConnection
from tests.releases.realtools import (
    ChrootConnection,
    Release,
    candidate_tree,
    gather_facts,
    hardened,
)

REPO = Path(__file__).resolve().parents[2]
HARDENED = REPO / "states" / "hardened.yaml"
# the hardened profile's Dovecot part written in Dovecot 2.4's spelling
HARDENED_24_SPELLING = """\
dovecot:
  settings:
    service imap-login:
      inet_listener imaps:
        address: null
        listen: "{{ imaps_address }}"
    disable_plaintext_auth: null
    auth_allow_cleartext: no
"""


def facts_of(release: Release, state: MailState) -> Facts:
    conn = ChrootConnection(release.root) if release.root != Path("/") else LocalConnection()
    return gather_facts(conn, state)


def converged(facts: Facts, changes: list[FileChange]) -> Facts:
    files = dict(facts.files)
    for change in changes:
        files[change.path] = RemoteFile(change.path, change.candidate.after, 0o644, "root",
                                        "root")
    mtimes = {p: 2**31 for p in files}
    return replace(facts, files=files, mtimes=mtimes)


def judged(release: Release, changes: list[FileChange]) -> None:
    """doveconf, postconf -n (no warning), postconf -M and postmap accept the candidates."""
    dovecot = release.doveconf_tree(candidate_tree(release, "dovecot", changes))
    assert dovecot.ok, dovecot.stderr
    postfix = candidate_tree(release, "postfix", changes)
    for args in (["-n"], ["-M"]):
        result = release.run(["postconf", "-c", release.inside(postfix), *args])
        assert result.ok and "warning" not in result.stderr, (args, result.stderr)
    table = release.run(["postmap", "hash:" + release.inside(postfix / "tls_policy")])
    assert table.ok, table.stderr


@pytest.mark.parametrize(("release", "dovecot_version", "postfix_version"), [
    ("bookworm", "1:2.3", "3.7"), ("trixie", "1:2.4", "3.10")])
def test_hardened_converges_each_release_and_its_tools_accept_it(
        release: str, dovecot_version: str, postfix_version: str,
        request: pytest.FixtureRequest) -> None:
    rel: Release = request.getfixturevalue(release)
    state = hardened(rel.root)
    facts = facts_of(rel, state)
    assert facts.versions["dovecot"].startswith(dovecot_version)
    assert facts.versions["postfix"].startswith(postfix_version)
    plan = build_plan(release, state, facts)
    assert plan.error == [] and plan.warnings == []
    master = next(c for c in plan.changes if c.path == "/etc/dovecot/conf.d/10-master.conf")
    listener = "listen = 127.0.0.1" if release == "trixie" else "address = 127.0.0.1"
    assert f"+    {listener}" in master.diff
    judged(rel, plan.changes)
    again = build_plan(release, state, converged(facts, plan.changes))
    assert again.changes == [] and again.error == []


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_either_spelling_writes_the_same_files(release: str, tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    rel: Release = request.getfixturevalue(release)
    layer = tmp_path / "spelling24.yaml"
    layer.write_text(HARDENED_24_SPELLING)
    plain = hardened(rel.root)
    spelled = hardened(rel.root, layer)
    facts = facts_of(rel, plain)
    a = {c.path: c.candidate.after for c in build_plan("a", plain, facts).changes}
    b = {c.path: c.candidate.after for c in build_plan("b", spelled, facts).changes}
    assert a == b


def test_a_parameter_the_hosts_postfix_lacks_is_refused_naming_the_version(
        bookworm: Release, trixie: Release, tmp_path: Path) -> None:
    extra = tmp_path / "tlsrpt.yaml"
    extra.write_text("postfix:\n  main:\n    smtp_tlsrpt_enable: yes\n"
                     "    smtp_tlsrpt_socket_name: tlsrpt\n")
    state = hardened(trixie.root, extra)
    with pytest.raises(MailstateError) as caught:
        build_plan("d12", state, facts_of(bookworm, state))
    summaries = [d.summary for d in caught.value.diagnostics]
    assert len(summaries) == 2 and all("Postfix 3.7 has no parameter" in s and
                                       "new in Postfix 3.10" in s for s in summaries)
    plan = build_plan("d13", state, facts_of(trixie, state))
    assert plan.error == []
    judged(trixie, plan.changes)


def test_per_service_parameters_need_their_service(bookworm: Release,
                                                   tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text("postfix:\n  main:\n    dovecot_destination_recipient_limit: 1\n")
    with pytest.raises(MailstateError) as caught:
        state = load_state([bare]).state
        build_plan("d12", state, facts_of(bookworm, state))
    assert "master.cf has no service dovecot" in caught.value.diagnostics[0].summary
    full = tmp_path / "full.yaml"
    full.write_text(bare.read_text() + """\
  master:
    dovecot/unix:
      unpriv: n
      chroot: n
      command: pipe flags=DRhu user=vmail argv=/usr/lib/dovecot/deliver -d ${recipient}
""")
    state = load_state([full]).state
    plan = build_plan("d12", state, facts_of(bookworm, state))
    assert plan.error == []
    main = candidate_tree(bookworm, "postfix", plan.changes)
    listed = bookworm.run(["postconf", "-c", str(main), "-n"])
    assert listed.ok and "dovecot_destination_recipient_limit = 1" in listed.stdout
    assert "warning" not in listed.stderr
