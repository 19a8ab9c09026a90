"""The name Roundcube verifies certificates against (lint.tls_names).

Lint, without SSH: the profile asks for `mail_hostname` until it is given, and a local
TLS target verified against localhost or an address is flagged. At plan time, with the
certificate known: the names on it (as PHP reads them) against that name. Certificates
are real ones from the lab's own CA code; the facts parser gets a real tar stream.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailstate.engine.facts import FactsRequest, gather, gather_command
from mailstate.lab import pki
from mailstate.lint import lint
from mailstate.lint.tls_names import (
    ServedCertificate,
    certificate_names,
    certificate_problems,
    public_name,
    roundcube_peers,
)
from mailstate.model import load_state
from mailstate.transport.local import LocalConnection

ROOT = Path(__file__).resolve().parents[2]
HARDENED = ROOT / "states" / "hardened.yaml"
CA_CERT, CA_KEY = pki.make_ca("test CA")


def codes(tmp_path: Path, text: str = "", variables: dict[str, str] | None = None
          ) -> dict[str, list[str]]:
    layers = [HARDENED]
    if text:
        (tmp_path / "over.yaml").write_text(text)
        layers.append(tmp_path / "over.yaml")
    found: dict[str, list[str]] = {}
    for diag in lint(load_state(layers, variables)):
        assert diag.location is not None and diag.location.line, diag
        found.setdefault(diag.code, []).append(diag.summary)
    return found


def test_the_profile_asks_for_the_hosts_name_until_it_is_given(tmp_path: Path) -> None:
    alone = codes(tmp_path)
    assert list(alone) == ["mail-hostname-unset"]
    assert "addresses @localhost" in alone["mail-hostname-unset"][0]  # mail_domain follows
    assert codes(tmp_path, variables={"mail_hostname": "mx1.example.com"}) == {}
    # a domain of its own: the name is still missing, the addresses are not
    domain = codes(tmp_path, variables={"mail_domain": "example.com"})
    assert "addresses" not in domain["mail-hostname-unset"][0]


def test_a_local_target_verified_against_localhost_or_an_address_is_flagged(
        tmp_path: Path) -> None:
    named = {"mail_hostname": "mx1.example.com"}
    no_peer = codes(tmp_path, "roundcube:\n  config:\n    imap_conn_options: null\n", named)
    assert list(no_peer) == ["roundcube-peer-name"]
    assert "against localhost (imap_host (no peer_name))" in no_peer["roundcube-peer-name"][0]
    by_ip = codes(tmp_path, "roundcube:\n  config:\n    smtp_conn_options:\n      ssl:\n"
                            "        peer_name: 127.0.0.1\n", named)
    assert list(by_ip) == ["roundcube-peer-name"]
    # verification off is another rule's finding, not this one's
    off = codes(tmp_path, "roundcube:\n  config:\n    imap_conn_options:\n      ssl:\n"
                          "        verify_peer: false\n", named)
    assert list(off) == ["roundcube-tls-verify-off"]
    # another server (not this host's listeners): not ours to judge
    remote = codes(tmp_path, "roundcube:\n  config:\n    imap_host: ssl://imap.example.com:993\n"
                             "    imap_conn_options: null\n", named)
    assert "roundcube-peer-name" not in remote


def test_public_names() -> None:
    assert public_name("mx1.example.com") and public_name("h1.test")
    for name in ("localhost", "127.0.0.1", "::1", "[::1]", "mail", "a.localhost"):
        assert not public_name(name), name


def served(fqdn: str, address: str = "192.0.2.1", dns_only: bool = True) -> ServedCertificate:
    cert, _ = pki.issue_server_cert(CA_CERT, CA_KEY, fqdn, address, dns_only=dns_only)
    names = certificate_names(cert)
    assert names is not None
    return ServedCertificate("/etc/ssl/certs/mail.pem", names)


CONFIG = {"imap_host": "ssl://localhost:993",
          "imap_conn_options": {"ssl": {"peer_name": "mx1.example.com"}},
          "smtp_host": "tls://localhost:587",
          "smtp_conn_options": {"ssl": {"peer_name": "mx1.example.com"}}}


def test_the_served_certificate_must_name_what_roundcube_verifies() -> None:
    good = served("mx1.example.com")
    assert good.names == ("DNS:mx1.example.com",)  # SAN, and the CN (the same name)
    assert certificate_problems(CONFIG, {"imap": good, "smtp": good}) == []
    other = served("mx2.example.com")
    problems = certificate_problems(CONFIG, {"imap": other, "smtp": None}, host="mx1")
    assert [(p.code, p.severity) for p in problems] == [("roundcube-peer-name", "error")]
    assert problems[0].summary.startswith("mx1: Roundcube verifies the certificate of "
                                          "imap_host ssl://localhost:993 against mx1.example.com")
    assert "names mx2.example.com" in problems[0].summary and "logins fail" in problems[0].summary
    assert problems[0].location is not None
    assert problems[0].location.file == "/etc/ssl/certs/mail.pem"
    assert "e.g. mx2.example.com" in problems[0].fix
    # the old profile: 127.0.0.1 and no peer name, against a certificate naming it
    old = {"imap_host": "ssl://127.0.0.1:993"}
    assert certificate_problems(old, {"imap": served("mx1", "127.0.0.1", False)}) == []
    assert certificate_problems(old, {"imap": served("mx1.example.com")}) != []
    # unknown certificate, or verification off: nothing to say
    assert certificate_problems(CONFIG, {}) == []
    off = {**CONFIG, "imap_conn_options": {"ssl": {"verify_peer_name": False}}}
    assert certificate_problems(off, {"imap": other}) == []


def test_names_are_read_as_php_reads_them() -> None:
    wildcard = served("*.example.com")
    assert certificate_problems(CONFIG, {"imap": wildcard}) == []
    assert certificate_problems({**CONFIG, "imap_conn_options": {
        "ssl": {"peer_name": "a.b.example.com"}}}, {"imap": wildcard}) != []
    # no subjectAltName: PHP falls back to the subject CN
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.com")])
    now = dt.datetime.now(dt.UTC)
    bare = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = bare.public_bytes(serialization.Encoding.PEM)
    assert certificate_names(pem) == ("DNS:mx1.example.com",)
    assert certificate_names(b"not a certificate") is None
    assert certificate_names(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----") \
        is None


def test_peers_follow_roundcubes_own_keys() -> None:
    peers = roundcube_peers({"imap_host": ["ssl://localhost:993", "imap.example.com:143"],
                             "smtp_host": "localhost:587"})  # no TLS: no certificate
    assert [(p.key, p.host, p.name, p.from_peer_name) for p in peers] == [
        ("imap_host", "localhost", "localhost", False)]


def test_only_the_first_certificate_block_leaves_the_host(tmp_path: Path) -> None:
    """The real facts.sh (run here as on a host) sends a certificate file's first PEM
    certificate block and nothing else: not the key of a combined file, not the rest of
    a file a state names by mistake, not what follows a block that never ends."""
    cert, key = pki.issue_server_cert(CA_CERT, CA_KEY, "mx1.example.com", "192.0.2.1",
                                      dns_only=True)
    other, _ = pki.issue_server_cert(CA_CERT, CA_KEY, "mx2.example.com", "192.0.2.2",
                                     dns_only=True)
    body = cert.strip().splitlines()[1:-1]
    files = {
        "combined.pem": key + cert,  # Postfix's one file for both, key first
        "chain.pem": cert + other + key,  # the leaf only
        "crlf.pem": cert.replace(b"\n", b"\r\n"),
        "cut.pem": b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(body[:3]) + b"\n" + key,
        "shadow": b"root:$y$j9T$secret:19000:0:99999:7:::\n",
        "empty.pem": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "link.pem").symlink_to(tmp_path / "combined.pem")
    paths = tuple(str(tmp_path / n) for n in [*files, "link.pem", "missing.pem"])
    conn = LocalConnection("mx1")
    raw = conn.run(gather_command(FactsRequest((), (), (), paths))).stdout
    assert b"PRIVATE KEY" not in raw and b"secret" not in raw
    for line in key.splitlines()[1:-1]:
        assert line not in raw
    facts = gather(conn, FactsRequest((), (), (), paths))
    assert facts.files == {}  # read, never managed
    expected = {"combined.pem": cert.strip(), "chain.pem": cert.strip(),
                "crlf.pem": cert.strip(), "link.pem": cert.strip()}
    assert facts.certificates == {str(tmp_path / n): v for n, v in expected.items()}
    assert certificate_names(facts.certificates[str(tmp_path / "crlf.pem")]) == (
        "DNS:mx1.example.com",)

