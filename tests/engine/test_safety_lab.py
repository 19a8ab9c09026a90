"""apply's promises on real hosts: validate before touching, roll back, refuse stale, isolate."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.engine.conftest import REPO, host_digest, listeners, mailstate, write_inventory

UNKNOWN_DOVECOT_SETTING = """
dovecot:
  settings:
    mailstate_no_such_setting: "1"
"""

LMTP_SERVICE = """
postfix:
  master:
    lmtp/inet:
      private: n
      unpriv: "-"
      chroot: n
      command: smtpd
"""

MISSING_CERT = """
dovecot:
  settings:
    ssl_cert: </etc/dovecot/private/no-such-cert.pem
"""

SMALL_CHANGE = """
postfix:
  main:
    smtp_tls_note_starttls_offer: yes
"""


def _inventory(lab: Lab, tmp_path: Path, state: Path) -> str:
    return str(write_inventory(lab, tmp_path / "inv.yaml", [str(state)]))


def _refused_without_change(lab: Lab, tmp_path: Path, state: Path, expect: str) -> None:
    before = host_digest(lab, "h1")
    ports_before = listeners(lab, "h1")
    out = mailstate("apply", "-i", _inventory(lab, tmp_path, state), "--limit", "h1", "--yes",
                    "--json")
    assert out.code == 1, out.stdout
    host = out.json()["hosts"][0]
    assert host["status"] == "failed"
    assert host["written"] == [] and host["backup"] is None
    assert expect in json.dumps(host["messages"])
    assert host_digest(lab, "h1") == before
    assert listeners(lab, "h1") == ports_before
    assert lab.run("h1", "ls /var/lib/mailstate").stdout.strip() == ""  # lock and stage gone


def test_doveconf_rejects_candidate_nothing_live_changes(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    state = state_file("bad-dovecot", UNKNOWN_DOVECOT_SETTING)
    _refused_without_change(clean_lab, tmp_path, state, "Unknown setting")


def test_inet_service_unknown_to_host_is_refused(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    # postconf -M accepts it and the master would die on reload (MAIL-FACTS);
    # Debian 12 has no 'lmtp' in /etc/services.
    state = state_file("bad-port", LMTP_SERVICE)
    _refused_without_change(clean_lab, tmp_path, state, "not a port number or a service")


def test_missing_certificate_is_refused_before_swap(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    state = state_file("no-cert", MISSING_CERT)
    _refused_without_change(clean_lab, tmp_path, state, "no-such-cert.pem")


def test_service_that_does_not_come_back_is_rolled_back(clean_lab: Lab, tmp_path: Path) -> None:
    """Port 587 held by another process: Postfix's master dies on reload; files restored."""
    squat = ("nohup python3 -c 'import socket,time; s=socket.socket(); "
             "s.bind((\"0.0.0.0\",587)); s.listen(); time.sleep(120)' >/dev/null 2>&1 & "
             "sleep 0.3; ss -ltnH")
    assert ":587" in clean_lab.run("h2", squat).stdout
    before = host_digest(clean_lab, "h2")
    ports_before = listeners(clean_lab, "h2")
    try:
        inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
        out = mailstate("apply", "-i", inventory, "--limit", "h2", "--yes", "--json")
        assert out.code == 1
        host = out.json()["hosts"][0]
        assert host["status"] == "rolled-back"
        text = json.dumps(host["messages"])
        assert "postfix master is not running" in text
        assert "python3" in text  # the report names who holds the port
        assert [m["code"] for m in host["messages"]] == ["rolled-back"], host["messages"]
        assert host["backup"].startswith("/var/backups/mailstate/")
        assert host_digest(clean_lab, "h2") == before
        assert listeners(clean_lab, "h2") == ports_before
        assert clean_lab.run("h2", "ls /var/lib/mailstate").stdout.strip() == ""
    finally:
        clean_lab.run("h2", "pkill -f 's.bind' ; true")


