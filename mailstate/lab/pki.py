"""Keys and certificates for lab hosts, made in-process.

A lab CA signs one server certificate per host so TLS clients, the audit and
Dovecot/Postfix see a real chain they can verify with `Lab.ca_path`. The lab issues what
a public CA would (`dns_only=True`): the host's DNS name and nothing else (no address, no
localhost), so tests meet the name-verification problems a production host has. Without
`dns_only` the SAN also holds the address, localhost and 127.0.0.1
(`Lab(public_certs=False)`). Doing this with `cryptography` (already there for paramiko)
instead of `openssl`/`ssh-keygen` processes keeps a 100-host lab from spawning hundreds
of processes on a 2-core machine.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM
NO_PASSWORD = serialization.NoEncryption()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_PASSWORD)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign, key_encipherment=not cert_sign,
        content_commitment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
        decipher_only=False)


def make_ca(common_name: str) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a new self-signed P-256 CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(PEM), _key_pem(key)


def subject_alt_names(fqdn: str, address: str, dns_only: bool = False) -> list[x509.GeneralName]:
    """What a host's certificate names: `fqdn` only, or also localhost and the addresses."""
    if dns_only:
        return [x509.DNSName(fqdn)]
    return [x509.DNSName(fqdn), x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address(address)),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


def issue_server_cert(ca_cert_pem: bytes, ca_key_pem: bytes, fqdn: str,
                      address: str, *, dns_only: bool = False) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for one host, signed by the lab CA."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(subject_alt_names(fqdn, address, dns_only))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(fqdn)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(PEM), _key_pem(key)


def make_ssh_host_key(comment: str) -> tuple[bytes, bytes]:
    """(private key in OpenSSH format, `ssh-ed25519 AAAA... comment` line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(PEM, serialization.PrivateFormat.OpenSSH, NO_PASSWORD)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    return private, public + f" {comment}\n".encode()
