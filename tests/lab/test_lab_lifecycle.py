"""`up` is idempotent and grows, `--no-mail` starts sshd only, `down` leaves nothing.

These use the spare instance (MAILSTATE_LAB_SPARE, default 6; see tests/conftest.py), one
test after the other, each from nothing, so they never fight the session lab or another
engineer's instance.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.lab import Lab, build, releases
from tests.conftest import spare_instance


def leftovers(instance: int) -> list[str]:
    """Everything of `instance` still on the machine: netns, links, processes, mounts."""
    found = [f"netns {n}" for n in os.listdir("/run/netns")
             if re.fullmatch(rf"ms{instance}h\d+", n)] if Path("/run/netns").exists() else []
    found += [f"link {n}" for n in os.listdir("/sys/class/net")
              if re.fullmatch(rf"ms{instance}h\d+|msbr{instance}", n)]
    marker = f"/mailstate-lab/{instance}/".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(f"process {pid}")
            if marker in Path(f"/proc/{pid}/mountinfo").read_bytes():
                found.append(f"mount in process {pid}")
        except OSError:
            continue
    return found


@pytest.fixture
def spare_lab(lab_machine: None) -> Iterator[Lab]:
    lab = Lab(spare_instance())
    lab.down()
    yield lab
    lab.down()


def test_up_twice_is_harmless_and_growing_adds_hosts(lab: Lab) -> None:
    before = {h.name: lab._init_pid(h) for h in lab.hosts()}
    known = lab.known_hosts_path.read_text()
    lab.up(3)
    assert {h.name: lab._init_pid(h) for h in lab.hosts()} == before
    assert lab.known_hosts_path.read_text() == known
    assert all(s.ports == [22, 25, 110, 143, 993, 995, 8080] for s in lab.status())


def test_down_leaves_nothing_behind(spare_lab: Lab) -> None:
    spare_lab.up(2)
    assert leftovers(spare_lab.instance)  # the check sees a running lab
    spare_lab.run("h1", "sleep 600 >/dev/null 2>&1 & mkdir -p /var/lib/mailstate")
    spare_lab.down()
    assert leftovers(spare_lab.instance) == []
    assert spare_lab.hosts() == []
    spare_lab.down()  # twice is fine


def test_no_mail_hosts_run_sshd_only_and_grow(spare_lab: Lab) -> None:
    [h1] = spare_lab.up(1, mail=False)
    pid = spare_lab._init_pid(h1)
    hosts = spare_lab.up(2, mail=False)
    assert [h.name for h in hosts] == ["h1", "h2"]
    assert spare_lab._init_pid(h1) == pid  # h1 kept, h2 added
    for status in spare_lab.status():
        assert status.ports == [22]
        assert (status.sshd, status.postfix, status.dovecot) == (True, False, False)
    # the files the engine plans against are there all the same
    assert spare_lab.run("h2", "postconf -h myhostname").stdout.strip() == "h2.test"
    assert spare_lab.run("h2", "test -f /etc/roundcube/config.inc.php").returncode == 0
    [status] = spare_lab.reset(["h2"])
    assert status.ports == [22] and not status.postfix
    assert len(spare_lab.known_hosts_path.read_text().splitlines()) == 2


def test_a_host_that_fails_names_its_log(spare_lab: Lab,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "main_cf", lambda fqdn, root: "this is not main.cf\n")
    with pytest.raises(MailstateError) as caught:
        spare_lab.up(1)
    text = str(caught.value)
    log = spare_lab.host("h1").log_path
    assert "h1 did not start" in text and str(log) in text
    assert "postfix did not start" in log.read_text()
    assert leftovers(spare_lab.instance) == [f"link msbr{spare_lab.instance}"]


def test_up_with_mail_upgrades_a_no_mail_host_without_resetting(spare_lab: Lab) -> None:
    spare_lab.up(1, mail=False)
    spare_lab.run("h1", "mkdir -p /var/lib/mailstate && touch /var/lib/mailstate/lock")
    [h1] = spare_lab.up(1)
    assert h1.mail
    [status] = spare_lab.status()
    assert status.ports == [22, 25, 110, 143, 993, 995, 8080]
    assert spare_lab.run("h1", "test -e /var/lib/mailstate/lock").returncode == 0


def test_reset_of_a_dead_host_names_its_log(spare_lab: Lab) -> None:
    spare_lab.up(1, mail=False)
    h1 = spare_lab.host("h1")
    init = spare_lab._init_pid(h1)
    assert init is not None
    os.kill(init, 9)
    with pytest.raises(MailstateError) as caught:
        spare_lab.reset()
    assert "h1" in str(caught.value) and str(h1.log_path) in str(caught.value)
    assert [s.running for s in spare_lab.status()] == [False]
    assert spare_lab.up(1, mail=False)[0].name == "h1"  # up brings it back
    assert [s.running for s in spare_lab.status()] == [True]


def mounts_of(instance: int) -> list[str]:
    """Mount points anywhere on the machine (every mount namespace) under the instance's
    state dir: a host's overlay and bind mounts must live and die with the host."""
    marker = f"/mailstate-lab/{instance}/"
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:
            continue
        found |= {line.split()[4] for line in text.splitlines() if marker in line}
    return sorted(found)


def test_a_debian13_host_starts_from_an_overlay_and_down_removes_every_mount(
        spare_lab: Lab) -> None:
    started = time.monotonic()
    [h1] = spare_lab.up(1, releases="trixie")
    took = time.monotonic() - started
    assert (h1.release, h1.native) == ("trixie", False)
    assert spare_lab.run("h1", "cut -d. -f1 /etc/debian_version").stdout.strip() == "13"
    inside = mounts_of(spare_lab.instance)
    assert str(h1.root) in inside and f"{h1.root}/etc/postfix" in inside
    # nothing of the host is mounted in the machine's own namespace
    machine = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                             text=True, check=True).stdout
    assert f"/mailstate-lab/{spare_lab.instance}/" not in machine
    # copy-on-write: the host's upper dir holds what it wrote, not a copy of the rootfs
    upper = subprocess.run(["du", "-sm", str(h1.directory / "overlay")], capture_output=True,
                           text=True, check=True).stdout.split()[0]
    assert int(upper) < 20, f"{upper} MB in the overlay's upper dir"
    spare_lab.run("h1", "touch /usr/local/bin/written-in-h1")
    assert (h1.directory / "overlay/upper/usr/local/bin/written-in-h1").exists()
    cache = releases.resolve("trixie", build=False).source
    assert not (cache / "usr/local/bin/written-in-h1").exists()  # the cache stays pristine
    print(f"one Debian 13 host up (template included) in {took:.2f} s")

    spare_lab.down()
    assert mounts_of(spare_lab.instance) == []
    assert leftovers(spare_lab.instance) == []
    assert not h1.directory.exists()
