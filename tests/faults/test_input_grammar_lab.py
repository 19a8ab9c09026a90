"""Nothing a state says can inject a line, leak a secret or write outside its file (#16).

Each hostile state of issue #16 goes through the real CLI against a real lab host: it is
refused with file:line:column before any host is touched (the host's files and services
stay as they were: the master.cf newline case must not open port 2525), secrets never
reach any output, and a live config.inc.php ending in `?>` keeps every new statement
inside PHP code. The model-level cases (one per value kind) are in
tests/model/test_input_grammar.py; here each is proven end to end once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.engine.conftest import write_inventory
from tests.faults.conftest import HOST, cli, no_traceback, tree_digest
from tests.model.test_input_grammar import CASES, OPEN_RELAY

REFUSED = ["master-command-newline", "master-option-brace", "master-option-newline",
           "map-content-newline", "map-key-space", "map-key-comment", "main-nul",
           "main-newline", "main-lone-dollar", "dovecot-section-quote", "dovecot-value-file",
           "roundcube-key-quote"]


def _inventory(lab: Lab, tmp: Path, text: str) -> tuple[Path, str]:
    state = tmp / "state.yaml"
    state.write_text(text)
    return state, str(write_inventory(lab, tmp / "inv.yaml", [str(state)]))


def test_hostile_values_are_refused_before_any_host(lab: Lab, tmp_path: Path) -> None:
    before = tree_digest(lab)
    for case in REFUSED:
        text, where, words = CASES[case]
        state, inventory = _inventory(lab, tmp_path, text)
        out = cli("apply", "-i", inventory, "--limit", HOST, "--yes")
        no_traceback(out)
        assert out.code == 1, (case, out.stdout)
        assert f"{state}:{where}: error" in out.stdout + out.stderr, (case, out.stdout)
        assert words in out.stdout + out.stderr, case
    assert tree_digest(lab) == before


def test_a_newline_in_a_command_opens_no_relay(lab: Lab, tmp_path: Path) -> None:
    """The reproduced attack: `command: "smtpd\\n2525 inet ... permit"`. lint reports it,
    plan and apply refuse it, and the host gets no new service and no port 2525."""
    state, inventory = _inventory(lab, tmp_path, CASES["master-command-newline"][0])
    lint = cli("lint", "-i", inventory, "--limit", HOST)
    assert lint.code == 1 and f"{state}:4:16: error" in lint.stdout
    for command in (("plan",), ("apply", "--yes")):
        out = cli(*command, "-i", inventory, "--limit", HOST)
        no_traceback(out)
        assert out.code == 1 and "a newline" in out.stdout + out.stderr
    services = [line.split()[:2] for line in lab.run(HOST, "postconf -M").stdout.splitlines()]
    assert ["2525", "inet"] not in services
    assert not any(line.startswith("2525/") for line in
                   lab.run(HOST, "postconf -P").stdout.splitlines())
    assert ":2525 " not in lab.run(HOST, "ss -ltnH").stdout
    assert OPEN_RELAY.split("\\n")[1] not in lab.run(HOST, "cat /etc/postfix/master.cf").stdout


@pytest.mark.parametrize("path", ["/etc/ssh/authorized_keys", "/etc/shadow"])
def test_a_map_cannot_write_or_show_a_file_outside_etc_postfix(
        lab: Lab, tmp_path: Path, path: str) -> None:
    sensitive = lab.run(HOST, f"cat {path}").stdout
    words = [w for line in sensitive.splitlines() for w in line.split(":") if len(w) > 12]
    state, inventory = _inventory(lab, tmp_path, (
        f"postfix:\n  maps:\n    {path}:\n      type: texthash\n      entries:\n"
        "        root: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil attacker'\n"))
    before = lab.run(HOST, f"sha256sum {path}").stdout
    for command in (("plan",), ("plan", "--json"), ("apply", "--yes")):
        out = cli(*command, "-i", inventory, "--limit", HOST)
        no_traceback(out)
        assert out.code == 1, out.stdout
        assert f"{state}:3:5: error" in out.stdout + out.stderr or path in out.stdout
        assert "allow_paths" in out.stdout + out.stderr
        for word in words:  # the old contents (host keys, password hashes) never shown
            assert word not in out.stdout + out.stderr
    assert lab.run(HOST, f"sha256sum {path}").stdout == before


SECRET_STATE = """
postfix:
  master:
    submission/inet:
      command: smtpd
      options:
        smtpd_sasl_path: !secret {new}
  maps:
    /etc/postfix/sasl_passwd:
      type: hash
      secret: true
      entries:
        "[b.example]:587": "u:{new}"
roundcube:
  config:
    smtp_pass: "{new}"
