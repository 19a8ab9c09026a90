"""The real tools (postconf, doveconf, php) read back exactly what our editors wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mailstate.formats.dovecot import DovecotConfig
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf
from mailstate.formats.roundcube import PhpConfig

from .conftest import DATA, DOVECOT_ROOT, read


def tool(*args: str) -> str:
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is not installed")
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def postfix_dir(tmp_path: Path) -> Path:
    for name in ("main.cf", "master.cf"):
        (tmp_path / name).write_bytes(read(f"/etc/postfix/{name}"))
    return tmp_path


def test_postconf_reads_main_cf_edits(postfix_dir: Path) -> None:
    doc = MainCf.parse((postfix_dir / "main.cf").read_bytes())
    wanted = {"smtpd_tls_security_level": "may", "smtp_tls_note_starttls_offer": "yes",
              "smtp_tls_policy_maps": "hash:/etc/postfix/tls_policy",
              "mynetworks": "127.0.0.0/8 [::1]/128", "relayhost": "[mx.example.net]:25"}
    for key, value in wanted.items():
        doc.set(key, value)
    doc.unset("biff")
    (postfix_dir / "main.cf").write_bytes(doc.render())
    for key, value in wanted.items():
        assert tool("postconf", "-c", str(postfix_dir), "-h", key).rstrip("\n") == value
    assert tool("postconf", "-c", str(postfix_dir), "-n", "biff") == ""


def test_postconf_reads_master_cf_edits(postfix_dir: Path) -> None:
    doc = MasterCf.parse((postfix_dir / "master.cf").read_bytes())
    doc.ensure("submission", "inet", {"private": "n", "chroot": "y", "command": "smtpd"}, {
        "syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_client_restrictions": "permit_sasl_authenticated, reject"})
    doc.ensure("smtp", "inet", {"maxproc": "50"}, {"smtpd_tls_security_level": "may"})
    (postfix_dir / "master.cf").write_bytes(doc.render())
    params = tool("postconf", "-c", str(postfix_dir), "-P").splitlines()
    assert "submission/inet/smtpd_client_restrictions = permit_sasl_authenticated, reject" \
        in params
    assert "submission/inet/syslog_name = postfix/submission" in params
    assert "smtp/inet/smtpd_tls_security_level = may" in params
    entries = tool("postconf", "-c", str(postfix_dir), "-Mf").split("\n")
    heads = [e.split()[:8] for e in entries if e and not e[0].isspace()]
    assert ["submission", "inet", "n", "-", "y", "-", "-", "smtpd"] in heads
    assert ["smtp", "inet", "n", "-", "y", "-", "50", "smtpd"] in heads
    assert sum(h[:2] == ["submission", "inet"] for h in heads) == 1


def copy_dovecot_tree(tmp_path: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """Stock tree rooted in tmp_path (protocols.d included by its absolute path stays)."""
    out = {}
    for path, data in files.items():
        if path.startswith("/etc/dovecot/"):
            target = tmp_path / path[len("/etc/dovecot/"):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            out[str(target)] = data
        else:
            out[path] = data
    return out


def test_doveconf_reads_dovecot_edits(tmp_path: Path, stock_dovecot: dict[str, bytes]) -> None:
    files = copy_dovecot_tree(tmp_path, stock_dovecot)
    root = str(tmp_path / "dovecot.conf")
    doc = DovecotConfig.load(files, root)
    wanted = {
        ("service imap-login", "inet_listener imap", "port"): "0",
        ("service pop3-login", "inet_listener pop3", "port"): "0",
        ("service auth", "unix_listener /var/spool/postfix/private/auth", "user"): "postfix",
        ("service auth", "unix_listener /var/spool/postfix/private/auth", "group"): "postfix",
        ("auth_mechanisms",): "plain login",
        ("mail_location",): "maildir:~/Maildir",
        ("login_greeting",): "Mail # ready",
    }
    for path, value in wanted.items():
        doc.set(path, value)
    for path, data in doc.changed().items():
        Path(path).write_bytes(data)
    dump = tool("doveconf", "-c", root, "-n")
    for path, value in wanted.items():
        assert doc.get(path) == value
        if any("/" in part for part in path[:-1]):  # a listener named by a path: use -n
            block = dump.split("unix_listener /var/spool/postfix/private/auth {")[1]
            assert f"    {path[-1]} = {value}\n" in block.split("}")[0]
            continue
        setting = "/".join(part.replace(" ", "/") for part in path)
        assert tool("doveconf", "-c", root, "-h", setting).rstrip("\n") == value
    assert tool("doveconf", "-c", root, "-h", "protocols").rstrip("\n") \
        == doc.get(("protocols",))


def test_stock_dovecot_values_match_doveconf(stock_dovecot: dict[str, bytes]) -> None:
    doc = DovecotConfig.load(stock_dovecot, DOVECOT_ROOT)
    for setting in ("protocols", "mail_location", "ssl", "ssl_cert", "auth_mechanisms",
                    "namespace/inbox/mailbox/Trash/special_use", "mail_privileged_group"):
        ours = doc.get(tuple(setting.replace("mailbox/", "mailbox ").replace(
            "inbox/", "inbox ").split("/")))
        theirs = tool("doveconf", "-c", DOVECOT_ROOT, "-h", setting).rstrip("\n")
        if ours is None:
            continue  # a built-in default: not in the files
        assert ours == theirs, setting


def test_php_reads_roundcube_edits(tmp_path: Path) -> None:
    doc = PhpConfig.parse((DATA / "config.inc.php").read_bytes())
    wanted = {"imap_host": "ssl://127.0.0.1:993", "smtp_host": "tls://127.0.0.1:587",
              "plugins": ["archive", "zipdownload"], "enable_spellcheck": True,
              "imap_conn_options": {"ssl": {"verify_peer": True, "peer_name": "localhost"}},
              "quote's": "a 'b' \\ c", "max_pagesize": 200, "smtp_user": None}
    for key, value in wanted.items():
        doc.set(key, value)  # type: ignore[arg-type]
    doc.remove("des_key")
    target = tmp_path / "config.inc.php"
    target.write_bytes(doc.render())
    assert tool("php", "-l", str(target))
    code = f'$config = []; include "{target}"; echo json_encode($config);'
    config = json.loads(tool("php", "-d", "display_errors=stderr", "-r", code))
    for key, value in wanted.items():
        assert config[key] == value
    assert "des_key" not in config
    assert config["login_note"] == 'Welcome; use your "mail" password ] here.'
