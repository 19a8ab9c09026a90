"""The TLS scan against real Postfix and Dovecot, compared with nmap's ssl-enum-ciphers.

On the same host, for the same ports, the versions and weak cipher classes mailstate
reports must be exactly those nmap lists: first on a hardened host, then on the same
host deliberately weakened the way the review found it (submission re-opened to TLS
1.0 with anonymous suites offered; here NULL suites and Dovecot too). Then the
certificate name: checked against `mail_hostname` or the inventory name, never the
connect address.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from labhelpers import STATE, cafile, mail_hostname, named_inventory, run_cli

from mailstate.audit.results import HostReport, ProbeOptions
from mailstate.audit.runner import Target, audit
from mailstate.commands.audit import load_state
from mailstate.expectations import expected_listeners

PORTS = (25, 465, 587, 995)  # STARTTLS and implicit, Postfix and Dovecot
ALL_TLS = {"TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
MODERN = {"TLSv1.2", "TLSv1.3"}
# Postfix on Debian 12's OpenSSL 3: TLS 1.0 back on the mandatory-TLS services, the
# anonymous exclusion dropped, NULL suites added; @SECLEVEL=0 lets OpenSSL 3 serve them.
WEAKEN_POSTFIX = ("postconf -e 'smtpd_tls_mandatory_protocols = >=TLSv1' "
                  "'smtpd_tls_mandatory_exclude_ciphers =' "
                  "'tls_medium_cipherlist = aNULL:-aNULL:HIGH:MEDIUM:eNULL:+RC4:@STRENGTH"
                  ":@SECLEVEL=0' && postfix reload")
# Appended to dovecot.conf: later settings win over the profile's (it sets them there).
WEAKEN_DOVECOT = ("printf 'ssl_min_protocol = TLSv1\\nssl_cipher_list = "
                  "ALL:COMPLEMENTOFALL:@SECLEVEL=0\\n' >> /etc/dovecot/dovecot.conf"
                  " && doveconf -n >/dev/null && doveadm reload")
# Reloads take effect a moment later: wait, with OpenSSL's own client inside the host,
# until TLS 1.0 is served on both daemons (never with what is under test).
AWAIT_TLS10 = ("for i in $(seq 100); do "
               "echo | openssl s_client -connect 127.0.0.1:995 -tls1 -cipher ALL:@SECLEVEL=0 "
               ">/dev/null 2>&1 && echo QUIT | openssl s_client -starttls smtp -connect "
               "127.0.0.1:587 -tls1 -cipher ALL:@SECLEVEL=0 >/dev/null 2>&1 && exit 0; "
               "sleep 0.1; done; exit 1")
Seen = dict[int, tuple[set[str], set[str]]]


def weak_classes_of(name: str) -> set[str]:
    """nmap's cipher names (IANA's) -> the classes, read independently of mailstate."""
    rules = {"anonymous": "_anon_", "export": "EXPORT", "null": "_WITH_NULL_",
             "rc4": "_RC4_", "3des": "3DES"}
    return {kind for kind, marker in rules.items() if marker in name}


def nmap_tls(address: str) -> Seen:
    """Per port: the versions nmap's ssl-enum-ciphers lists, and the weak classes of the
    suites it lists under them."""
    assert shutil.which("nmap"), "nmap is needed for the comparison (apt-get install nmap)"
    xml = subprocess.run(["nmap", "-Pn", "-n", "-p", ",".join(map(str, PORTS)),
                          "--script", "ssl-enum-ciphers", "-oX", "-", address],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    seen: Seen = {}
    for port in ET.fromstring(xml).iter("port"):
        versions: set[str] = set()
        classes: set[str] = set()
        for script in port.iter("script"):
            if script.get("id") != "ssl-enum-ciphers":
                continue
            for table in script.findall("table"):
                if not (table.get("key") or "").startswith(("SSLv", "TLSv")):
                    continue
                versions.add(str(table.get("key")))
                for elem in table.iter("elem"):
                    if elem.get("key") == "name":
                        classes |= weak_classes_of(elem.text or "")
        seen[int(port.get("portid", "0"))] = (versions, classes)
    return seen


def mailstate_tls(report: HostReport) -> Seen:
    seen: Seen = {}
    for port in report.ports:
        scan = port.observation.scan
        if port.observation.port in PORTS and scan is not None:
            seen[port.observation.port] = (set(scan.versions), set(scan.weak_classes))
    return seen


def audit_h3(lab: Any, address: str) -> tuple[HostReport, float]:
    target = Target("h3", address, tuple(expected_listeners(load_state(str(STATE)))),
                    state_known=True, expected_name=mail_hostname("h3"))
    started = time.monotonic()
    [report] = audit([target], ProbeOptions(timeout=3, cafile=cafile(lab)))
    return report, time.monotonic() - started


def findings_at(report: HostReport, port: int) -> list[tuple[str, str]]:
    return sorted((f.code, f.severity) for p in report.ports if p.observation.port == port
                  for f in p.findings)


def test_hardened_then_weakened_host_seen_like_nmap(clean_lab: Any, hardened_h3: Any) -> None:
    hardened = hardened_h3
    report, took = audit_h3(clean_lab, hardened.address)
    seen = mailstate_tls(report)
    assert seen == nmap_tls(hardened.address)
    assert seen == {25: (ALL_TLS, {"anonymous"}), 465: (MODERN, set()),
                    587: (MODERN, set()), 995: (MODERN, set())}
    assert report.ok, "\n".join(f.format() for f in report.all_findings())
    assert findings_at(report, 25) == [("tls-version-old", "info"), ("weak-cipher", "info")]
    assert took < 5, f"audit of one host took {took:.1f}s"

    clean_lab.run("h3", WEAKEN_POSTFIX, check=True)
    clean_lab.run("h3", WEAKEN_DOVECOT, check=True)
    clean_lab.run("h3", AWAIT_TLS10, check=True)
    report, _ = audit_h3(clean_lab, hardened.address)
    seen = mailstate_tls(report)
    assert seen == nmap_tls(hardened.address)
    weak = (ALL_TLS, {"anonymous", "null"})
    assert seen == {25: weak, 465: weak, 587: weak, 995: weak}
    for port in (465, 587, 995):  # TLS is mandatory there: errors
        assert findings_at(report, port) == [("tls-version-old", "error"),
                                             ("weak-cipher", "error"),
                                             ("weak-cipher", "error")], port
    assert {s for _, s in findings_at(report, 25)} == {"info"}  # opportunistic
    assert not report.ok


def test_certificate_checked_against_the_expected_name(clean_lab: Any, tmp_path: Path) -> None:
    """Three inventory entries for the same stock host: named by its IP with
    mail_hostname, by an alias with mail_hostname, and by an alias without: only the
    last one fails, and only on the name (the chain verifies)."""
    address = clean_lab.host("h1").address
    inventory = named_inventory(clean_lab, tmp_path, {
        address: {"lab": "h1", "mail_hostname": "h1.test"},
        "mx-by-alias": {"lab": "h1", "mail_hostname": "h1.test"},
        "mx-unnamed": {"lab": "h1"}}, with_state=False)
    result = run_cli("-i", str(inventory), "--cafile", cafile(clean_lab), "--no-ssh",
                     "--timeout", "3", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    for name in (address, "mx-by-alias"):
        assert hosts[name]["ok"] and hosts[name]["expected_name"] == "h1.test", name
        imaps = next(p for p in hosts[name]["ports"] if p["port"] == 993)
        assert imaps["tls"]["verified"] is True and imaps["tls"]["name_matched"] is True
        assert imaps["scan"]["versions"] == ["TLSv1.2", "TLSv1.3"]
        assert "DNS:h1.test" in imaps["tls"]["cert"]["san"]
        assert imaps["tls"]["cert"]["subject"] == "CN=h1.test"
        assert imaps["tls"]["cert"]["days_left"] > 21
    unnamed = hosts["mx-unnamed"]
    assert not unnamed["ok"] and unnamed["expected_name"] == "mx-unnamed"
    errors = [f for p in unnamed["ports"] for f in p["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == ["cert-name-mismatch"]
    assert errors[0]["summary"] == ("certificate on 25, 110, 143, 993, 995 is not valid "
                                    "for mx-unnamed")
    assert "mail_hostname" in errors[0]["fix"]
