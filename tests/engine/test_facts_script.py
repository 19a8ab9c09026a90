"""The real facts.sh, run on this machine as on a host: what each of its choices returns.

One `find` serves three facts (the Dovecot trees, the maps' timestamps, which
certificates to read), so these tests pin what each must keep meaning: a tree's files by
name and kind, a map's time through a link, and a certificate read only when it is a
regular file under 256 KiB; a directory, a FIFO or a huge file named as one is never read
(a FIFO would block the plan; a directory's contents are not the state's to read).
"""

from __future__ import annotations

import os
from pathlib import Path

from mailstate.engine.facts import FactsRequest, gather, gather_command
from mailstate.engine.hostscripts import host_script
from mailstate.lab import pki
from mailstate.transport.local import LocalConnection

CA_CERT, CA_KEY = pki.make_ca("facts script test CA")


def _cert() -> bytes:
    cert, _ = pki.issue_server_cert(CA_CERT, CA_KEY, "mx1.example.com", "192.0.2.1",
                                    dns_only=True)
    return cert.strip()


def test_map_times_follow_links_and_skip_what_is_missing(tmp_path: Path) -> None:
    source, db = tmp_path / "tls policy", tmp_path / "tls policy.db"
    source.write_text("example.com encrypt\n")
    real_db = tmp_path / "real.db"
    real_db.write_bytes(b"db")
    db.symlink_to(real_db)
    os.utime(source, (1_700_000_000.75, 1_700_000_000.75))
    os.utime(real_db, (1_600_000_000, 1_600_000_000))
    missing = tmp_path / "other.db"
    facts = gather(LocalConnection(), FactsRequest(
        (str(source),), (), (str(source), str(db), str(missing))))
    assert facts.mtimes == {str(source): 1_700_000_000, str(db): 1_600_000_000}
    assert facts.files[str(source)].data == b"example.com encrypt\n"


def test_certificates_are_read_only_from_small_regular_files(tmp_path: Path) -> None:
    cert = _cert()
    small = tmp_path / "small.pem"
    small.write_bytes(cert + b"\n")
    big = tmp_path / "big.pem"  # a certificate first, then more than find's 256k limit
    big.write_bytes(cert + b"\n" + b"# padding\n" * 27_000)
    assert big.stat().st_size > 261_120
    edge = tmp_path / "edge.pem"  # exactly the largest size `find -size -256k` takes
    edge.write_bytes(cert + b"\n" + b"#" * (261_120 - len(cert) - 2) + b"\n")
    assert edge.stat().st_size == 261_120
    folder = tmp_path / "dir.pem"
    folder.mkdir()
    (folder / "inner.conf").write_bytes(cert + b"\n")
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    dangling = tmp_path / "dangling.pem"
    dangling.symlink_to(tmp_path / "nowhere")
    linked = tmp_path / "linked.pem"
    linked.symlink_to(small)
    names = ["small.pem", "big.pem", "edge.pem", "dir.pem", "fifo.pem", "dangling.pem",
             "linked.pem", "missing.pem"]
    conn = LocalConnection()
    paths = tuple(str(tmp_path / n) for n in names)
    result = conn.run(gather_command(FactsRequest((), (), (), paths)), timeout=20)
    assert result.rc == 0  # and it returned: the FIFO was never opened
    facts = gather(conn, FactsRequest((), (), (), paths))
    assert facts.certificates == {str(tmp_path / n): cert
                                  for n in ("small.pem", "edge.pem", "linked.pem")}
    assert facts.files == {} and facts.not_regular == {} and facts.links == {}
    assert b"inner.conf" not in result.stdout


def test_a_tree_is_read_by_name_and_kind(tmp_path: Path) -> None:
    root = tmp_path / "dovecot"
    (root / "conf.d").mkdir(parents=True)
    (root / "private").mkdir()
    (root / "dovecot.conf").write_text("!include conf.d/*.conf\n")
    (root / "conf.d" / "10-ssl.conf").write_text("ssl = required\n")
    (root / "conf.d" / "auth-sql.conf.ext").write_text("passdb {\n}\n")
    (root / "conf.d" / "README").write_text("not read\n")
    (root / "private" / "secret.conf").write_text("never read\n")
    outside = tmp_path / "outside.conf"
    outside.write_text("mail_debug = yes\n")
    (root / "conf.d" / "99-linked.conf").symlink_to(outside)
    (root / "conf.d" / "98-broken.conf").symlink_to(tmp_path / "gone.conf")
    os.mkfifo(root / "conf.d" / "97-fifo.conf")
    (root / "conf.d" / "97-fifo.txt").symlink_to(tmp_path / "gone.txt")  # not a name read
    cert = _cert()
    (root / "private" / "dovecot.pem").write_bytes(cert + b"\n")
    conn = LocalConnection()
    request = FactsRequest((), (str(root),), (), (str(root / "private" / "dovecot.pem"),))
    facts = gather(conn, request)
    conf = root / "conf.d"
    assert set(facts.files) == {str(root / "dovecot.conf"), str(conf / "10-ssl.conf"),
                                str(conf / "auth-sql.conf.ext"), str(conf / "99-linked.conf")}
    assert facts.files[str(conf / "99-linked.conf")].data == b"mail_debug = yes\n"
    assert {p: e.kind for p, e in facts.not_regular.items()} == {
        str(conf / "98-broken.conf"): "broken-link", str(conf / "97-fifo.conf"): "other"}
    assert set(facts.links) == {str(conf / "99-linked.conf")}
    assert facts.links[str(conf / "99-linked.conf")].target == str(outside)
    assert facts.certificates == {str(root / "private" / "dovecot.pem"): cert}


def test_the_facts_script_is_sent_with_the_readers_part_of_the_prelude() -> None:
    """Every plan runs facts on every host at once: it is sent without the functions only
    the writing phases use (the shell would parse them for nothing), and still with
    the lock's readers and the test hook point."""
    facts, hold = host_script("facts"), host_script("hold")
    assert "take_lock()" in hold and "put_copy()" in hold and "verify()" in hold
    assert "take_lock()" not in facts and "put_copy()" not in facts
    assert "pid_in()" in facts and "alive()" in facts and "fault_at()" in facts
    assert facts.startswith(hold[:hold.index("# -- READERS STOP HERE")])
