"""Build one lab host's files: stock Debian config, its own keys and certificate.

A host must look like a freshly installed Debian mail server (the seed guide's "before"
state), so the engine is tested against the files it will meet in the field. The
trees are copied from this machine's packages and completed the way Debian's
maintainer scripts would on a machine with `ssl-cert`: the snakeoil paths hold a cert
from the lab CA, Dovecot's `private/dovecot.pem` links to it, main.cf is Debian's
template plus the TLS block. What `reset` restores from is the instance's `template/fs` (the
part every host shares, built once per instance) overlaid with the host's `own/` (its
name, keys, certificate, des_key): a host costs one `cp` and no key-generating
process, so 20 or 100 hosts start quickly.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mailstate.lab import pki

# Trees the engine manages, snapshotted in `stock/` and compared on reset.
CONFIG_TREES = ("etc/postfix", "etc/dovecot", "etc/ssh", "etc/roundcube", "etc/ssl")
# Copied from this machine into the host's `fs/` (plus etc/roundcube and root, made here).
COPIED_TREES = ("/etc/postfix", "/etc/dovecot", "/etc/ssh", "/etc/ssl", "/etc/sudoers.d",
                "/var/spool/postfix", "/var/backups")

# Non-root login users for `ansible_become` tests, on every host (never on the machine):
# `deploy` may sudo without a password, `operator` only with LAB_SUDO_PASSWORD.
# Both log in with the lab key (AuthorizedKeysFile is shared); home is the host's /tmp.
LAB_SUDO_PASSWORD = "lab-sudo-password"
LAB_USERS = (("deploy", 2001, "NOPASSWD: ALL"), ("operator", 2002, "ALL"))

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


def uid_of(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return 0


def stock_time() -> float:
    """The mtime given to every generated file: the package's own template date.

    Old, so Postfix tools do not sleep (they wait up to ~2 s when main.cf changed in
    the last second or two, a guard against half-written files), and fixed, so a
    rebuilt template is byte- and metadata-identical to the previous one.
    """
    return os.stat("/usr/share/postfix/main.cf.debian").st_mtime


def write(path: Path, data: str | bytes, mode: int = 0o644, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    os.chown(path, 0, gid)
    os.chmod(path, mode)
    when = stock_time()
    os.utime(path, (when, when))


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


def main_cf(fqdn: str) -> str:
    """Debian's main.cf as postinst writes it on a machine with ssl-cert installed."""
    share = Path("/usr/share/postfix")
    head = (share / "main.cf.debian").read_text()
    tls = (share / "main.cf.tls").read_text()
    return head + tls + MAINCF_TAIL.format(fqdn=fqdn)


def prepare_spool(spool: Path) -> None:
    """Make the first `postfix start` as quick as later ones.

    A spool that never saw Postfix run lacks `hold` and `trace`; the first start then
    runs post-install's create-missing. Create them as post-install would, drop a stale
    master.pid, and skip the integrity checks on the lab's first start.
    """
    (spool / "pid" / "master.pid").unlink(missing_ok=True)
    for name in ("hold", "trace"):
        path = spool / name
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(path, uid_of("postfix"), 0)
    (spool / "quick-start").touch()


def ensure_template(state: Path, keys: InstanceKeys) -> Path:
    """`state/template/fs`: what every host of the instance shares, built once."""
    template = state / "template"
    if (template / "complete").exists():
        return template / "fs"
    if template.exists():
        shutil.rmtree(template)
    fs = template / "fs"
    fs.mkdir(parents=True)
    for parent in sorted({str(Path(t).parent) for t in COPIED_TREES}):
        dest = fs / parent.lstrip("/")
        dest.mkdir(parents=True, exist_ok=True)
        sh("cp", "-a", *(t for t in COPIED_TREES if str(Path(t).parent) == parent), dest)
    etc = fs / "etc"
    prepare_spool(fs / "var/spool/postfix")

    private = etc / "dovecot" / "private"
    for link, target in (("dovecot.pem", SNAKEOIL_CERT), ("dovecot.key", SNAKEOIL_KEY)):
        (private / link).unlink(missing_ok=True)
        (private / link).symlink_to("/" + target)

    ssh = etc / "ssh"
    for old in ssh.glob("ssh_host_*"):
        old.unlink()
    write(ssh / "sshd_config.d" / "mailstate-lab.conf", SSHD_DROPIN)
    write(ssh / "authorized_keys", keys.client_pub.read_text())
    sshd_config = ssh / "sshd_config"
    write(sshd_config, sshd_config.read_text().replace(
        "Subsystem\tsftp\t/usr/lib/openssh/sftp-server", "Subsystem\tsftp\tinternal-sftp"))

    add_lab_users(etc)

    rc = etc / "roundcube"
    rc.mkdir(mode=0o755)
    write(rc / "debian-db-roundcube.php", ROUNDCUBE_DB, 0o640, gid_of("www-data"))

    root = fs / "root"
    root.mkdir(mode=0o700)
    for dot in (".bashrc", ".profile"):
        shutil.copy2(Path("/etc/skel") / dot, root / dot)
    (template / "complete").touch()
    return fs


