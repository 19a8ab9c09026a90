"""The lab gives real hosts in the guide's "before" state, reachable with strict SSH."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from mailstate.lab import Lab

STOCK_OPEN = (22, 25, 110, 143, 993, 995, Lab.webmail_port)
STOCK_CLOSED = (465, 587)


def port_open(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) == 0


def ssh(lab: Lab, address: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(lab.key_path), "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={lab.known_hosts_path}",
         "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{address}", command],
        capture_output=True, text=True, timeout=30, check=False)


def test_three_hosts_with_stock_ports_seen_from_the_machine(clean_lab: Lab) -> None:
    hosts = clean_lab.hosts()[:3]
    assert [h.name for h in hosts] == ["h1", "h2", "h3"]
    for h in hosts:
        assert h.address == f"10.231.{clean_lab.instance}.{10 + h.number}"
        assert [p for p in STOCK_OPEN if not port_open(h.address, p)] == []
        assert [p for p in STOCK_CLOSED if port_open(h.address, p)] == []


def test_nmap_sees_the_before_state(clean_lab: Lab) -> None:
    address = clean_lab.host("h1").address
    ports = ",".join(map(str, STOCK_OPEN + STOCK_CLOSED))
    out = subprocess.run(["nmap", "-Pn", "-n", "-p", ports, address],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    states = {int(line.split("/")[0]): line.split()[1]
              for line in out.splitlines() if "/tcp" in line}
    assert states == {**dict.fromkeys(STOCK_OPEN, "open"), **dict.fromkeys(STOCK_CLOSED, "closed")}


def test_status_and_ss_inside_agree(clean_lab: Lab) -> None:
    for status in clean_lab.status()[:3]:
        assert (status.sshd, status.postfix, status.dovecot) == (True, True, True)
        assert status.ports == sorted(STOCK_OPEN)
        inside = clean_lab.run(status.name, "ss -Hltn").stdout
        assert {int(line.split()[3].rsplit(":", 1)[1]) for line in inside.splitlines()} \
            == set(STOCK_OPEN)


def test_each_host_has_its_own_identity(clean_lab: Lab) -> None:
    names = {clean_lab.run(h.name, "hostname").stdout.strip() for h in clean_lab.hosts()[:3]}
    assert names == {"h1.test", "h2.test", "h3.test"}
    maincf = clean_lab.run("h2", "postconf -h myhostname smtpd_tls_cert_file").stdout.split()
    assert maincf == ["h2.test", "/etc/ssl/certs/ssl-cert-snakeoil.pem"]
    san = clean_lab.run("h2", "openssl x509 -noout -ext subjectAltName "
                              "-in /etc/dovecot/private/dovecot.pem").stdout
    assert san.split()[-1] == "DNS:h2.test"  # like a public CA's: the name only
    assert clean_lab.host("h2").address not in san and "127.0.0.1" not in san
    php = ('include "/etc/roundcube/config.inc.php"; '
           'echo json_encode($config["imap_host"]), " ", strlen($config["des_key"]);')
    keys = {h.name: clean_lab.run(h.name, "grep des_key /etc/roundcube/config.inc.php").stdout
            for h in clean_lab.hosts()[:3]}
    rc = clean_lab.run("h1", f"php -r '{php}'")
    assert rc.stdout == '["localhost:143"] 24'  # Debian's own config, its own des_key
    assert len(set(keys.values())) == 3


def test_ssh_with_strict_known_hosts(clean_lab: Lab) -> None:
    for h in clean_lab.hosts()[:3]:
        proc = ssh(clean_lab, h.address, "hostname; id -u; echo $HOME")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [f"{h.name}.test", "0", "/root"]


def test_ssh_refuses_a_wrong_host_key(clean_lab: Lab, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    lines = clean_lab.known_hosts_path.read_text().splitlines()
    h1, h2 = lines[0].split(), lines[1].split()
    wrong.write_text(f"{h1[0]} {h2[1]} {h2[2]}\n")  # h1's name with h2's key
    proc = subprocess.run(
        ["ssh", "-i", str(clean_lab.key_path), "-o", f"UserKnownHostsFile={wrong}",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", f"root@{clean_lab.host('h1').address}", "true"],
        capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in proc.stderr


def test_inventory_describes_the_hosts(clean_lab: Lab) -> None:
    import yaml

    inventory = yaml.safe_load(clean_lab.inventory_path.read_text())
    hosts = inventory["all"]["hosts"]
    assert {"h1", "h2", "h3"} <= set(hosts)
    assert hosts["h1"]["ansible_host"] == clean_lab.host("h1").address
    assert hosts["h1"]["ansible_user"] == "root"
    assert hosts["h1"]["ansible_ssh_private_key_file"] == str(clean_lab.key_path)
    assert hosts["h1"]["mailstate_known_hosts_file"] == str(clean_lab.known_hosts_path)
    assert hosts["h2"]["mail_hostname"] == "h2.test"  # the name on its certificate
    assert not any("release" in key for host in hosts.values() for key in host)
    assert inventory["all"]["vars"]["mailstate_states"] == ["hardened"]


@pytest.mark.parametrize("path", ["/etc/postfix/main.cf", "/etc/dovecot/conf.d/10-ssl.conf",
                                  "/etc/postfix/master.cf"])
def test_stock_files_are_debians(clean_lab: Lab, path: str) -> None:
    """Only main.cf is generated (Debian's template + TLS block); others are the packages'."""
    inside = clean_lab.run("h1", f"cat {path}").stdout
    if path.endswith("main.cf"):
        assert inside.startswith(Path("/usr/share/postfix/main.cf.debian").read_text())
        assert "smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem\n" in inside
    else:
        assert inside == Path(path).read_text()


def test_paramiko_connects_with_strict_host_keys(clean_lab: Lab) -> None:
    import paramiko

    h = clean_lab.host("h3")
    client = paramiko.SSHClient()
    client.load_host_keys(str(clean_lab.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(h.address, username="root", key_filename=str(clean_lab.key_path),
                   look_for_keys=False, allow_agent=False, timeout=10)
    try:
        _, stdout, _ = client.exec_command("postconf -h myhostname")
        assert stdout.read().decode().strip() == "h3.test"
    finally:
        client.close()


def test_tls_chain_verifies_with_the_lab_ca(clean_lab: Lab) -> None:
    h = clean_lab.host("h2")
    context = ssl.create_default_context(cafile=str(clean_lab.ca_path))
    with socket.create_connection((h.address, 993), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="h2.test") as tls:
        assert tls.recv(64).startswith(b"* OK")
    # like a public CA's: the DNS name only, never the address
    with socket.create_connection((h.address, 993), timeout=5) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname=h.address)
