"""The stock trees every lab host of one release shares, built once per instance.

A host must look like a freshly installed Debian mail server of its release (the seed
guide's "before" state), so the engine meets the files it will meet in the field. The
trees are copied from the release's root (the machine for native hosts, the cached rootfs
otherwise) and completed the way Debian's maintainer scripts would on a machine with
`ssl-cert`: Dovecot's `private/dovecot.pem` links to the snakeoil paths (which hold a
lab-CA certificate per host), sshd takes only the lab key, and the lab's users are added.
Mailboxes, homes and Roundcube's logs start empty: nothing of the machine's leaks in.

A host's files are this template overlaid with its own few files (`build.own_files`); that
is also what `reset` restores from. `HOST_TREES` and `HOST_FILES` are exactly what each
host bind-mounts over its root, per host; `host.sh` reads them from the host's host.conf.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from mailstate.lab import accounts
from mailstate.lab.releases import HostRelease

TEMPLATE_FORMAT = 4  # bump when a template or how host.sh starts daemons changes: rebuilt

ROUNDCUBE_DB_DIR = "var/lib/dbconfig-common/sqlite3/roundcube"
TRUST_DIR = "usr/local/share/ca-certificates"
# Copied from the release's root with `cp -a` (owners, modes and mtimes kept).
COPIED_TREES = ("etc/postfix", "etc/dovecot", "etc/ssh", "etc/ssl", "etc/sudoers.d",
                "etc/roundcube", "var/spool/postfix", "var/backups", TRUST_DIR,
                ROUNDCUBE_DB_DIR)
# Made empty with the release's owner and mode: state that is each host's own.
EMPTY_TREES = ("var/mail", "var/log/roundcube")
# Made here: root's home (a plain .bashrc) and the mail user's home.
MADE_TREES = ("root", "home")
HOST_TREES = COPIED_TREES + EMPTY_TREES + MADE_TREES
HOST_FILES = ("etc/hostname", "etc/mailname", "etc/hosts", "etc/passwd", "etc/shadow",
              "etc/group", "etc/gshadow")

SNAKEOIL_CERT = "etc/ssl/certs/ssl-cert-snakeoil.pem"
SNAKEOIL_KEY = "etc/ssl/private/ssl-cert-snakeoil.key"
LAB_CA_NAME = "mailstate-lab-ca"

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


def sh(*argv: str | Path, stdin: str | None = None, cwd: Path | None = None) -> str:
    """Run a local tool; raise with its stderr when it fails."""
    proc = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True,
                          text=True, check=False, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: {proc.stderr.strip()}")
    return proc.stdout


def stock_time(root: Path) -> float:
    """The mtime given to every generated file: the release's Postfix template date.

    Old, so Postfix tools do not sleep (they wait up to ~2 s when main.cf changed in
    the last second or two, a guard against half-written files), and fixed, so a
    rebuilt template is byte- and metadata-identical to the previous one.
    """
    return os.stat(root / "usr/share/postfix/main.cf.debian").st_mtime


def write(path: Path, data: str | bytes, mode: int = 0o644, gid: int = 0,
          when: float | None = None, uid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    if when is not None:
        os.utime(path, (when, when))


@lru_cache(maxsize=8)
def release_accounts(root: Path) -> accounts.Accounts:
    """The accounts of a release's root (read once per process)."""
    return accounts.Accounts.of(root)


def fingerprint(release: HostRelease, ca_cert: bytes, public_certs: bool) -> str:
    """What a template was built from; a host built from another one is rebuilt."""
    ca = hashlib.sha256(ca_cert).hexdigest()[:12]
    return (f"format={TEMPLATE_FORMAT} release={release.name} source={release.source} "
            f"ca={ca} public_certs={int(public_certs)}")


def template_dir(state: Path, release: str) -> Path:
    """Where the template of `release` (a codename) lives in an instance's state dir."""
    return state / "templates" / release


def ensure_template(state: Path, release: HostRelease, ca_cert: bytes, client_pub: bytes,
                    public_certs: bool = False) -> Path:
    """`state/templates/<release>/fs`, built on first use or when its inputs changed."""
    template = template_dir(state, release.name)
    wanted = fingerprint(release, ca_cert, public_certs)
    done = template / "complete"
    if done.exists() and done.read_text() == wanted:
        return template / "fs"
    if template.exists():
        shutil.rmtree(template)
    fs = template / "fs"
    fs.mkdir(parents=True)
    root = release.source
    ids = release_accounts(root)
    when = stock_time(root)
    _copy_trees(root, fs)
    _prepare_spool(fs / "var/spool/postfix", ids.uid("postfix"))
    _link_dovecot_cert(fs / "etc/dovecot/private")
    _configure_sshd(fs / "etc/ssh", client_pub, when)
    _add_lab_users(root, fs, when)
    _make_homes(root, fs)
    if public_certs:
        trust_lab_ca(fs, ca_cert, when)
    done.write_text(wanted)
    return fs


