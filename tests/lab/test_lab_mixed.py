"""Debian 12 and Debian 13 hosts side by side (`mixed_lab`: h1 bookworm, h2 trixie).

Each runs its own release's Postfix, Dovecot and OpenSSH, answers SSH with its own host
key, shows its versions in `lab status`, is reset to its release's stock files, and
mailstate plans and applies one state on both over real SSH.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.engine.conftest import REPO, mailstate, write_inventory
from tests.lab.test_lab_hosts import ssh

STOCK_PORTS = [22, 25, 110, 143, 993, 995, Lab.webmail_port]
# host -> (Debian major, Postfix, Dovecot, OpenSSH) version prefixes
EXPECTED = {"h1": ("12", "3.7.", "2.3.", "1:9."), "h2": ("13", "3.10.", "2.4.", "1:10.")}


def test_each_host_runs_its_releases_own_mail_stack(mixed_lab: Lab) -> None:
    for name, (debian, postfix, dovecot, openssh) in EXPECTED.items():
        out = mixed_lab.run(name, "cut -d. -f1 /etc/debian_version; postconf -h mail_version;"
                                  " dovecot --version; dpkg-query -W -f='${Version}\\n' "
                                  "openssh-server").stdout.split("\n")
        assert out[0] == debian
        assert out[1].startswith(postfix) and out[2].startswith(dovecot), out
        assert out[3].startswith(openssh), out
    assert mixed_lab.host("h2").release == "trixie" and not mixed_lab.host("h2").native
    assert mixed_lab.host("h1").release == "bookworm" and mixed_lab.host("h1").native


def test_status_shows_each_hosts_release_and_versions(mixed_lab: Lab) -> None:
    statuses = {s.name: s for s in mixed_lab.status()}
    for name, (debian, postfix, dovecot, _) in EXPECTED.items():
        s = statuses[name]
        assert (s.sshd, s.postfix, s.dovecot, s.webmail) == (True, True, True, True)
        assert s.ports == STOCK_PORTS
        assert s.debian == int(debian)
        assert s.versions["postfix"].startswith(postfix)
        assert s.versions["dovecot"].startswith(dovecot)
    assert (statuses["h1"].release, statuses["h2"].release) == ("bookworm", "trixie")

    cli = subprocess.run([sys.executable, "-m", "mailstate", "lab", "status", "--json",
                          "--instance", str(mixed_lab.instance)], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True)
    shown = {h["name"]: h for h in json.loads(cli.stdout)["hosts"]}
    assert shown["h2"]["release"] == "trixie" and shown["h2"]["debian"] == 13
    assert shown["h2"]["versions"]["postfix"] == statuses["h2"].versions["postfix"]
    human = subprocess.run([sys.executable, "-m", "mailstate", "lab", "status",
                            "--instance", str(mixed_lab.instance)], cwd=REPO,
                           capture_output=True, text=True, timeout=60, check=True).stdout
    h2_line = next(line for line in human.splitlines() if line.startswith("h2 "))
    assert "trixie (13)" in h2_line and statuses["h2"].versions["dovecot"] in h2_line


def test_ssh_reaches_the_debian13_root_with_the_hosts_own_key(mixed_lab: Lab) -> None:
    h2 = mixed_lab.host("h2")
    proc = ssh(mixed_lab, h2.address, "cut -d. -f1 /etc/debian_version; postconf -h "
                                      "mail_version; hostname")
    assert proc.returncode == 0, proc.stderr
    debian, postfix, hostname = proc.stdout.split()
    assert (debian, hostname) == ("13", "h2.test") and postfix.startswith("3.10.")
    known = {line.split()[0].split(",")[2]: line.split()[2]
             for line in mixed_lab.known_hosts_path.read_text().splitlines()}
    own = mixed_lab.run("h2", "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
    assert known["h2"] == own and known["h1"] != own
    cli = subprocess.run([sys.executable, "-m", "mailstate", "lab", "ssh", "h2", "--instance",
                          str(mixed_lab.instance), "--", "doveconf", "-h",
                          "dovecot_storage_version"], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=False)
    assert (cli.returncode, cli.stdout.strip()) == (0, "2.4.0"), cli.stderr


def test_reset_restores_debian13_stock_after_changes_made_with_its_own_tools(
        mixed_lab: Lab) -> None:
    def sha(path: str) -> str:
        return mixed_lab.run("h2", f"sha256sum {path}").stdout.split()[0]

    stock_main = sha("/etc/postfix/main.cf")
    postfix_pid = mixed_lab.run("h2", "cat /var/spool/postfix/pid/master.pid").stdout.strip()
    changed = mixed_lab.run("h2", "postconf -e 'smtpd_banner = $myhostname changed' && "
                                  "echo 'protocols = imap' > /etc/dovecot/conf.d/99-test.conf"
                                  " && doveconf -n >/dev/null && postfix reload && "
                                  "doveadm reload")
    assert changed.returncode == 0, changed.stderr
    deadline = time.monotonic() + 10
    while 110 in mixed_lab.status()[1].ports and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 110 not in mixed_lab.status()[1].ports

    [status] = mixed_lab.reset(["h2"])

    assert status.ports == STOCK_PORTS and status.release == "trixie"
    assert sha("/etc/postfix/main.cf") == stock_main
    assert mixed_lab.run("h2", "test -e /etc/dovecot/conf.d/99-test.conf").returncode == 1
    assert mixed_lab.run("h2", "postconf -h smtpd_banner").stdout.strip() \
        == "$myhostname ESMTP $mail_name (Debian)"
    assert mixed_lab.run("h2", "cat /var/spool/postfix/pid/master.pid").stdout.strip() \
        != postfix_pid  # Postfix was restarted with its stock main.cf


def test_stock_files_are_the_releases_own(mixed_lab: Lab) -> None:
    """Only main.cf (and the lab's drop-ins) are written by the lab; Dovecot 2.4's files
    are Debian 13's as its package installed them."""
    from mailstate.lab import releases

    source = releases.resolve("trixie").source
    for path in ("/etc/dovecot/conf.d/10-master.conf", "/etc/postfix/master.cf",
                 "/etc/dovecot/conf.d/10-ssl.conf"):
        assert mixed_lab.run("h2", f"cat {path}").stdout == (source / path[1:]).read_text()
    # ... and they serve the host's own certificate, from the lab CA, under its name
    context = ssl.create_default_context(cafile=str(mixed_lab.ca_path))
    with socket.create_connection((mixed_lab.host("h2").address, 993), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="h2.test") as tls:
        assert tls.recv(64).startswith(b"* OK")


def test_one_postfix_state_plans_and_applies_on_debian_12_and_13(
        mixed_lab: Lab, tmp_path: Path) -> None:
    state = tmp_path / "banner.yaml"
    state.write_text("postfix:\n  main:\n    smtpd_banner: $myhostname ESMTP mixed fleet\n"
                     "    disable_vrfy_command: 'yes'\n")
    inventory = str(write_inventory(mixed_lab, tmp_path / "inv.yaml", [str(state)]))

    plan = mailstate("plan", "-i", inventory, "--json")
    assert plan.code == 2, plan.stdout + plan.stderr
    for host in plan.json()["hosts"]:
        assert host["changed"] and host["round_trips"] == 1, host
        assert [c["path"] for c in host["changes"]] == ["/etc/postfix/main.cf"]

    applied = mailstate("apply", "-i", inventory, "--yes", "--json")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert [h["status"] for h in applied.json()["hosts"]] == ["applied", "applied"]
    for name in ("h1", "h2"):
        got = mixed_lab.run(name, "postconf -h smtpd_banner disable_vrfy_command").stdout
        assert got.split("\n")[:2] == ["$myhostname ESMTP mixed fleet", "yes"]
    with smtplib.SMTP(timeout=10) as smtp:  # the reloaded Postfix 3.10 says it itself
        code, banner = smtp.connect(mixed_lab.host("h2").address, 25)
        assert (code, banner) == (220, b"h2.test ESMTP mixed fleet")
    again = mailstate("plan", "-i", inventory, "--json")
    assert again.code == 0, again.stdout


def test_certificates_name_only_the_host_and_its_trust_store_has_the_lab_ca(
        mixed_lab: Lab) -> None:
    """By default, on both releases: a DNS-name-only certificate, as a public CA issues
    it, and the lab CA in each host's own trust store, so the host's own clients (PHP, as
    Roundcube uses it) verify a peer by name with the system defaults, and fail for the
    names a public CA never certifies (the address, localhost) unless told the peer name."""
    context = ssl.create_default_context(cafile=str(mixed_lab.ca_path))
    for h in (mixed_lab.host("h1"), mixed_lab.host("h2")):
        san = mixed_lab.run(h.name, "openssl x509 -noout -ext subjectAltName -in "
                                    "/etc/ssl/certs/ssl-cert-snakeoil.pem").stdout
        assert san.split()[-1] == f"DNS:{h.fqdn}" and "IP Address" not in san, san
        assert "localhost" not in san
        with socket.create_connection((h.address, 993), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=h.fqdn) as tls:
            assert tls.recv(64).startswith(b"* OK")
        for wrong in (h.address, "localhost"):
            with socket.create_connection((h.address, 993), timeout=5) as raw, \
                    pytest.raises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw, server_hostname=wrong)
        greet = 'echo $s ? fgets($s) : "failed: $m";'
        by_name = f'$s = stream_socket_client("ssl://{h.fqdn}:993", $e, $m, 5); {greet}'
        assert mixed_lab.run(h.name, f"php -r '{by_name}'").stdout.startswith("* OK")
        local = '$s = stream_socket_client("ssl://localhost:993", $e, $m, 5{ctx}); ' + greet
        refused = mixed_lab.run(h.name, "php -r '" + local.format(ctx="") + "'")
        assert refused.stdout.startswith("failed"), refused.stdout + refused.stderr
        peer = (', STREAM_CLIENT_CONNECT, stream_context_create(["ssl" => '
                f'["peer_name" => "{h.fqdn}"]])')
        named = mixed_lab.run(h.name, "php -r '" + local.format(ctx=peer) + "'")
        assert named.stdout.startswith("* OK"), named.stdout + named.stderr
        verify = mixed_lab.run(h.name, "openssl verify /etc/ssl/certs/ssl-cert-snakeoil.pem")
        assert verify.stdout.strip().endswith(": OK"), verify.stdout + verify.stderr
    ca = mixed_lab.ca_path.read_bytes()
    assert ca not in Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()  # machine
