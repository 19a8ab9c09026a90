"""apply's validation on a real Debian 13 host (Dovecot 2.4): TLS files are checked too.

Dovecot 2.4 names its TLS files by path (`ssl_server_cert_file = /p`, no `<`), and its
`doveconf -n` opens none of them: before the fix, a missing certificate passed
validation, was swapped in, and the reload failed (rolled back after the 15 s listener
wait); a key that does not belong to the certificate was applied, and every TLS
handshake on 993/995 would have failed. hold.sh now checks a 2.4 tree with `doveconf -x`
(which opens the files, as Dovecot does when it reads its config) and the top-level
cert/key pair. Debian 12's side of the same promises: tests/engine/test_safety_lab.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.engine.conftest import host_digest, listeners, mailstate
from tests.lab_e2e.conftest import tmp_inventory

OTHER_KEY = "/etc/dovecot/private/other.key"


@pytest.mark.parametrize(("setting", "expect"), [
    ("ssl_server_cert_file: /etc/dovecot/private/no-such-cert.pem",
     "ssl_server_cert_file: open(/etc/dovecot/private/no-such-cert.pem) failed"),
    (f"ssl_key: <{OTHER_KEY}",  # the 2.3 spelling, written the 2.4 way
     f"ssl_server_key_file {OTHER_KEY} does not match the certificate"),
], ids=["missing-certificate", "key-of-another-certificate"])
def test_dovecot_24_tls_files_are_checked_before_any_live_file(
        mixed_lab: Lab, tmp_path: Path, setting: str, expect: str) -> None:
    mixed_lab.run("h2", f"openssl genpkey -algorithm ed25519 -out {OTHER_KEY} 2>/dev/null",
                  check=True)
    state = tmp_path / "tls.yaml"
    state.write_text(f"dovecot:\n  settings:\n    {setting}\n")
    before, ports_before = host_digest(mixed_lab, "h2"), listeners(mixed_lab, "h2")
    out = mailstate("apply", "-i", tmp_inventory(mixed_lab, tmp_path, [str(state)]),
                    "--limit", "h2", "--yes", "--json")
    assert out.code == 1, out.stdout + out.stderr
    [host] = out.json()["hosts"]
    assert host["status"] == "failed" and host["written"] == [] and host["backup"] is None
    messages = json.dumps(host["messages"])
    assert "validation" in messages and expect in messages, messages
    assert host_digest(mixed_lab, "h2") == before
    assert listeners(mixed_lab, "h2") == ports_before
    assert mixed_lab.run("h2", "ls -A /var/lib/mailstate").stdout.strip() == ""
