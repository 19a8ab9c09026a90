"""Benchmark: parse + render (and one edit) of every stock file the formats handle.

Prints milliseconds per file kind and in total (target: well under 50 ms). Printed,
never asserted: run `.venv/bin/python bench/formats_bench.py`.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from pathlib import Path

from mailstate.formats.dovecot import DovecotConfig
from mailstate.formats.lookup import LookupTable
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf
from mailstate.formats.roundcube import PhpConfig

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 20


def main_cf() -> None:
    for path in ("/etc/postfix/main.cf", "/usr/share/postfix/main.cf.dist"):
        doc = MainCf.parse(Path(path).read_bytes(), path)
        doc.set("smtpd_tls_security_level", "may")
        doc.render()


def master_cf() -> None:
    doc = MasterCf.parse(Path("/etc/postfix/master.cf").read_bytes())
    doc.ensure("submission", "inet", {"command": "smtpd"}, {"syslog_name": "postfix/sub"})
    doc.render()


def lookup() -> None:
    doc = LookupTable.from_entries({f"host{i}.example.com": "encrypt" for i in range(50)})
    doc.set("example.org", "may")
    LookupTable.parse(doc.render()).render()


def dovecot() -> None:
    paths = glob.glob("/etc/dovecot/**/*", recursive=True)
    paths += glob.glob("/usr/share/dovecot/protocols.d/*")
    files = {p: Path(p).read_bytes() for p in paths
             if os.path.isfile(p) and not p.startswith("/etc/dovecot/private/")}
    doc = DovecotConfig.load(files, "/etc/dovecot/dovecot.conf")
    doc.set(("service imap-login", "inet_listener imap", "port"), "0")
    for path in doc.files():
        doc.render(path)


def roundcube() -> None:
    path = ROOT / "tests" / "formats" / "data" / "config.inc.php"
    doc = PhpConfig.parse(path.read_bytes())
    doc.set("imap_host", "ssl://127.0.0.1:993")
    doc.render()


def timed(run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    kinds: dict[str, Callable[[], None]] = {
        "main.cf": main_cf, "master.cf": master_cf, "lookup": lookup,
        "dovecot": dovecot, "roundcube": roundcube}
    total = 0.0
    for name, run in kinds.items():
        ms = timed(run)
        total += ms
        print(f"{name:<10} {ms:7.2f} ms")
    print(f"{'total':<10} {total:7.2f} ms  (best of {ROUNDS}; file reads included)")


if __name__ == "__main__":
    main()
