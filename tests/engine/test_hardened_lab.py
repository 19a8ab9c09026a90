"""The product on real hosts: the hardened profile planned and applied to 3 stock lab hosts."""

from __future__ import annotations

from pathlib import Path

from mailstate.lab import Lab
from tests.engine.conftest import listeners, mailstate, ports, write_inventory

HOSTS = ("h1", "h2", "h3")


def postconf(lab: Lab, host: str, *args: str) -> str:
    return lab.run(host, "postconf " + " ".join(args)).stdout.strip()


def test_hardened_profile_converges_three_stock_hosts(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))

    first = mailstate("plan", "-i", inventory, "--json")
    assert first.code == 2, first.stderr
    planned = first.json()["hosts"]
    assert [h["host"] for h in planned] == list(HOSTS)
    for host in planned:
        assert host["changed"] and host["round_trips"] == 1
        paths = {c["path"] for c in host["changes"]}
        assert {"/etc/postfix/master.cf", "/etc/dovecot/conf.d/10-master.conf"} <= paths
        assert "postmap hash:/etc/postfix/tls_policy" in host["actions"]

    applied = mailstate("apply", "-i", inventory, "--yes", "--json")
    assert applied.code == 0, applied.stdout + applied.stderr
    for host in applied.json()["hosts"]:
        assert host["status"] == "applied"
        assert host["round_trips"] <= 4

    for host in HOSTS:
        assert postconf(clean_lab, host, "-h", "smtpd_tls_security_level",
                        "smtp_tls_security_level", "smtpd_sasl_type",
                        "smtp_tls_policy_maps").split("\n") == [
            "may", "may", "dovecot", "hash:/etc/postfix/tls_policy"]
        assert postconf(clean_lab, host, "-P", "submission/inet/smtpd_tls_security_level") \
            == "submission/inet/smtpd_tls_security_level = encrypt"
        assert postconf(clean_lab, host, "-P", "submissions/inet/smtpd_tls_wrappermode") \
            == "submissions/inet/smtpd_tls_wrappermode = yes"
        assert postconf(clean_lab, host, "-M", "smtp/inet").count("smtp ") == 1
        dove = clean_lab.run(host, "doveconf -h service/imap-login/inet_listener/imap/port "
                                   "service/imap-login/inet_listener/imaps/address").stdout
        assert dove.split() == ["0", "127.0.0.1"]
        assert clean_lab.run(host, "test -f /etc/postfix/tls_policy.db").returncode == 0
        open_ports = ports(clean_lab, host)
        assert {25, 465, 587, 995} <= open_ports
        assert not {110, 143} & open_ports
        assert {a for a in listeners(clean_lab, host) if a.endswith(":993")} == {"127.0.0.1:993"}

    second = mailstate("plan", "-i", inventory, "--json")
    assert second.code == 0, second.stdout
    assert not any(h["changed"] for h in second.json()["hosts"])

    again = mailstate("apply", "-i", inventory, "--yes", "--json")
    assert again.code == 0
    for host in again.json()["hosts"]:
        # unchanged: facts only, no lock, no swap script, so nothing was reloaded
        assert host["status"] == "unchanged" and host["round_trips"] == 1
        assert host["written"] == [] and host["backup"] is None


def test_human_plan_shows_exact_diff_and_masks_des_key(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
    des_key = clean_lab.run("h1", "php -r 'include \"/etc/roundcube/config.inc.php\"; "
                                  "echo $config[\"des_key\"];'").stdout.strip()
    assert len(des_key) >= 8
    out = mailstate("plan", "-i", inventory, "--limit", "h1")
    assert out.code == 2
    assert "+submission inet n       -       y       -       -       smtpd" in out.stdout
    assert "+  -o smtpd_tls_security_level=encrypt" in out.stdout
    assert "-#submission inet n       -       y       -       -       smtpd" in out.stdout
    assert "+$config['imap_host'] = 'ssl://localhost:993';" in out.stdout
    assert "+$config['imap_conn_options'] = ['ssl' => ['peer_name' => 'h1.test']];" \
        in out.stdout
    assert "action: reload dovecot" in out.stdout
    assert des_key not in out.stdout + out.stderr
