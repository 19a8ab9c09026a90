"""Bad input, end to end through the CLI: a clear error (exit 1, no traceback), hosts untouched.

Input files (state, inventory, --limit) are refused before any host is contacted; odd
live files (non-UTF-8 bytes, CRLF, no final newline) are edited losslessly; broken live
files (missing Dovecot include, invalid PHP) are refused with file and line. Unit-level
cases of the same parsers live in tests/model and tests/formats.
"""

from __future__ import annotations

import json
import random
import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mailstate.lab import Lab
from tests.engine.conftest import write_inventory
from tests.faults.conftest import HOST, cli, no_traceback, tree_digest

SMALL = "postfix:\n  main:\n    smtp_tls_note_starttls_offer: yes\n"
NEW_LINE = b"smtp_tls_note_starttls_offer = yes\n"
GARBAGE = random.Random(9).randbytes(4096)


def _huge_state(path: Path) -> None:
    with path.open("w") as out:
        out.write("postfix:\n  maps:\n    /etc/postfix/big:\n      entries:\n")
        line = "        k{}.example: " + "x" * 60 + "\n"
        out.writelines(line.format(i) for i in range(700_000))  # ~52 MB


def _cycle_inventory(lab: Lab, path: Path) -> None:
    document = lab.inventory()
    document["all"]["children"] = {  # type: ignore[index]
        "a": {"children": {"b": {"children": {"a": None}}}}}
    path.write_text(yaml.safe_dump(document))


# id -> (prepare(lab, tmp) -> CLI args after `apply`, what the message must say)
Case = Callable[[Lab, Path], list[str]]


def _with_state(content: bytes | str | Callable[[Path], None]) -> Case:
    def prepare(lab: Lab, tmp: Path) -> list[str]:
        state = tmp / "state.yaml"
        if callable(content):
            content(state)
        else:
            state.write_bytes(content.encode() if isinstance(content, str) else content)
        return ["-i", str(write_inventory(lab, tmp / "inv.yaml", [str(state)]))]
    return prepare


def _with_inventory(write: Callable[[Lab, Path], None]) -> Case:
    def prepare(lab: Lab, tmp: Path) -> list[str]:
        write(lab, tmp / "inv.yaml")
        return ["-i", str(tmp / "inv.yaml")]
    return prepare


def _unknown_limit(lab: Lab, tmp: Path) -> list[str]:
    # An unknown name only warns (as in Ansible: `h1,nosuch` applies to h1); a limit
    # that selects no host at all is refused.
    state = tmp / "state.yaml"
    state.write_text(SMALL)
    return ["-i", str(write_inventory(lab, tmp / "inv.yaml", [str(state)])),
            "--limit", "nosuch,h9*"]


