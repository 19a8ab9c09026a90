"""`mailstate audit` against real lab hosts (Postfix + Dovecot), compared with nmap.

Stock Debian: 110/143 open (cleartext, TLS optional: Dovecot 2.3 answers LOGINDISABLED
before STARTTLS, so the finding is "cleartext port", not "plaintext login accepted"),
465/587 closed. Against the hardened state that is five errors. After hardening the
audit exits 0, and `ss` on the host proves 993 listens on 127.0.0.1.

Hardening is the real thing: `mailstate apply` of the lab inventory's state
(states/hardened.yaml) on h2.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from labhelpers import STATE, cafile, mail_hostname, named_inventory, run_cli, ss_of

from mailstate.audit.results import HostReport, ProbeOptions
from mailstate.audit.runner import Target, audit
from mailstate.expectations import ListenerExpectation, expected_listeners

MAIL_PORTS = (25, 110, 143, 465, 587, 993, 995)


def hardened_expectations() -> list[ListenerExpectation]:
    from mailstate.commands.audit import load_state

    return expected_listeners(load_state(str(STATE)))


def nmap_states(address: str) -> dict[int, str]:
    """nmap's view of the mail ports (tests only; audit itself never runs nmap)."""
    assert shutil.which("nmap"), "nmap is needed for the comparison (apt-get install nmap)"
    out = subprocess.run(["nmap", "-p", ",".join(map(str, MAIL_PORTS)), "-Pn", "-n", address],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {int(m[1]): m[2] for m in re.finditer(r"^(\d+)/tcp\s+(\w+)", out, re.M)}


def outside(report: HostReport) -> dict[int, str]:
    return {p.observation.port: p.observation.state for p in report.ports
            if p.observation.port in MAIL_PORTS}


def codes(report: HostReport) -> dict[int, list[str]]:
    return {p.observation.port: sorted(f.code for f in p.findings) for p in report.ports}


def test_stock_host_seen_like_nmap(clean_lab: Any) -> None:
    host = clean_lab.host("h1")
    [report] = audit([Target("h1", host.address, listeners=ss_of(clean_lab, "h1"),
                             expected_name=mail_hostname("h1"))],
                     ProbeOptions(timeout=3, cafile=cafile(clean_lab)))
    assert outside(report) == nmap_states(host.address)
    assert outside(report) == {25: "open", 110: "open", 143: "open", 465: "closed",
                               587: "closed", 993: "open", 995: "open"}
    found = codes(report)
    assert found[110] == found[143] == ["cleartext-port"]
    ports = {p.observation.port: p.observation for p in report.ports}
    assert "LOGINDISABLED" in ports[143].capabilities and ports[143].starttls
    for port in (25, 110, 143, 993, 995):
        tls = ports[port].tls
        assert tls is not None and tls.verified is True and tls.name_matched is True, port
        assert tls.cert is not None and "DNS:h1.test" in tls.cert.san
    assert report.ok  # warnings and information only: no state to contradict


def test_stock_host_against_hardened_state(clean_lab: Any) -> None:
    host = clean_lab.host("h1")
    [report] = audit([Target("h1", host.address, tuple(hardened_expectations()),
                             state_known=True, listeners=ss_of(clean_lab, "h1"),
                             expected_name=mail_hostname("h1"))],
                     ProbeOptions(timeout=3, cafile=cafile(clean_lab)))
    found = codes(report)
    assert found[110] == found[143] == ["cleartext-port", "port-open"]
    assert found[465] == found[587] == ["port-closed"]
    assert found[993] == ["port-open"]
    assert found[995] == []
    # stock Postfix on 25: TLS 1.0/1.1 and anonymous suites, fine for opportunistic TLS
    assert found[25] == ["tls-version-old", "weak-cipher"]
    assert {f.severity for p in report.ports if p.observation.port == 25
            for f in p.findings} == {"info"}
    assert not report.ok


def test_hardened_host_audit_exits_0(clean_lab: Any, hardened: Any) -> None:
    host = hardened
    [report] = audit([Target("h2", host.address, tuple(hardened_expectations()),
                             state_known=True, listeners=ss_of(clean_lab, "h2"),
                             expected_name=mail_hostname("h2"))],
                     ProbeOptions(timeout=3, cafile=cafile(clean_lab)))
    assert report.ok, "\n".join(f.format() for f in report.all_findings())
    assert outside(report) == nmap_states(host.address) == {
        25: "open", 110: "closed", 143: "closed", 465: "open", 587: "open", 993: "closed",
        995: "open"}
    ports = {p.observation.port: p for p in report.ports}
    assert ports[993].local_addresses == ("127.0.0.1",)
    submission = ports[587].observation
    assert submission.tls_required and not submission.login_before_tls
    assert submission.auth_after_tls  # the Dovecot SASL backend answers
    assert ports[465].observation.auth_after_tls


def test_cli_address_mode(clean_lab: Any) -> None:
    stock = clean_lab.host("h1")
    result = run_cli(stock.address, "--mail-hostname", "h1.test", "--timeout", "3",
                     "--cafile", cafile(clean_lab), "--json")
    assert result.returncode == 0, result.stderr  # no state: warnings only
    document = json.loads(result.stdout)
    [host] = document["hosts"]
    assert (host["address"], host["expected_name"]) == (stock.address, "h1.test")
    assert document["counts"]["warning"] == 2 and document["counts"]["error"] == 0
    assert document["counts"]["info"] == 2  # 25: TLS 1.0/1.1 and anonymous suites
    result = run_cli(stock.address, "--mail-hostname", "h1.test", "--timeout", "3",
                     "--no-tls-scan", "--json")
    document = json.loads(result.stdout)
    assert document["counts"]["info"] == 0
    assert all(p["scan"] is None for p in document["hosts"][0]["ports"])


def test_cli_address_mode_with_state(clean_lab: Any, hardened: Any) -> None:
    stock = clean_lab.host("h1")
    result = run_cli(stock.address, "--state", str(STATE), "--timeout", "3",
                     "--mail-hostname", "h1.test")
    assert result.returncode == 1
    assert "143 (imap) is reachable from outside but should be closed" in result.stdout
    result = run_cli(hardened.address, "--state", str(STATE), "--timeout", "3",
                     "--mail-hostname", "h2.test")
    assert result.returncode == 0, result.stdout


def test_ss_over_ssh_reads_the_hosts_sockets(clean_lab: Any) -> None:
    """The CLI's SSH step (strict host keys, the lab's key) returns the host's `ss` view."""
    from mailstate.commands.audit import ss_over_ssh
    from mailstate.expectations import parse_ss
    from mailstate.transport.ssh import SshOptions

    host = clean_lab.host("h1")
    spec = SimpleNamespace(name="h1", address=host.address, port=22, user="root",
                           key_file=str(clean_lab.key_path),
                           known_hosts_file=str(clean_lab.known_hosts_path), become=False,
                           vars={})
    sockets = parse_ss(ss_over_ssh(spec, SshOptions(connect_timeout=5))())  # type: ignore[arg-type]
    assert {s.port for s in sockets} == {22, 25, 110, 143, 993, 995, clean_lab.webmail_port}


def test_cli_inventory_mode(clean_lab: Any, hardened: Any, tmp_path: Path) -> None:
    """`mailstate audit -i` over the lab hosts: ss over SSH, state from the inventory."""
    inventory = str(named_inventory(clean_lab, tmp_path, {
        "h1": {"lab": "h1", "mail_hostname": "h1.test"},
        "h2": {"lab": "h2", "mail_hostname": "h2.test"}}))
    result = run_cli("-i", inventory, "--limit", "h2", "--cafile", cafile(clean_lab),
                     "--timeout", "3", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    [h2] = json.loads(result.stdout)["hosts"]
    assert h2["ssh_checked"] and h2["state_known"] and h2["ok"]
    ports = {p["port"]: p for p in h2["ports"]}
    assert ports[993]["listening_on"] == ["127.0.0.1"]
    assert ports[587]["tls"]["verified"] is True and ports[587]["tls"]["name_matched"] is True
    result = run_cli("-i", inventory, "--limit", "h1", "--timeout", "3")
    assert result.returncode == 1
    assert "993 (imaps) is reachable from outside but should be localhost only" in result.stdout
    assert "h1 (10.231." in result.stdout and "[state, ss checked]" in result.stdout