def _copy_trees(root: Path, fs: Path) -> None:
    present = [t for t in COPIED_TREES if (root / t).exists()]
    sh("cp", "-a", "--parents", *present, fs, cwd=root)
    for tree in EMPTY_TREES:
        source = os.stat(root / tree)
        path = fs / tree
        path.mkdir(parents=True)
        os.chown(path, source.st_uid, source.st_gid)
        os.chmod(path, source.st_mode & 0o7777)


def _prepare_spool(spool: Path, postfix_uid: int) -> None:
    """Make the first `postfix start` as quick as later ones.

    A spool that never saw Postfix run lacks `hold` and `trace`; the first start then
    runs post-install's create-missing. Create them as post-install would, drop a stale
    master.pid, and skip the integrity checks on the lab's first start.
    """
    (spool / "pid" / "master.pid").unlink(missing_ok=True)
    for name in ("hold", "trace"):
        path = spool / name
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(path, postfix_uid, 0)
    (spool / "quick-start").touch()


def _link_dovecot_cert(private: Path) -> None:
    private.mkdir(mode=0o700, exist_ok=True)
    for link, target in (("dovecot.pem", SNAKEOIL_CERT), ("dovecot.key", SNAKEOIL_KEY)):
        (private / link).unlink(missing_ok=True)
        (private / link).symlink_to("/" + target)


def _configure_sshd(ssh: Path, client_pub: bytes, when: float) -> None:
    for old in ssh.glob("ssh_host_*"):
        old.unlink()
    write(ssh / "sshd_config.d" / "mailstate-lab.conf", SSHD_DROPIN, when=when)
    write(ssh / "authorized_keys", client_pub, when=when)
    sshd_config = ssh / "sshd_config"
    write(sshd_config, sshd_config.read_text().replace(
        "Subsystem\tsftp\t/usr/lib/openssh/sftp-server", "Subsystem\tsftp\tinternal-sftp"),
        when=when)


def _add_lab_users(root: Path, fs: Path, when: float) -> None:
    """Per-host passwd/shadow/group: the release's users plus the lab's, and sudoers."""
    lines, rules = accounts.lab_account_lines()
    for name, extra in lines.items():
        source = root / "etc" / name
        st = source.stat()
        write(fs / "etc" / name, source.read_text() + extra, st.st_mode & 0o777, st.st_gid,
              when)
    write(fs / "etc/sudoers.d/mailstate-lab", rules, 0o440, when=when)


def _make_homes(root: Path, fs: Path) -> None:
    home = fs / "home"
    home.mkdir(mode=0o755)
    for user, uid, _ in accounts.LAB_MAIL_USERS:
        mail_home = home / user
        mail_home.mkdir(mode=0o700)
        os.chown(mail_home, uid, uid)
    root_home = fs / "root"
    root_home.mkdir(mode=0o700)
    for dot in (".bashrc", ".profile"):
        shutil.copy2(root / "etc/skel" / dot, root_home / dot)


def trust_lab_ca(fs: Path, ca_cert: bytes, when: float) -> None:
    """The lab CA in the host's system trust store, as `update-ca-certificates` puts a
    site's private CA: the .crt under /usr/local/share/ca-certificates, a link and a
    hash link in /etc/ssl/certs, and appended to the bundle there."""
    crt = fs / TRUST_DIR / f"{LAB_CA_NAME}.crt"
    write(crt, ca_cert, when=when)
    certs = fs / "etc/ssl/certs"
    link = certs / f"{LAB_CA_NAME}.pem"
    link.unlink(missing_ok=True)
    link.symlink_to(f"/{TRUST_DIR}/{LAB_CA_NAME}.crt")
    stem = sh("openssl", "x509", "-noout", "-subject_hash", stdin=ca_cert.decode()).strip()
    suffix = 0  # `.0`, or the next free one when another CA's subject hashes the same
    while (certs / f"{stem}.{suffix}").is_symlink():
        suffix += 1
    (certs / f"{stem}.{suffix}").symlink_to(link.name)
    bundle = certs / "ca-certificates.crt"
    existing = bundle.read_bytes() if bundle.exists() else b""
    write(bundle, existing + ca_cert, when=when)
