"""One hardened fleet for every real-client test: h1 on Debian 12, h2 on Debian 13.

The spare instance (as `mixed_lab`), reset to stock once for the whole package. Before
hardening, carol uses each host's stock Roundcube (logs in, saves a contact), as users
of a running webmail have; then the shipped hardened profile is applied from ONE
inventory through the real CLI (`mail_hostname: hN.test`, the name on each host's
DNS-only certificate). The tests then meet the hosts as their users' clients do.
"""

from __future__ import annotations

import email
import json
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.clients.roundcube import Session
from tests.conftest import bring_up
from tests.engine.conftest import Run, mailstate, write_inventory

if TYPE_CHECKING:
    from mailstate.lab import Lab

HOSTS = ("h1", "h2")  # Debian 12, Debian 13
ROUNDCUBE_DB = "/var/lib/dbconfig-common/sqlite3/roundcube/roundcube"
IN_HOST = Path(__file__).with_name("in_host.py")
CONTACT = ("Dave", "Example", "dave@example.org")


@dataclass(frozen=True)
class Fleet:
    lab: Lab
    inventory: str
    apply: Run
    users_before: dict[str, list[dict[str, Any]]]  # host -> Roundcube's users table


def roundcube_rows(lab: Lab, host: str, table: str = "users") -> list[dict[str, Any]]:
    """A table of the host's Roundcube database, read with the host's own PHP."""
    columns = {"users": "user_id, username, mail_host",
               "identities": "identity_id, user_id, email"}[table]
    php = (f'$db = new PDO("sqlite:{ROUNDCUBE_DB}"); echo json_encode($db->query('
           f'"select {columns} from {table} order by 1")->fetchAll(PDO::FETCH_ASSOC));')
    out = lab.run(host, f"php -r {shlex.quote(php)}")
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def forget_roundcube_user(lab: Lab, host: str, user: str) -> None:
    """Roundcube has never seen `user` on `host`: her users row and identities go, so
    her next login creates them afresh, as a first login does. Written as www-data (the
    user `php -S` runs as) with the host's PHP: the database is in WAL mode, and its
    side files must stay writable by Roundcube."""
    php = (f'$db = new PDO("sqlite:{ROUNDCUBE_DB}"); $s = $db->prepare("delete from '
           f'identities where user_id in (select user_id from users where username = ?)");'
           f' $s->execute([$argv[1]]); $db->prepare("delete from users where username = ?")'
           f'->execute([$argv[1]]);')
    out = lab.run(host, f"runuser -u www-data -- php -r {shlex.quote(php)} {shlex.quote(user)}")
    assert out.returncode == 0, out.stderr
    assert not [r for r in roundcube_rows(lab, host) if r["username"] == user]


@contextmanager
def roundcube_database_kept(lab: Lab, hosts: tuple[str, ...] = HOSTS) -> Iterator[None]:
    """Roundcube's database on each host as it was before the block, afterwards."""
    keep = "/root/roundcube-db.keep"
    for name in hosts:
        out = lab.run(name, f"test ! -e {ROUNDCUBE_DB}-wal && cp -p {ROUNDCUBE_DB} {keep}")
        assert out.returncode == 0, out.stderr  # no open writer: the file is the whole DB
    try:
        yield
    finally:
        for name in hosts:
            out = lab.run(name, f"rm -f {ROUNDCUBE_DB}-wal {ROUNDCUBE_DB}-shm && "
                                f"mv {keep} {ROUNDCUBE_DB}")
            assert out.returncode == 0, out.stderr


def run_in_host(lab: Lab, host: str, **params: str) -> dict[str, Any]:
    """tests/clients/in_host.py with `params`, run by the host's own python3."""
    script = IN_HOST.read_text() + f"\nmain({params!r})\n"
    out = lab.run(host, "python3 -", input=script, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in result, result["error"]
    return result


def delivered(lab: Lab, host: str, user: str, subject: str, timeout: float = 15) -> Message:
    """The message with `subject` once it is in `user`'s mailbox on `host` (mbox)."""
    deadline = time.monotonic() + timeout
    while True:
        mbox = lab.run(host, f"cat /var/mail/{user} 2>/dev/null").stdout
        for chunk in ("\n" + mbox).split("\nFrom ")[1:]:
            message = email.message_from_string(chunk.split("\n", 1)[1])
            if message["Subject"] == subject:
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"{subject!r} never reached {user}'s mailbox on {host}")
        time.sleep(0.1)


def use_stock_roundcube(lab: Lab) -> None:
    """carol logs in to each host's stock Roundcube and saves a contact."""
    carol = lab.mail_users[1]
    for name in HOSTS:
        session = Session(lab.host(name).address)
        login = session.login(carol.name, carol.password)
        assert login.status == 302 and session.token, (name, login.status)
        saved = session.add_contact(*CONTACT)
        assert "Successfully saved" in saved.body, saved.body[-500:]


@pytest.fixture(scope="package")
def clients_fleet(_mixed_instance: Lab, tmp_path_factory: pytest.TempPathFactory,
                  ) -> Iterator[Fleet]:
    lab = bring_up(_mixed_instance)
    use_stock_roundcube(lab)
    before = {name: roundcube_rows(lab, name) for name in HOSTS}
    inventory = str(write_inventory(lab, tmp_path_factory.mktemp("clients") / "inv.yaml",
                                    ["hardened"]))
    applied = mailstate("apply", "-i", inventory, "--yes", "--json")
    assert applied.code == 0, applied.stdout + applied.stderr
    yield Fleet(lab, inventory, applied, before)
    lab.reset()