def add_lab_users(etc: Path) -> None:
    """Per-host passwd/shadow/group with the lab's sudo users, and their sudoers rules."""
    hashed = sh("openssl", "passwd", "-6", "-salt", "mailstatelab", LAB_SUDO_PASSWORD).strip()
    lines = {"passwd": "", "shadow": "", "group": "", "gshadow": ""}
    rules = ""
    for user, uid, rule in LAB_USERS:
        lines["passwd"] += f"{user}:x:{uid}:{uid}:mailstate lab:/tmp:/bin/sh\n"
        lines["shadow"] += f"{user}:{hashed}:19000:0:99999:7:::\n"
        lines["group"] += f"{user}:x:{uid}:\n"
        lines["gshadow"] += f"{user}:!::\n"
        rules += f"{user} ALL=(root) {rule}\n"
    for name, extra in lines.items():
        source = Path("/etc") / name
        mode, gid = source.stat().st_mode & 0o777, source.stat().st_gid
        write(etc / name, source.read_text() + extra, mode, gid)
    write(etc / "sudoers.d" / "mailstate-lab", rules, 0o440)


def own_files(name: str, address: str, keys: InstanceKeys) -> list[tuple[str, bytes, int, int]]:
    """(path under fs/, content, mode, gid) of the files that differ between hosts."""
    fqdn = f"{name}.test"
    cert, key = pki.issue_server_cert(keys.ca_cert.read_bytes(), keys.ca_key.read_bytes(),
                                      fqdn, address)
    host_key, host_pub = pki.make_ssh_host_key(f"root@{fqdn}")
    www = gid_of("www-data")
    return [
        ("etc/postfix/main.cf", main_cf(fqdn).encode(), 0o644, 0),
        ("etc/hostname", f"{fqdn}\n".encode(), 0o644, 0),
        ("etc/mailname", f"{fqdn}\n".encode(), 0o644, 0),
        ("etc/hosts", (Path("/etc/hosts").read_text() + f"{address} {fqdn} {name}\n").encode(),
         0o644, 0),
        (SNAKEOIL_CERT, cert, 0o644, 0),
        (SNAKEOIL_KEY, key, 0o640, gid_of("ssl-cert")),
        ("etc/ssh/ssh_host_ed25519_key", host_key, 0o600, 0),
        ("etc/ssh/ssh_host_ed25519_key.pub", host_pub, 0o644, 0),
        ("etc/roundcube/config.inc.php",
         ROUNDCUBE_CONFIG.replace("{des_key}", secrets.token_hex(12)).encode(), 0o640, www),
    ]


def build_host(hostdir: Path, name: str, address: str, keys: InstanceKeys,
               template: Path) -> str:
    """Create `hostdir/{fs,own,varlib}` from scratch; return the host's known_hosts line."""
    if hostdir.exists():
        shutil.rmtree(hostdir)
    hostdir.mkdir(parents=True)
    (hostdir / "varlib" / "upper").mkdir(parents=True)
    (hostdir / "varlib" / "work").mkdir()
    sh("cp", "-a", template, hostdir / "fs")
    files = own_files(name, address, keys)
    for rel, data, mode, gid in files:
        write(hostdir / "own" / rel, data, mode, gid)
        write(hostdir / "fs" / rel, data, mode, gid)
    pub = dict((rel, data) for rel, data, _, _ in files)["etc/ssh/ssh_host_ed25519_key.pub"]
    kind, blob = pub.decode().split()[:2]
    return f"{address},{name}.test,{name} {kind} {blob}\n"