CASES: dict[str, tuple[Case, str]] = {
    "malformed-yaml": (_with_state("postfix:\n  main: [unclosed\n"), "invalid YAML"),
    "wrong-type": (_with_state("postfix:\n  main:\n    smtpd_tls_security_level: [may]\n"),
                   "smtpd_tls_security_level"),
    "unknown-key": (_with_state("postfix:\n  mian:\n    myhostname: x\n"), "mian"),
    "binary-state": (_with_state(GARBAGE), "state.yaml"),
    "huge-state": (_with_state(_huge_state), "are refused"),
    "unknown-limit": (_unknown_limit, "nosuch"),
    "inventory-cycle": (_with_inventory(_cycle_inventory), "group cycle"),
    "binary-inventory": (_with_inventory(lambda _, p: p.write_bytes(GARBAGE)), "inv.yaml"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_before_any_host(lab: Lab, tmp_path: Path, case: str) -> None:
    prepare, expect = CASES[case]
    args = prepare(lab, tmp_path)
    before = tree_digest(lab)
    started = time.monotonic()
    out = cli("apply", *args, "--yes", timeout=60)
    no_traceback(out)
    assert out.code == 1, out.stdout + out.stderr
    assert expect in out.stdout + out.stderr, out.stdout + out.stderr
    assert time.monotonic() - started < 30
    assert tree_digest(lab) == before


@pytest.mark.parametrize("command", ["lint", "show", "plan"])
def test_oversized_state_is_refused_by_every_command_that_reads_it(
        lab: Lab, tmp_path: Path, command: str) -> None:
    """The 8 MB cap sits where YAML is read, so lint and show refuse at once too."""
    inventory = _with_state(_huge_state)(lab, tmp_path)
    args = {"lint": ["lint", str(tmp_path / "state.yaml")],
            "show": ["show", *inventory, next(iter(lab.inventory()["all"]["hosts"]))],  # type: ignore[index]
            "plan": ["plan", *inventory]}[command]
    started = time.monotonic()
    out = cli(*args, timeout=60)
    no_traceback(out)
    assert out.code == 1, out.stdout + out.stderr
    assert "are refused" in out.stdout + out.stderr
    assert "state.yaml" in out.stdout + out.stderr
    assert time.monotonic() - started < 10


# -- odd live files: edited losslessly ---------------------------------------------------

def _small_inventory(lab: Lab, tmp: Path, state: str = SMALL) -> str:
    (tmp / "state.yaml").write_text(state)
    return str(write_inventory(lab, tmp / "inv.yaml", [str(tmp / "state.yaml")]))


def _read(lab: Lab, path: str) -> bytes:
    return bytes.fromhex(lab.run(HOST, f"od -An -v -tx1 {path} | tr -d ' \\n'").stdout)


def _apply_then_idle(inventory: str) -> dict[str, object]:
    out = cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    no_traceback(out)
    assert out.code == 0, out.stdout + out.stderr
    assert cli("plan", "-i", inventory, "--limit", HOST).code == 0
    host: dict[str, object] = out.json()["hosts"][0]
    return host


@pytest.mark.parametrize(("case", "edit"), [
    ("non-utf8", "printf '# caf\\351 \\377\\376 latin-1 and junk bytes\\n' >> {f}"),
    ("crlf", "sed -i 's/$/\\r/' {f}"),
    ("no-final-newline", "printf %s \"$(cat {f})\" > {f}.new && cat {f}.new > {f} && rm {f}.new"),
], ids=["non-utf8", "crlf", "no-final-newline"])
def test_odd_live_main_cf_is_edited_losslessly(clean_lab: Lab, tmp_path: Path, case: str,
                                                edit: str) -> None:
    main = "/etc/postfix/main.cf"
    assert clean_lab.run(HOST, edit.format(f=main)).returncode == 0
    before = _read(clean_lab, main)
    inventory = _small_inventory(clean_lab, tmp_path)
    planned = cli("plan", "-i", inventory, "--limit", HOST, "--json")
    no_traceback(planned)
    assert planned.code == 2, planned.stdout + planned.stderr
    (change,) = planned.json()["hosts"][0]["changes"]
    added = [ln for ln in change["diff"].splitlines() if ln.startswith("+") and
             not ln.startswith("+++")]
    removed = [ln for ln in change["diff"].splitlines() if ln.startswith("-") and
               not ln.startswith("---")]
    _apply_then_idle(inventory)
    after = _read(clean_lab, main)
    if case == "crlf":
        assert after == before + NEW_LINE.replace(b"\n", b"\r\n")
        assert b"\n" not in after.replace(b"\r\n", b"")
    elif case == "no-final-newline":
        assert after.startswith(before) and NEW_LINE.rstrip() in after[len(before):]
        assert removed == [] or all(ln[1:] in before.decode() for ln in removed)
    else:
        assert after == before + NEW_LINE  # every foreign byte kept
        assert removed == []
    assert [a.rstrip("\r") for a in added][-1] == "+" + NEW_LINE.decode().strip()
    assert clean_lab.run(HOST, "postconf -h smtp_tls_note_starttls_offer").stdout.strip() \
        == "yes"


def test_crlf_roundcube_config_keeps_crlf(clean_lab: Lab, tmp_path: Path) -> None:
    path = "/etc/roundcube/config.inc.php"
    clean_lab.run(HOST, f"sed -i 's/$/\\r/' {path}")
    inventory = _small_inventory(clean_lab, tmp_path,
                                 "roundcube:\n  config:\n    smtp_host: tls://127.0.0.1:587\n")
    _apply_then_idle(inventory)
    after = _read(clean_lab, path)
    assert b"\n" not in after.replace(b"\r\n", b"")
    assert b"$config['smtp_host'] = 'tls://127.0.0.1:587';\r\n" in after


# -- broken live files: refused with file and line, nothing written ----------------------

@pytest.mark.parametrize(("setup", "state", "expect"), [
    ("echo '!include conf.d/nope.conf' >> /etc/dovecot/dovecot.conf",
     "dovecot:\n  settings:\n    ssl_min_protocol: TLSv1.2\n",
     ["/etc/dovecot/dovecot.conf", "nope.conf"]),
    ("printf '%s\\n' '<?php' '$config[\"des_key\"] = ;' > /etc/roundcube/config.inc.php",
     "roundcube:\n  config:\n    smtp_host: tls://127.0.0.1:587\n",
     ["/etc/roundcube/config.inc.php"]),
], ids=["missing-dovecot-include", "invalid-php"])
def test_broken_live_file_is_refused_with_its_location(clean_lab: Lab, tmp_path: Path,
                                                       setup: str, state: str,
                                                       expect: list[str]) -> None:
    assert clean_lab.run(HOST, setup).returncode == 0
    inventory = _small_inventory(clean_lab, tmp_path, state)
    before = tree_digest(clean_lab)
    out = cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    no_traceback(out)
    assert out.code == 1, out.stdout + out.stderr
    host = out.json()["hosts"][0]
    assert host["status"] == "failed" and host["written"] == []
    text = json.dumps(host["messages"])
    for word in expect:
        assert word in text, text
    assert any((m.get("location") or {}).get("line") for m in host["messages"]), text
    assert tree_digest(clean_lab) == before


def test_huge_live_main_cf_is_planned_in_bounded_time_and_memory(clean_lab: Lab,
                                                                 tmp_path: Path) -> None:
    """A 50 MB live main.cf (comment lines): the plan finishes, showing only the change."""
    filler = "# filler " + "x" * 96
    clean_lab.run(HOST, f"yes '{filler}' | head -n 500000 >> /etc/postfix/main.cf")
    inventory = _small_inventory(clean_lab, tmp_path)
    started = time.monotonic()
    out = cli("plan", "-i", inventory, "--limit", HOST, "--json", timeout=120)
    elapsed = time.monotonic() - started
    no_traceback(out)
    assert out.code == 2, out.stdout[-2000:] + out.stderr
    (change,) = out.json()["hosts"][0]["changes"]
    assert "+smtp_tls_note_starttls_offer = yes" in change["diff"]
    assert "-# filler" not in change["diff"]
    assert elapsed < 60
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kb < 1_000_000  # under 1 GB for a 50 MB file
