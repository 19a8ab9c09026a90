"""Build one lab host's files: stock Debian config, its own keys and certificate.

A host must look like a freshly installed Debian mail server (the seed guide's "before"
state), so the engine is tested against the files it will meet in the field. The
trees are copied from this machine's packages and completed the way Debian's
maintainer scripts would on a machine with `ssl-cert`: the snakeoil paths hold a cert
from the lab CA, Dovecot's `private/dovecot.pem` links to it, main.cf is Debian's
template plus the TLS block. Everything a test may dirty is also kept in `stock/`, the
reference `reset` restores from.
"""

from __future__ import annotations

import grp
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# Trees the engine manages, snapshotted in `stock/` and compared on reset.
CONFIG_TREES = ("etc/postfix", "etc/dovecot", "etc/ssh", "etc/roundcube", "etc/ssl")
# Copied from this machine into the host's `fs/` (plus etc/roundcube and root, made here).
COPIED_TREES = ("/etc/postfix", "/etc/dovecot", "/etc/ssh", "/etc/ssl",
                "/var/spool/postfix", "/var/backups")

SNAKEOIL_CERT = "etc/ssl/certs/ssl-cert-snakeoil.pem"
SNAKEOIL_KEY = "etc/ssl/private/ssl-cert-snakeoil.key"

SSHD_DROPIN = """\
# mailstate lab: each host has its own key; only the lab key may log in.
HostKey /etc/ssh/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintLastLog no
MaxStartups 100
UseDNS no
"""

MAINCF_TAIL = """\
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = {fqdn}
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
myorigin = /etc/mailname
mydestination = $myhostname, {fqdn}, localhost.localdomain, localhost
relayhost = \n\
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all
"""

ROUNDCUBE_CONFIG = """\
<?php

/*
+-----------------------------------------------------------------------+
| Local configuration for the Roundcube Webmail installation.           |
|                                                                       |
| This is a sample configuration file only containing the minimum       |
| setup required for a functional installation. Copy more options       |
| from defaults.inc.php to this file to override the defaults.          |
|                                                                       |
| This file is part of the Roundcube Webmail client                     |
| Copyright (C) 2005-2013, The Roundcube Dev Team                       |
|                                                                       |
| Licensed under the GNU General Public License version 3 or            |
| any later version with exceptions for skins & plugins.                |
| See the README file for a full license statement.                     |
+-----------------------------------------------------------------------+
*/

$config = array();

/* Do not set db_dsnw here, use dpkg-reconfigure roundcube-core to configure database ! */
include_once("/etc/roundcube/debian-db-roundcube.php");

// The mail host chosen to perform the log-in.
// Leave blank to show a textbox at login, give a list of hosts
// to display a pulldown menu or set one host as string.
// To use SSL/TLS connection, enter hostname with prefix ssl:// or tls://
$config['default_host'] = 'localhost';

// TCP port used for IMAP connections
$config['default_port'] = 143;

// SMTP server host (for sending mails).
// To use SSL/TLS connection, enter hostname with prefix ssl:// or tls://
$config['smtp_server'] = 'localhost';

// SMTP port (default is 25; use 587 for STARTTLS or 465 for the
// deprecated SSL over SMTP (aka SMTPS))
$config['smtp_port'] = 25;

// SMTP username (if required) if you use %u as the username Roundcube
// will use the current username for login
$config['smtp_user'] = '%u';

// SMTP password (if required) if you use %p as the password Roundcube
// will use the current user's password for login
$config['smtp_pass'] = '%p';

// provide an URL where a user can get support for this Roundcube installation
// PLEASE DO NOT LINK TO THE ROUNDCUBE.NET WEBSITE HERE!
$config['support_url'] = '';

// Name your service. This is displayed on the login screen and in the window title
$config['product_name'] = 'Roundcube Webmail';

// this key is used to encrypt the users imap password which is stored
// in the session record (and the client cookie if remember password is enabled).
// please provide a string of exactly 24 chars.
// YOU MUST CHANGE THIS VALUE FOR SECURITY REASONS
$config['des_key'] = '{des_key}';

// List of active plugins (in plugins/ directory)
// Debian: install roundcube-plugins first to have any
$config['plugins'] = array(
);

// skin name: folder from skins/
$config['skin'] = 'elastic';

// Disable spellchecking
// Debian: spellshecking needs additional packages to be installed, or calling external APIs
//         see defaults.inc.php for additional informations
$config['enable_spellcheck'] = false;

"""

ROUNDCUBE_DB = """\
<?php
##
## database access settings in php format
## automatically generated from /etc/dbconfig-common/roundcube.conf
## by /usr/sbin/dbconfig-generate-include
##
$dbuser='roundcube';
$dbpass='';
$basepath='/var/lib/dbconfig-common/sqlite3/roundcube';
$dbname='roundcube';
$dbserver='';
$dbport='';
$dbtype='sqlite3';
"""


@dataclass(frozen=True)
class InstanceKeys:
    """Per-instance credentials: the lab CA and the client key every host trusts."""

    ca_cert: Path
    ca_key: Path
    client_key: Path

    @property
    def client_pub(self) -> Path:
        return self.client_key.with_suffix(".pub")


def sh(*argv: str | Path, stdin: str | None = None) -> str:
    """Run a local tool; raise with its stderr when it fails."""
    proc = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: {proc.stderr.strip()}")
    return proc.stdout