def test_saved_plan_applies_exactly_and_refuses_when_host_changed(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    inventory = _inventory(clean_lab, tmp_path, state_file("small", SMALL_CHANGE))
    plan_path = tmp_path / "plan.json"
    planned = mailstate("plan", "-i", inventory, "-o", str(plan_path))
    assert planned.code == 2
    saved = json.loads(plan_path.read_text())
    assert set(saved["hosts"]) == {"h1", "h2", "h3"}
    clean_lab.run("h2", "echo '# edited by hand' >> /etc/postfix/main.cf")
    edited = host_digest(clean_lab, "h2")
    out = mailstate("apply", str(plan_path), "--json")
    assert out.code == 1
    by_host = {h["host"]: h for h in out.json()["hosts"]}
    assert by_host["h2"]["status"] == "refused"
    assert "changed on the host since the plan" in json.dumps(by_host["h2"]["messages"])
    assert host_digest(clean_lab, "h2") == edited
    assert by_host["h1"]["status"] == "applied" and by_host["h3"]["status"] == "applied"
    assert "smtp_tls_note_starttls_offer = yes" in \
        clean_lab.run("h1", "postconf -n smtp_tls_note_starttls_offer").stdout


def test_saved_plan_holds_no_file_contents(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
    plan_path = tmp_path / "plan.json"
    assert mailstate("plan", "-i", inventory, "-o", str(plan_path), "--limit", "h1").code == 2
    des_key = clean_lab.run("h1", "php -r 'include \"/etc/roundcube/config.inc.php\"; "
                                  "echo $config[\"des_key\"];'").stdout.strip()
    text = plan_path.read_text()
    assert des_key and des_key not in text
    assert "submission" not in text  # digests and paths only


def test_unreachable_host_fails_alone(clean_lab: Lab, tmp_path: Path,
                                      state_file: Callable[[str, str], Path]) -> None:
    ghost = {"ghost": {"ansible_host": f"10.231.{clean_lab.instance}.99",
                       "ansible_user": "root",
                       "ansible_ssh_private_key_file": str(clean_lab.key_path),
                       "mailstate_known_hosts_file": str(clean_lab.known_hosts_path)}}
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml",
                                    [str(state_file("small", SMALL_CHANGE))], ghost))
    out = mailstate("apply", "-i", inventory, "--yes", "--json", "--connect-timeout", "2",
                    cwd=tmp_path)
    assert out.code == 1
    by_host = {h["host"]: h for h in out.json()["hosts"]}
    assert by_host["ghost"]["status"] == "failed"
    assert "cannot reach ghost" in json.dumps(by_host["ghost"]["messages"])
    assert [by_host[h]["status"] for h in ("h1", "h2", "h3")] == ["applied"] * 3
    assert (tmp_path / "mailstate.retry").read_text() == "ghost\n"


def test_changed_host_key_is_refused(clean_lab: Lab, tmp_path: Path) -> None:
    fake = tmp_path / "known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    wrong = (tmp_path / "k.pub").read_text().split()[:2]
    fake.write_text(f"{clean_lab.host('h1').address} {' '.join(wrong)}\n")
    document = clean_lab.inventory()
    document["all"]["hosts"]["h1"]["mailstate_known_hosts_file"] = str(fake)  # type: ignore[index]
    inventory = tmp_path / "inv.yaml"
    import yaml

    inventory.write_text(yaml.safe_dump(document))
    out = mailstate("plan", "-i", str(inventory), "--limit", "h1", "--accept-new")
    assert out.code == 1
    assert "HOST KEY CHANGED" in out.stdout + out.stderr
    assert fake.read_text().split()[1:3] == wrong  # --accept-new never replaces a key