"""
SUBMISSION = "submission inet n       -       y       -       -       smtpd"
LIVE_SASL = "# old: u:{other}\n[a.example]:587 u:{other}\n[b.example]:587 u:{old}\n"
LIVE_RC = (
    "$config['smtp_pass'] = '{old}';\n"
    "$config['ldap_public']['corp'] = ['hosts' => ['ldap'], 'bind_pass' => '{other}'];\n"
    "$config['api_token'] = '{other}';\n")


def test_secrets_are_masked_on_both_sides_and_in_show(clean_lab: Lab, tmp_path: Path) -> None:
    old, new, other = "Old-pw-4242", "New-pw-4343", "Other-pw-4444"
    clean_lab.run(HOST, f"printf '{LIVE_SASL.format(old=old, other=other)}' > "
                        "/etc/postfix/sasl_passwd && chmod 600 /etc/postfix/sasl_passwd && "
                        "postmap /etc/postfix/sasl_passwd")
    rc = LIVE_RC.format(old=old, other=other).replace("'", "'\\''")
    clean_lab.run(HOST, f"printf '%s' '{rc}' >> /etc/roundcube/config.inc.php")
    clean_lab.run(HOST, f"sed -i 's|^#submission inet.*|{SUBMISSION}\\n  -o smtpd_sasl_path="
                        f"{old}|' /etc/postfix/master.cf")
    assert f"submission/inet/smtpd_sasl_path = {old}" in clean_lab.run(HOST, "postconf -P").stdout
    _, inventory = _inventory(clean_lab, tmp_path, SECRET_STATE.format(new=new))
    outputs = [cli("plan", "-i", inventory, "--limit", HOST),
               cli("plan", "-i", inventory, "--limit", HOST, "--json"),
               cli("show", HOST, "-i", inventory),
               cli("show", HOST, "-i", inventory, "--json")]
    plan = json.loads(outputs[1].stdout)["hosts"][0]
    changed = {c["path"] for c in plan["changes"]}
    assert {"/etc/postfix/sasl_passwd", "/etc/postfix/master.cf",
            "/etc/roundcube/config.inc.php"} <= changed, plan
    outputs.append(cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json"))
    for out in outputs:
        no_traceback(out)
        for secret in (old, new, other):
            assert secret not in out.stdout + out.stderr, (secret, out.stdout)
    assert outputs[-1].code == 0, outputs[-1].stdout
    assert f"u:{new}" in clean_lab.run(HOST, "cat /etc/postfix/sasl_passwd").stdout
    assert f"u:{other}" in clean_lab.run(HOST, "cat /etc/postfix/sasl_passwd").stdout


def test_new_roundcube_keys_stay_before_a_closing_php_tag(clean_lab: Lab,
                                                          tmp_path: Path) -> None:
    """A live config.inc.php whose last line ends with `?>`: new statements used to land
    after it, so PHP printed them (a password) to every web client."""
    path = "/etc/roundcube/config.inc.php"
    clean_lab.run(HOST, f"c=$(cat {path}) && printf '%s ?>\\n' \"$c\" > {path}")
    assert clean_lab.run(HOST, f"tail -n 1 {path}").stdout == \
        "$config['enable_spellcheck'] = false; ?>\n"
    _, inventory = _inventory(clean_lab, tmp_path, (
        "roundcube:\n  config:\n    mail_domain: example.test\n"
        "    imap_auth_pass: K3y-not-in-page-42\n"))  # both new keys: appended
    out = cli("apply", "-i", inventory, "--limit", HOST, "--yes")
    assert out.code == 0, out.stdout + out.stderr
    printed = clean_lab.run(HOST, f"php {path}")
    assert printed.stdout == "" and printed.returncode == 0  # nothing reaches a web page
    read = clean_lab.run(HOST, "php -r '$config = []; include \"" + path + "\"; echo "
                               "$config[\"mail_domain\"], \" \", $config[\"imap_auth_pass\"];'")
    assert read.stdout == "example.test K3y-not-in-page-42"
    again = cli("plan", "-i", inventory, "--limit", HOST)
    assert again.code == 0, again.stdout  # converged: nothing appended again


DYNAMICMAPS_ATTACK = """\
postfix:
  main:
    transport_maps: "pwn:id>/tmp/pwned"
  maps:
    /etc/postfix/dynamicmaps.cf:
      type: texthash
      entries:
        pwn: /lib/x86_64-linux-gnu/libc.so.6 system
"""


def test_postfixs_own_files_are_never_written_as_a_map(lab: Lab, tmp_path: Path) -> None:
    """dynamicmaps.cf is under /etc/postfix but is no lookup table: it names the shared
    library Postfix loads, as root, for a table type. Written as a "map" (the attack
    above: a `pwn` type backed by libc's `system`), it would run a command at reload;
    plan and apply refuse it at its file:line and the host keeps its own file."""
    state, inventory = _inventory(lab, tmp_path, DYNAMICMAPS_ATTACK)
    before = tree_digest(lab)
    live = lab.run(HOST, "sha256sum /etc/postfix/dynamicmaps.cf").stdout
    for command in (("lint", "-i", inventory), ("plan", "-i", inventory),
                    ("apply", "-i", inventory, "--yes")):
        out = cli(*command, "--limit", HOST)
        no_traceback(out)
        assert out.code == 1, (command, out.stdout)
        assert f"{state}:5:5: error" in out.stdout + out.stderr, out.stdout
        assert "one of Postfix's own files" in out.stdout + out.stderr
    assert lab.run(HOST, "sha256sum /etc/postfix/dynamicmaps.cf").stdout == live
    assert tree_digest(lab) == before
    assert lab.run(HOST, "test -e /tmp/pwned; echo $?").stdout.strip() == "1"