def gid_of(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return 0


# Files written here get an mtime an hour back: Postfix tools sleep up to ~2 s when
# main.cf changed within the last second or two (a guard against half-written files),
# which would otherwise double every host's start-up.
AGE = 3600


def write(path: Path, text: str, mode: int = 0o644, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chown(path, 0, gid)
    os.chmod(path, mode)
    age(path)


def age(path: Path) -> None:
    past = time.time() - AGE
    os.utime(path, (past, past), follow_symlinks=False)


def ensure_instance_keys(state: Path, instance: int) -> InstanceKeys:
    """The CA and the client key of one instance, created on first use."""
    keys = InstanceKeys(state / "ca" / "ca.pem", state / "ca" / "ca.key",
                        state / "client_ed25519")
    if not keys.ca_cert.exists() or not keys.ca_key.exists():
        keys.ca_cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
           "-subj", f"/CN=mailstate lab CA {instance}",
           "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign",
           "-keyout", keys.ca_key, "-out", keys.ca_cert)
    if not keys.client_key.exists() or not keys.client_pub.exists():
        keys.client_key.unlink(missing_ok=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"mailstate-lab-{instance}",
           "-f", keys.client_key)
    return keys


def issue_cert(keys: InstanceKeys, fqdn: str, address: str, cert: Path, key: Path) -> None:
    """A server cert for one host, SAN = its name, its address and loopback."""
    san = f"DNS:{fqdn},DNS:localhost,IP:{address},IP:127.0.0.1"
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-days", "825", "-subj", f"/CN={fqdn}",
       "-CA", keys.ca_cert, "-CAkey", keys.ca_key,
       "-addext", f"subjectAltName={san}",
       "-addext", "basicConstraints=critical,CA:FALSE",
       "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
       "-addext", "extendedKeyUsage=serverAuth",
       "-keyout", key, "-out", cert)
    os.chown(key, 0, gid_of("ssl-cert"))
    os.chmod(key, 0o640)
    os.chmod(cert, 0o644)


def main_cf(fqdn: str) -> str:
    """Debian's main.cf as postinst writes it on a machine with ssl-cert installed."""
    share = Path("/usr/share/postfix")
    head = (share / "main.cf.debian").read_text()
    tls = (share / "main.cf.tls").read_text()
    return head + tls + MAINCF_TAIL.format(fqdn=fqdn)


def prepare_spool(spool: Path) -> None:
    """Make the first `postfix start` as quick as later ones.

    A spool that never saw Postfix run lacks `hold` and `trace`; the first start then
    runs post-install's create-missing (about 2 s). Create them as post-install would,
    drop a stale master.pid, and skip the integrity checks on the lab's first start.
    """
    (spool / "pid" / "master.pid").unlink(missing_ok=True)
    postfix_uid = _uid_of("postfix")
    for name in ("hold", "trace"):
        path = spool / name
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(path, postfix_uid, 0)
    (spool / "quick-start").touch()


def _uid_of(user: str) -> int:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return 0


def build_host(hostdir: Path, name: str, address: str, keys: InstanceKeys) -> str:
    """Create `hostdir/{fs,stock,varlib}` from scratch; return the host's public key line."""
    if hostdir.exists():
        shutil.rmtree(hostdir)
    fs = hostdir / "fs"
    fs.mkdir(parents=True)
    (hostdir / "varlib" / "upper").mkdir(parents=True)
    (hostdir / "varlib" / "work").mkdir()
    for parent in sorted({str(Path(t).parent) for t in COPIED_TREES}):
        dest = fs / parent.lstrip("/")
        dest.mkdir(parents=True, exist_ok=True)
        sh("cp", "-a", *(t for t in COPIED_TREES if str(Path(t).parent) == parent), dest)
    fqdn = f"{name}.test"

    etc = fs / "etc"
    write(etc / "postfix" / "main.cf", main_cf(fqdn))
    write(etc / "hostname", f"{fqdn}\n")
    write(etc / "mailname", f"{fqdn}\n")
    prepare_spool(fs / "var/spool/postfix")

    issue_cert(keys, fqdn, address, fs / SNAKEOIL_CERT, fs / SNAKEOIL_KEY)
    private = etc / "dovecot" / "private"
    for link, target in (("dovecot.pem", SNAKEOIL_CERT), ("dovecot.key", SNAKEOIL_KEY)):
        (private / link).unlink(missing_ok=True)
        (private / link).symlink_to("/" + target)

    ssh = etc / "ssh"
    for old in ssh.glob("ssh_host_*"):
        old.unlink()
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{fqdn}",
       "-f", ssh / "ssh_host_ed25519_key")
    write(ssh / "sshd_config.d" / "mailstate-lab.conf", SSHD_DROPIN)
    write(ssh / "authorized_keys", keys.client_pub.read_text())
    sshd_config = ssh / "sshd_config"
    sshd_config.write_text(sshd_config.read_text().replace(
        "Subsystem\tsftp\t/usr/lib/openssh/sftp-server", "Subsystem\tsftp\tinternal-sftp"))
    age(sshd_config)

    rc = etc / "roundcube"
    rc.mkdir(mode=0o755)
    www = gid_of("www-data")
    write(rc / "config.inc.php", ROUNDCUBE_CONFIG.replace("{des_key}", secrets.token_hex(12)),
          0o640, www)
    write(rc / "debian-db-roundcube.php", ROUNDCUBE_DB, 0o640, www)

    root = fs / "root"
    root.mkdir(mode=0o700)
    for dot in (".bashrc", ".profile"):
        shutil.copy2(Path("/etc/skel") / dot, root / dot)

    stock = hostdir / "stock" / "etc"
    stock.parent.mkdir()
    sh("cp", "-a", etc, stock)
    pub = (ssh / "ssh_host_ed25519_key.pub").read_text().split()
    return f"{address},{fqdn},{name} {pub[0]} {pub[1]}\n"