def test_unknown_host_key_refused_then_accepted_on_request(clean_lab: Lab,
                                                           tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    document = clean_lab.inventory()
    document["all"]["hosts"]["h1"]["mailstate_known_hosts_file"] = str(empty)  # type: ignore[index]
    inventory = tmp_path / "inv.yaml"
    import yaml

    inventory.write_text(yaml.safe_dump(document))
    refused = mailstate("plan", "-i", str(inventory), "--limit", "h1")
    assert refused.code == 1 and "unknown host key" in refused.stdout + refused.stderr
    accepted = mailstate("plan", "-i", str(inventory), "--limit", "h1", "--accept-new")
    assert accepted.code == 2
    assert clean_lab.host("h1").address in empty.read_text()


def test_concurrent_applies_on_one_host_never_interleave(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
    cmd = [sys.executable, "-m", "mailstate", "apply", "-i", inventory, "--limit", "h1",
           "--yes", "--json"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [json.loads(p.communicate(timeout=120)[0])["hosts"][0] for p in procs]
    # one applied; the other waited for the lock, planned again and found nothing to do
    assert sorted(r["status"] for r in results) == ["applied", "unchanged"], results
    assert next(r for r in results if r["status"] == "unchanged")["written"] == []
    assert mailstate("plan", "-i", inventory, "--limit", "h1").code == 0
    assert clean_lab.run("h1", "ls /var/lib/mailstate").stdout.strip() == ""


def test_lock_held_elsewhere_blocks_and_a_dead_holder_is_taken_over(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    inventory = _inventory(clean_lab, tmp_path, state_file("small", SMALL_CHANGE))
    hold = ("mkdir -p /var/lib/mailstate/lock && cd /var/lib/mailstate/lock && "
            "(setsid sleep 60 >/dev/null 2>&1 & echo $! > holder) && "
            "printf 'run=other\\nowner=alice@admin pid 42\\nstarted=now\\n' > info")
    clean_lab.run("h1", hold, check=True)
    before = host_digest(clean_lab, "h1")
    blocked = mailstate("apply", "-i", inventory, "--limit", "h1", "--yes", "--json",
                        "--lock-wait", "1")
    assert blocked.code == 1
    host = blocked.json()["hosts"][0]
    assert host["status"] == "failed"
    assert "alice@admin" in json.dumps(host["messages"])  # who holds it
    assert host_digest(clean_lab, "h1") == before

    clean_lab.run("h1", "kill $(cat /var/lib/mailstate/lock/holder)")
    taken = mailstate("apply", "-i", inventory, "--limit", "h1", "--yes", "--json")
    assert taken.code == 0, taken.stdout
    host = taken.json()["hosts"][0]
    assert host["status"] == "applied"
    assert any(m["code"] == "stale-lock" for m in host["messages"])
    assert clean_lab.run("h1", "ls /var/lib/mailstate").stdout.strip() == ""


def test_apply_starts_a_stopped_dovecot_without_hanging(clean_lab: Lab, tmp_path: Path) -> None:
    clean_lab.run("h3", "doveadm stop; sleep 0.5", check=True)
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
    out = mailstate("apply", "-i", inventory, "--limit", "h3", "--yes", "--json", timeout=90)
    assert out.code == 0, out.stdout
    assert out.json()["hosts"][0]["status"] == "applied"
    assert clean_lab.run("h3", "doveadm process status >/dev/null 2>&1 || "
                               "kill -0 $(cat /run/dovecot/master.pid)").returncode == 0


@pytest.mark.parametrize(("key", "state"), [
    ("/etc/dovecot/private/other.key", "dovecot:\n  settings:\n    ssl_key: <{key}\n"),
    ("/etc/postfix/other.key", "postfix:\n  main:\n    smtpd_tls_key_file: {key}\n"),
], ids=["dovecot-ssl_key", "postfix-smtpd_tls_key_file"])
def test_key_that_does_not_match_its_certificate_is_refused(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path],
        key: str, state: str) -> None:
    """The daemon would start and listen, and every TLS handshake would fail: refused."""
    clean_lab.run("h1", f"openssl genpkey -algorithm ed25519 -out {key} 2>/dev/null",
                  check=True)
    path = state_file("other-key", state.format(key=key))
    _refused_without_change(clean_lab, tmp_path, path, "does not match the certificate")


def test_dovecot_port_held_by_another_process_is_rolled_back(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    """Dovecot cannot bind a new listener port that another process holds."""
    squat = ("nohup python3 -c 'import socket,time; s=socket.socket(); "
             "s.bind((\"0.0.0.0\",10995)); s.listen(); time.sleep(120)' >/dev/null 2>&1 & "
             "sleep 0.3; ss -ltnH")
    before = host_digest(clean_lab, "h2")
    state = state_file("pop3s-moved", "dovecot:\n  settings:\n    service pop3-login:\n"
                                      "      inet_listener pop3s:\n        port: 10995\n")
    try:
        assert ":10995" in clean_lab.run("h2", squat, check=True).stdout
        out = mailstate("apply", "-i", _inventory(clean_lab, tmp_path, state), "--limit", "h2",
                        "--yes", "--json")
        assert out.code == 1
        host = out.json()["hosts"][0]
        assert host["status"] == "rolled-back", host
        assert "held by another process (python3)" in json.dumps(host["messages"])
        # the rollback checked its own work: the listeners of before are back
        assert [m["code"] for m in host["messages"]] == ["rolled-back"], host["messages"]
        assert host_digest(clean_lab, "h2") == before
        assert ":995 " in clean_lab.run("h2", "sleep 0.5; ss -ltnH").stdout
    finally:
        clean_lab.run("h2", "pkill -f 's.bind' ; true")


def test_new_postconf_warning_is_refused_but_one_the_host_already_has_is_not(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    """postconf -n on the candidate: only warnings the live config does not have count."""
    unused = state_file("unused", "postfix:\n  main_extra:\n    mailstate_unused_x: '1'\n")
    _refused_without_change(clean_lab, tmp_path, unused, "unused parameter")

    clean_lab.run("h1", "echo 'mailstate_old_unused = 1' >> /etc/postfix/main.cf", check=True)
    assert "unused parameter" in clean_lab.run("h1", "postconf -n 2>&1 >/dev/null").stdout
    small = state_file("small", SMALL_CHANGE)
    out = mailstate("apply", "-i", _inventory(clean_lab, tmp_path, small), "--limit", "h1",
                    "--yes", "--json")
    assert out.code == 0, out.stdout
    assert out.json()["hosts"][0]["status"] == "applied"


def test_roundcube_config_that_fails_when_php_includes_it_is_refused(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    """Valid syntax (php -l passes) that dies when Roundcube loads it: the include says why."""
    clean_lab.run("h1", "echo \"require '/etc/roundcube/mailstate-missing.php';\" "
                        ">> /etc/roundcube/config.inc.php", check=True)
    state = state_file("rc", "roundcube:\n  config:\n    smtp_host: tls://127.0.0.1:587\n")
    _refused_without_change(clean_lab, tmp_path, state, "mailstate-missing.php")


def test_key_check_reads_the_first_certificate_of_a_chain_file(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    """fullchain-style files: the key must match the first (server) certificate only."""
    clean_lab.run("h1", "cd /etc/postfix && openssl req -x509 -newkey ec "
                        "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.pem "
                        "-subj /CN=h1 -days 2 2>/dev/null && "
                        "cat leaf.pem /etc/ssl/certs/ssl-cert-snakeoil.pem > chain.pem",
                  check=True)
    state = "postfix:\n  main:\n    smtpd_tls_cert_file: /etc/postfix/chain.pem\n" \
            "    smtpd_tls_key_file: {key}\n"
    # the key of the chain's second certificate: refused
    wrong = state_file("wrong", state.format(key="/etc/ssl/private/ssl-cert-snakeoil.key"))
    _refused_without_change(clean_lab, tmp_path, wrong, "does not match the certificate")
    # the leaf's own key: applied
    right = state_file("right", state.format(key="/etc/postfix/leaf.key"))
    out = mailstate("apply", "-i", _inventory(clean_lab, tmp_path, right), "--limit", "h1",
                    "--yes", "--json")
    assert out.code == 0, out.stdout
    assert out.json()["hosts"][0]["status"] == "applied"
