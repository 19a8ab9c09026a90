"""The cipher suite table against the two references installed here: OpenSSL and nmap.

The scan offers suites by code from its own table; a wrong code would make it ask for
the wrong thing, a missing one would miss a suite a server accepts. OpenSSL's list is
what a Postfix/Dovecot on Debian can accept at all; nmap's table is what the comparison
test reads back.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from mailstate.audit.suites import (
    LEGACY_SUITES,
    SUITES,
    TLS13_SUITES,
    WEAK_CLASSES,
    suites_of,
    weak_classes,
)

NMAP_TLS = Path("/usr/share/nmap/nselib/tls.lua")


def openssl_suites() -> dict[int, str]:
    assert shutil.which("openssl")
    out = subprocess.run(["openssl", "ciphers", "-V", "-stdname",
                          "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for match in re.finditer(r"0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)", out):
        found[int(match[1] + match[2], 16)] = match[3]
    assert len(found) > 100, out[:500]
    return found


def nmap_suites() -> dict[int, str]:
    text = NMAP_TLS.read_text()
    table = text[text.index("CIPHERS = {"):]
    table = table[:table.index("\n}")]
    return {int(code, 16): name
            for name, code in re.findall(r'\["(\w+)"\]\s*=\s*0x([0-9A-Fa-f]{4})', table)}


def test_every_suite_openssl_knows_is_in_the_table_by_the_same_name() -> None:
    reference = openssl_suites()
    assert {c: n for c, n in reference.items() if SUITES.get(c) != n} == {}


def test_table_agrees_with_nmap_wherever_both_name_a_code() -> None:
    reference = nmap_suites()
    shared = [c for c in SUITES if c in reference]
    assert len(shared) > 200
    assert {c: (SUITES[c], reference[c]) for c in shared if SUITES[c] != reference[c]} == {}


def test_tls13_and_legacy_suites_are_apart() -> None:
    assert TLS13_SUITES == (0x1301, 0x1302, 0x1303, 0x1304, 0x1305)
    assert not set(TLS13_SUITES) & set(LEGACY_SUITES)
    assert 0x00FF not in SUITES  # the renegotiation SCSV is no suite


def test_weak_classes_by_name() -> None:
    assert weak_classes("TLS_ECDH_anon_WITH_AES_256_CBC_SHA") == ("anonymous",)
    assert weak_classes("TLS_DH_anon_EXPORT_WITH_RC4_40_MD5") == ("anonymous", "export", "rc4")
    assert weak_classes("TLS_ECDHE_ECDSA_WITH_NULL_SHA") == ("null",)
    assert weak_classes("TLS_RSA_WITH_3DES_EDE_CBC_SHA") == ("3des",)
    assert weak_classes("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") == ()
    assert weak_classes("TLS_RSA_WITH_NULL_SHA256") == ("null",)


def test_each_class_offers_the_well_known_members() -> None:
    expected = {"anonymous": {0x0034, 0xC018, 0xC019, 0x00A7}, "export": {0x0003, 0x0014},
                "null": {0x0001, 0x0002, 0xC006, 0xC015}, "rc4": {0x0004, 0x0005, 0xC011},
                "3des": {0x000A, 0xC012, 0x0016}}
    for kind in WEAK_CLASSES:
        assert expected[kind] <= set(suites_of(kind)), kind
        assert all(c in LEGACY_SUITES for c in suites_of(kind))
