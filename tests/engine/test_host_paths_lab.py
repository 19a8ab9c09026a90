"""What is at a managed path on the host, and how the host scripts treat paths (issue #16).

Only regular files are managed: a link, directory, device or FIFO at a managed path is
refused at plan time with a message that says what is there. A path is data in every
host script (set -f, quoted, newline-separated lists): glob characters and spaces never
expand. Dovecot include files reached through links are read as Dovecot reads them and
reported; a change that would write through such a link is refused. What the host's
tools say back is masked with the state's secrets.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.engine.conftest import mailstate, write_inventory
from tests.faults.conftest import HOST, no_traceback, tree_digest

MAP_STATE = "postfix:\n  maps:\n    {path}:\n      type: hash\n      entries:\n" \
            "        example.com: encrypt\n"
SMALL = "postfix:\n  main:\n    smtp_tls_note_starttls_offer: yes\n"
ROUNDCUBE = "roundcube:\n  config:\n    smtp_host: tls://127.0.0.1:587\n"


def _inventory(lab: Lab, tmp: Path, state: str) -> str:
    (tmp / "state.yaml").write_text(state)
    return str(write_inventory(lab, tmp / "inv.yaml", [str(tmp / "state.yaml")]))


@pytest.mark.parametrize(("setup", "state", "path", "what"), [
    ("mv /etc/postfix/main.cf /etc/postfix/main.cf.real && "
     "ln -s main.cf.real /etc/postfix/main.cf", SMALL, "/etc/postfix/main.cf",
     "a symbolic link to main.cf.real"),
    ("mv /etc/roundcube/config.inc.php /etc/roundcube/real.php && "
     "ln -s /etc/roundcube/real.php /etc/roundcube/config.inc.php", ROUNDCUBE,
     "/etc/roundcube/config.inc.php", "a symbolic link to /etc/roundcube/real.php"),
    ("mknod /etc/postfix/devmap c 1 3", MAP_STATE.format(path="/etc/postfix/devmap"),
     "/etc/postfix/devmap", "a character device"),
    ("mkdir /etc/postfix/dirmap", MAP_STATE.format(path="/etc/postfix/dirmap"),
     "/etc/postfix/dirmap", "a directory"),
    ("mkdir /etc/postfix/somedir && ln -s /etc/postfix/somedir /etc/postfix/linkmap",
     MAP_STATE.format(path="/etc/postfix/linkmap"), "/etc/postfix/linkmap",
     "a symbolic link to /etc/postfix/somedir"),
    ("mkfifo /etc/postfix/fifomap", MAP_STATE.format(path="/etc/postfix/fifomap"),
     "/etc/postfix/fifomap", "a FIFO (named pipe)"),
], ids=["symlinked-main.cf", "symlinked-config.inc.php", "device", "directory",
        "symlink-to-directory", "fifo"])
def test_only_regular_files_are_managed(clean_lab: Lab, tmp_path: Path, setup: str,
                                        state: str, path: str, what: str) -> None:
    assert clean_lab.run(HOST, setup).returncode == 0
    inventory = _inventory(clean_lab, tmp_path, state)
    before = tree_digest(clean_lab)
    planned = mailstate("plan", "-i", inventory, "--limit", HOST, "--json", timeout=60)
    no_traceback(planned)
    assert planned.code == 1, planned.stdout + planned.stderr
    (problem,) = planned.json()["hosts"][0]["errors"]
    assert problem["code"] == "not-regular-file"
    assert problem["summary"] == f"{path} is {what}: mailstate manages only regular files"
    applied = mailstate("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    assert applied.code == 1 and applied.json()["hosts"][0]["written"] == []
    assert tree_digest(clean_lab) == before
    kind = clean_lab.run(HOST, f"stat -c %F {path}").stdout.strip()
    assert kind != "regular file" or path.endswith((".cf", ".php"))  # nothing replaced it


def test_glob_characters_and_spaces_in_paths_never_expand(clean_lab: Lab,
                                                          tmp_path: Path) -> None:
    """A managed file named `99 my*.conf` is one file of that name; the files the pattern
    would match are untouched. (A state cannot name such a path itself: the model refuses
    glob characters and blanks in the paths it writes, tests/model/test_owned_paths.py;
    a host's Dovecot include tree can hold one.)"""
    star = "/etc/dovecot/conf.d/99 my*.conf"
    clean_lab.run(HOST, f"printf 'login_greeting = star\\n' > '{star}' && "
                        "printf '# other\\n' > '/etc/dovecot/conf.d/99 myA.conf' && "
                        "cp '/etc/dovecot/conf.d/99 myA.conf' '/etc/dovecot/conf.d/99 myB.conf'",
                  check=True)
    others = "sha256sum '/etc/dovecot/conf.d/99 myA.conf' '/etc/dovecot/conf.d/99 myB.conf'"
    before = clean_lab.run(HOST, others).stdout
    inventory = _inventory(clean_lab, tmp_path,
                           "dovecot:\n  settings:\n    login_greeting: Ready here\n")
    applied = mailstate("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert applied.json()["hosts"][0]["written"] == [star]
    assert clean_lab.run(HOST, f"cat '{star}'").stdout == "login_greeting = Ready here\n"
    assert clean_lab.run(HOST, others).stdout == before
    assert _greeting(clean_lab) == "Ready here"
    assert mailstate("plan", "-i", inventory, "--limit", HOST).code == 0


LINKED = ("mkdir -p /etc/dovecot/shared && "
          "printf 'login_greeting = Linked ready\\n' > /etc/dovecot/shared/local.conf && "
          "ln -s ../shared/local.conf /etc/dovecot/conf.d/99-linked.conf")


def _greeting(lab: Lab) -> str:
    return lab.run(HOST, "doveconf -h login_greeting").stdout.strip()


def test_dovecot_include_through_a_link_is_read_as_dovecot_reads_it(
        clean_lab: Lab, tmp_path: Path) -> None:
    clean_lab.run(HOST, LINKED, check=True)
    assert _greeting(clean_lab) == "Linked ready"
    same = _inventory(clean_lab, tmp_path, "dovecot:\n  settings:\n"
                                           "    login_greeting: Linked ready\n")
    planned = mailstate("plan", "-i", same, "--limit", HOST, "--json")
    assert planned.code == 0, planned.stdout  # the linked value counts: nothing to do
    notes = [w for w in planned.json()["hosts"][0]["warnings"]
             if w["code"] == "read-through-link"]
    assert [n["summary"] for n in notes] == [
        f"{HOST}: /etc/dovecot/conf.d/99-linked.conf is read through a link to "
        "/etc/dovecot/shared/local.conf, as Dovecot's !include follows it"]


def test_a_change_that_would_write_through_a_link_is_refused(clean_lab: Lab,
                                                             tmp_path: Path) -> None:
    clean_lab.run(HOST, LINKED, check=True)
    before = tree_digest(clean_lab)
    other = _inventory(clean_lab, tmp_path, "dovecot:\n  settings:\n"
                                            "    login_greeting: Other\n")
    out = mailstate("apply", "-i", other, "--limit", HOST, "--yes", "--json")
    no_traceback(out)
    assert out.code == 1, out.stdout
    host = out.json()["hosts"][0]
    assert host["status"] == "failed" and host["written"] == []
    (refusal,) = [m for m in host["messages"] if m["code"] == "write-through-link"]
    assert "/etc/dovecot/conf.d/99-linked.conf" in refusal["summary"]
    assert "/etc/dovecot/shared/local.conf" in refusal["summary"]
    assert tree_digest(clean_lab) == before
    assert _greeting(clean_lab) == "Linked ready"  # never "converged" on another value


def test_a_linked_dovecot_conf_dir_is_read_but_never_written_through(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    clean_lab.run(HOST, "mv /etc/dovecot/conf.d /etc/dovecot/real-conf.d && "
                        "ln -s real-conf.d /etc/dovecot/conf.d", check=True)
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
    planned = mailstate("plan", "-i", inventory, "--limit", HOST, "--json")
    assert planned.code == 1, planned.stdout
    errors = planned.json()["hosts"][0]["errors"]
    assert {e["code"] for e in errors} == {"write-through-link"}, errors
    assert any("/etc/dovecot/conf.d/10-master.conf" in e["summary"]
               and "/etc/dovecot/real-conf.d" in e["summary"] for e in errors), errors


@pytest.mark.parametrize(("state", "masked"), [
    # postconf repeats an unused parameter with its value
    ("postfix:\n  main_extra:\n    mailstate_unused_x: !secret {secret}\n",
     "unused parameter: mailstate_unused_x=***"),
    # doveconf repeats a value it cannot read
    ("dovecot:\n  settings:\n    auth_cache_size: !secret {secret}\n", "Invalid size: ***"),
], ids=["postconf", "doveconf"])
def test_what_the_hosts_tools_say_back_is_masked(clean_lab: Lab, tmp_path: Path, state: str,
                                                 masked: str) -> None:
    """A host's tool repeats a secret value in its refusal: it is masked in the refusal,
    in the human view and in --json."""
    secret = "Sekrit-" + secrets.token_hex(8)
    inventory = _inventory(clean_lab, tmp_path, state.format(secret=secret))
    out = mailstate("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    assert out.code == 1, out.stdout
    (refusal,) = [m for m in out.json()["hosts"][0]["messages"] if m["code"] == "validation"]
    assert masked in refusal["detail"], refusal
    human = mailstate("apply", "-i", inventory, "--limit", HOST, "--yes")
    assert human.code == 1 and masked in human.stdout + human.stderr
    for text in (out.stdout, out.stderr, human.stdout, human.stderr):
        assert secret not in text
