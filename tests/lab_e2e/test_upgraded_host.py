"""A Debian 12 host upgraded in place to Debian 13, on a real Debian 13 lab host.

h2 (Debian 13, Dovecot 2.4) is given h1's (Debian 12's) stock /etc/dovecot, as an
upgrade leaves it: the running Dovecot keeps its config, the files are 2.3's. From one
inventory with h1 beside it, `mailstate plan` must show what the state changes on h2 and
name, file:line, each line 2.4 refuses (2.4's own doveconf agrees on the first one),
with the 2.4 name; `mailstate apply --yes` converges h1 and refuses h2 with nothing
changed there: same files, same daemons, same listeners.
"""

from __future__ import annotations

import re
from pathlib import Path

from mailstate.lab import Lab
from tests.engine.conftest import listeners, mailstate
from tests.lab_e2e.conftest import tmp_inventory

TREES = "/etc/dovecot /etc/postfix /etc/roundcube"
_DOVECONF_ERROR = re.compile(r"Error in configuration file (\S+) line (\d+)")


def give_h2_the_dovecot_of_h1(lab: Lab) -> None:
    """Copy h1's /etc/dovecot over h2's, through each host's own namespaces."""
    tree = lab.run("h1", "tar -C /etc -czf - dovecot | base64", check=True).stdout
    lab.run("h2", "rm -rf /etc/dovecot/* && base64 -d | tar -C /etc -xzf -", input=tree,
            check=True)


def snapshot(lab: Lab) -> tuple[str, str, set[str]]:
    """sha256 of every file in h2's managed trees, its daemons' pids, its listeners."""
    files = lab.run("h2", f"find {TREES} -type f | sort | xargs sha256sum", check=True).stdout
    pids = lab.run("h2", "cat /run/dovecot/master.pid /var/spool/postfix/pid/master.pid",
                   check=True).stdout
    return files, pids, listeners(lab, "h2")


def line_of(lab: Lab, path: str, pattern: str) -> int:
    """The line number of the first line of `path` on h2 starting with `pattern`."""
    out = lab.run("h2", f"grep -n -m1 '^{pattern}' {path}", check=True).stdout
    return int(out.split(":", 1)[0])


def test_plan_names_each_refused_line_and_apply_leaves_the_host_alone(
        mixed_lab: Lab, tmp_path: Path) -> None:
    give_h2_the_dovecot_of_h1(mixed_lab)
    first = _DOVECONF_ERROR.search(mixed_lab.run("h2", "doveconf -n").stderr)
    assert first, "Dovecot 2.4 accepted a 2.3 tree?"
    inventory = tmp_inventory(mixed_lab, tmp_path, ["hardened"])

    plan = mailstate("plan", "-i", inventory, "--limit", "h2", "--json")
    assert plan.code == 1, plan.stdout + plan.stderr  # errors: 1 (docs/design.md "Releases")
    assert "Traceback" not in plan.stderr
    [host] = plan.json()["hosts"]
    assert host["versions"]["dovecot"].startswith("1:2.4.")
    # what the state changes, written the 2.4 way, is shown next to the refusals
    diffs = "\n".join(c["diff"] for c in host["changes"])
    assert "+    listen = 127.0.0.1" in diffs and "+auth_allow_cleartext = no" in diffs
    lines = {(e["location"]["file"], e["location"]["line"]): e for e in host["errors"]
             if e["location"] and e["location"]["line"]}
    assert all(e["code"] == "dovecot-2.3-config" for e in host["errors"])
    assert (first.group(1), int(first.group(2))) in lines  # 2.4's own first complaint
    ssl_conf, mail_conf = "/etc/dovecot/conf.d/10-ssl.conf", "/etc/dovecot/conf.d/10-mail.conf"
    for file, setting, new in ((ssl_conf, "ssl_cert", "ssl_server_cert_file"),
                               (ssl_conf, "ssl_key", "ssl_server_key_file"),
                               (mail_conf, "mail_location", "mail_driver")):
        refused = lines[(file, line_of(mixed_lab, file, f"{setting} ="))]
        assert refused["extra"]["setting"] == setting and new in refused["extra"]["new"]
    plugin = lines[("/etc/dovecot/conf.d/90-plugin.conf",
                    line_of(mixed_lab, "/etc/dovecot/conf.d/90-plugin.conf", "plugin {"))]
    assert "no plugin section" in plugin["summary"]
    human = mailstate("plan", "-i", inventory, "--limit", "h2")
    assert human.code == 1 and "Traceback" not in human.stderr
    ssl_cert_line = line_of(mixed_lab, ssl_conf, "ssl_cert =")
    assert f"{ssl_conf}:{ssl_cert_line}: error [dovecot-2.3-config]: ssl_cert: Dovecot 2.4 " \
           "calls it ssl_server_cert_file" in human.stdout + human.stderr

    before = snapshot(mixed_lab)
    applied = mailstate("apply", "-i", inventory, "--yes", "--json")
    assert applied.code == 1, applied.stdout + applied.stderr
    results = {h["host"]: h for h in applied.json()["hosts"]}
    assert results["h1"]["status"] == "applied"  # the rest of the fleet is still done
    h2 = results["h2"]
    assert h2["status"] == "failed" and h2["written"] == [] and h2["backup"] is None
    assert h2["round_trips"] == 1  # facts only: no lock taken, nothing staged
    assert snapshot(mixed_lab) == before
    assert mixed_lab.run("h2", "ls -A /var/lib/mailstate 2>/dev/null").stdout == ""
