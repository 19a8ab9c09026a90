"""Build one lab host's files: its release's template plus its own name, keys and certificate.

What `reset` restores from is the host's release template (`template.py`, shared by every
host of that release in the instance) overlaid with the host's `own/` files: its name,
main.cf, SSH host key, TLS certificate and Roundcube des_key. A host costs one `cp` and no
key-generating process, so 20 or 100 hosts start quickly.

Certificates: by default a host's certificate is what a public CA issues: its DNS name
hN.test and nothing else (no address, no localhost, no 127.0.0.1), and the lab CA is in
each host's system trust store, as a site's private CA would be (`template.trust_lab_ca`).
So every client, the host's own (Roundcube's PHP) included, meets the name-verification
problems a production host has. `public_certs=False` issues the old kind (name, address,
localhost, 127.0.0.1; no trust store entry).
"""

from __future__ import annotations

import base64
import re
import secrets
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from mailstate.diagnostics import error
from mailstate.lab import pki
from mailstate.lab.accounts import (  # noqa: F401 - the constants tests import from here
    LAB_MAIL_PASSWORD,
    LAB_MAIL_USER,
    LAB_SUDO_PASSWORD,
    LAB_USERS,
)
from mailstate.lab.releases import HostRelease
from mailstate.lab.template import (
    HOST_FILES,
    HOST_TREES,
    SNAKEOIL_CERT,
    SNAKEOIL_KEY,
    release_accounts,
    sh,
    stock_time,
    write,
)

# DNS-name-only certificates and the lab CA in each host's trust store (issue #14).
PUBLIC_CERTS_DEFAULT = True
# Where each host serves Roundcube (`php -S` as www-data, so not a privileged port).
WEBMAIL_PORT = 8080

# What Debian's postinst sets with `postconf -e` on a host named {fqdn} with mailname set
# (in this order: Debian 12's template has none of these, Debian 13's has some).
MAINCF_SETTINGS = (
    ("smtpd_relay_restrictions",
     "permit_mynetworks permit_sasl_authenticated defer_unauth_destination"),
    ("myhostname", "{fqdn}"),
    ("alias_maps", "hash:/etc/aliases"),
    ("alias_database", "hash:/etc/aliases"),
    ("myorigin", "/etc/mailname"),
    ("mydestination", "$myhostname, {fqdn}, localhost.localdomain, localhost"),
    ("relayhost", ""),
    ("mynetworks", "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"),
    ("mailbox_size_limit", "0"),
    ("recipient_delimiter", "+"),
    ("inet_interfaces", "all"),
    ("inet_protocols", "all"),
)

DES_KEY_LINE = re.compile(rb"^(\$config\['des_key'\]\s*=\s*')[^']*(';)", re.MULTILINE)


@dataclass(frozen=True)
class InstanceKeys:
    """Per-instance credentials: the lab CA and the client key every host trusts."""

    ca_cert: Path
    ca_key: Path
    client_key: Path

    @property
    def client_pub(self) -> Path:
        return self.client_key.with_suffix(".pub")


def ensure_instance_keys(state: Path, instance: int) -> InstanceKeys:
    """The CA and the client key of one instance, created on first use."""
    keys = InstanceKeys(state / "ca" / "ca.pem", state / "ca" / "ca.key",
                        state / "client_ed25519")
    if not keys.ca_cert.exists() or not keys.ca_key.exists():
        keys.ca_cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert, key = pki.make_ca(f"mailstate lab CA {instance}")
        write(keys.ca_key, key, 0o600)
        write(keys.ca_cert, cert)
    if not keys.client_key.exists() or not keys.client_pub.exists():
        keys.client_key.unlink(missing_ok=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"mailstate-lab-{instance}",
           "-f", keys.client_key)
    return keys


def main_cf(fqdn: str, root: Path = Path("/")) -> str:
    """The release's main.cf as its postinst writes it on a machine with ssl-cert."""
    share = root / "usr/share/postfix"
    text = (share / "main.cf.debian").read_text() + (share / "main.cf.tls").read_text()
    return postconf_e(text, [(k, v.format(fqdn=fqdn)) for k, v in MAINCF_SETTINGS])


def postconf_e(text: str, settings: list[tuple[str, str]]) -> str:
    """What `postconf -e name=value ...` does to main.cf text: an active setting is
    replaced where it stands (with its continuation lines), a new one is appended."""
    lines = text.splitlines(keepends=True)
    for name, value in settings:
        new = f"{name} = {value}\n"
        start = next((i for i, line in enumerate(lines)
                      if re.match(rf"{re.escape(name)}\s*=", line)), None)
        if start is None:
            lines.append(new)
            continue
        end = start + 1
        while end < len(lines) and lines[end][:1] in (" ", "\t") and lines[end].strip():
            end += 1
        lines[start:end] = [new]
    return "".join(lines)


def roundcube_config(template_fs: Path) -> bytes:
    """The package's config.inc.php with a fresh des_key, made as its postinst makes one
    (18 random bytes, base64: 24 characters)."""
    stock = (template_fs / "etc/roundcube/config.inc.php").read_bytes()
    key = base64.b64encode(secrets.token_bytes(18))
    return DES_KEY_LINE.sub(lambda m: m.group(1) + key + m.group(2), stock, count=1)


def own_files(name: str, address: str, keys: InstanceKeys, release: HostRelease,
              template_fs: Path, public_certs: bool = False,
              ) -> list[tuple[str, bytes, int, int]]:
    """(path under fs/, content, mode, gid) of the files that differ between hosts."""
    fqdn = f"{name}.test"
    cert, key = pki.issue_server_cert(keys.ca_cert.read_bytes(), keys.ca_key.read_bytes(),
                                      fqdn, address, dns_only=public_certs)
    host_key, host_pub = pki.make_ssh_host_key(f"root@{fqdn}")
    ids = release_accounts(release.source)
    hosts = (release.source / "etc/hosts").read_text() + f"{address} {fqdn} {name}\n"
    return [
        ("etc/postfix/main.cf", main_cf(fqdn, release.source).encode(), 0o644, 0),
        ("etc/hostname", f"{fqdn}\n".encode(), 0o644, 0),
        ("etc/mailname", f"{fqdn}\n".encode(), 0o644, 0),
        ("etc/hosts", hosts.encode(), 0o644, 0),
        (SNAKEOIL_CERT, cert, 0o644, 0),
        (SNAKEOIL_KEY, key, 0o640, ids.gid("ssl-cert")),
        ("etc/ssh/ssh_host_ed25519_key", host_key, 0o600, 0),
        ("etc/ssh/ssh_host_ed25519_key.pub", host_pub, 0o644, 0),
        ("etc/roundcube/config.inc.php", roundcube_config(template_fs), 0o640,
         ids.gid("www-data")),
    ]


def host_conf(name: str, address: str, release: HostRelease) -> str:
    """`host.conf`, sourced by host.sh: who the host is and what it mounts (quoted)."""
    lower = "" if release.native else str(release.source)
    if re.search(r"[,:\s]", lower):  # would break mount's lowerdir= option
        raise error(f"the root filesystem cache {lower!r} has a comma, colon or space "
                    "in its path", fix="set MAILSTATE_ROOTFS_CACHE to a plain path")
    values = {"NAME": name, "ADDRESS": address, "RELEASE": release.name, "LOWER": lower,
              "WEBMAIL_PORT": str(WEBMAIL_PORT), "BIND_DIRS": " ".join(HOST_TREES),
              "BIND_FILES": " ".join(HOST_FILES)}
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def build_host(hostdir: Path, name: str, address: str, keys: InstanceKeys,
               template_fs: Path, release: HostRelease, template_id: str,
               public_certs: bool = False) -> str:
    """Create `hostdir` from scratch; return the host's known_hosts line.

    `fs/` holds the trees bind-mounted over the host's root, `own/` its stock own files;
    a native host gets `varlib/` (overlay upper dir of /var/lib), a chrooted one
    `overlay/` (upper dir of its whole root) and `sysroot/` (where that root is mounted).
    """
    if hostdir.exists():
        shutil.rmtree(hostdir)
    hostdir.mkdir(parents=True)
    upper = hostdir / ("varlib" if release.native else "overlay")
    (upper / "upper").mkdir(parents=True)
    (upper / "work").mkdir()
    if not release.native:
        (hostdir / "sysroot").mkdir()
    sh("cp", "-a", template_fs, hostdir / "fs")
    when = stock_time(release.source)
    files = own_files(name, address, keys, release, template_fs, public_certs)
    for rel, data, mode, gid in files:
        write(hostdir / "own" / rel, data, mode, gid, when)
        write(hostdir / "fs" / rel, data, mode, gid, when)
    (hostdir / "host.conf").write_text(host_conf(name, address, release))
    (hostdir / "release").write_text(f"{release.name}\n")
    (hostdir / "template-id").write_text(template_id)
    pub = dict((rel, data) for rel, data, _, _ in files)["etc/ssh/ssh_host_ed25519_key.pub"]
    kind, blob = pub.decode().split()[:2]
    return f"{address},{name}.test,{name} {kind} {blob}\n"
