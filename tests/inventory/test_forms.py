"""What the differential suite cannot show: mailstate's own refusals (with the way out),
connection settings as ssh resolves them, and the regex matcher against Python's re."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mailstate.diagnostics import MailstateError
from mailstate.inventory import HostSpec, load_inventory
from mailstate.inventory.saferegex import SafeRegex
from mailstate.lab import Lab
from mailstate.transport.ssh import SshOptions, connect, resolve_endpoint
from tests.engine.conftest import Run, write_inventory

DATA = Path(__file__).resolve().parents[1] / "data" / "inventories"


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run([sys.executable, "-m", "mailstate", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize(("source", "form"), [
    ("plugin/generated.yml", "an inventory plugin configuration (plugin: "
                             "ansible.builtin.generator)"),
    ("script/inventory.py", "an inventory script (an executable file)")])
def test_dynamic_inventory_without_ansible_names_the_form_and_the_way_out(
        tmp_path: Path, source: str, form: str) -> None:
    out = run_cli("inventory", "-i", str(DATA / source), "--list", cwd=tmp_path,
                  env={"PATH": "/usr/bin:/bin"})
    assert out.code == 1 and "Traceback" not in out.stderr
    assert f"is {form}: only Ansible can run it, and `ansible-inventory` is not on PATH" \
        in out.stderr
    assert "pip install ansible-core" in out.stderr
    assert f"ansible-inventory -i {DATA / source} --list --export -y > static.yml" in out.stderr


def test_unreadable_file_in_an_inventory_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "good.yml").write_text("all:\n  hosts:\n    h1:\n")
    (tmp_path / "inv" / "broken").write_text("[web\nhost1 x\n")
    (tmp_path / "inv" / "notes.md").write_text("ignored: [\n")
    with pytest.raises(MailstateError) as info:
        load_inventory(tmp_path / "inv", warn=None)
    diag = info.value.diagnostics[0]
    assert diag.summary == f"{tmp_path / 'inv' / 'broken'} is neither a YAML nor an INI inventory"
    assert "as INI:" in diag.fix and "as YAML:" in diag.fix


def test_a_missing_source_suggests_the_host_list_form(tmp_path: Path) -> None:
    with pytest.raises(MailstateError) as info:
        load_inventory("mx1", warn=None)
    assert info.value.diagnostics[0].fix == "for a single host without an inventory file " \
                                            "write -i mx1,"
    inv = load_inventory("mx1,", warn=None)
    assert list(inv.hosts) == ["mx1"] and inv.groups["ungrouped"].hosts == ["mx1"]


def test_ini_named_yml_is_read_as_ini_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text("[web]\nweb1 ansible_port=2201\n")
    warnings: list = []
    inv = load_inventory(path, warn=warnings.append)
    assert inv.host("web1").port == 2201
    assert [w.summary for w in warnings] == [
        f"{path} is named .yml but holds an INI inventory: read as INI (as Ansible does)"]


HOSTILE = """\
all:
  hosts:
    tmpl:
      ansible_port: "{{ ssh_port | int + 1 }}"
    su:
      ansible_become: true
      ansible_become_method: su
    pg:
      ansible_become: true
      ansible_become_user: postgres
    local:
      ansible_connection: local
    fine:
      ansible_become: yes
      ansible_become_user: root
      ansible_become_method: sudo
      ansible_password: not-used
"""


def test_unusable_connection_settings_are_problems_of_their_host(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(HOSTILE)
    warnings: list = []
    inv = load_inventory(path, warn=warnings.append)
    summaries = {name: [d.summary for d in inv.host(name).problems] for name in inv.hosts}
    assert summaries["tmpl"] == [
        "host tmpl: ansible_port: cannot evaluate '{{ ssh_port | int + 1 }}': '+' is not "
        "supported (only variable names, quoted text, numbers and | default(...))"]
    assert summaries["su"] == ["host su: ansible_become_method: 'su' is not supported: "
                               "mailstate becomes root with sudo"]
    assert summaries["pg"] == ["host pg: ansible_become_user: 'postgres': mailstate edits "
                               "/etc/postfix and reloads the mail daemons, so it becomes root "
                               "only"]
    assert summaries["local"] == ["host local: ansible_connection: 'local' is not supported"]
    assert summaries["fine"] == []
    assert [w.summary for w in warnings] == [
        "host fine: ansible_password is not used: mailstate logs in with keys "
        "(ansible_ssh_private_key_file, ~/.ssh/config, the agent)"]
    assert str(inv.host("su").problems[0].location) == f"{path}:7:7"
    out = run_cli("inventory", "-i", str(path), "--check", cwd=tmp_path)
    assert out.code == 1 and "Traceback" not in out.stderr
    assert "host local: ansible_connection: 'local' is not supported" in out.stdout
    assert "fix: mailstate works over SSH only; for this machine point ansible_host at " \
           "127.0.0.1 with sshd running" in out.stdout
    with pytest.raises(MailstateError, match="becomes root with sudo"):
        connect(inv.host("su"))


def test_lint_with_an_empty_selection_says_so(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nweb1\n")
    out = run_cli("lint", "-i", str(path), "--limit", "nosuch", cwd=tmp_path)
    assert out.code == 1
    assert "no host of the inventory matched --limit" in out.stdout + out.stderr
    assert "give STATE files" not in out.stdout + out.stderr


def _config(tmp_path: Path, text: str) -> SshOptions:
    config = tmp_path / "ssh_config"
    config.write_text(text)
    return SshOptions(ssh_config_path=config)


def test_ssh_config_fills_in_what_the_inventory_leaves_open(tmp_path: Path) -> None:
    options = _config(tmp_path, "Host alias\n  HostName 192.0.2.44\n  Port 2202\n  User ops\n"
                                "Host 10.0.0.*\n  Port 2200\n  User admin\n")
    bare = resolve_endpoint(HostSpec("alias", "alias"), options)
    assert (bare.hostname, bare.port, bare.user) == ("192.0.2.44", 2202, "ops")
    pinned = resolve_endpoint(HostSpec("alias", "alias", port=22, user="root"), options)
    assert (pinned.hostname, pinned.port, pinned.user) == ("192.0.2.44", 22, "root")
    # HostName and the other settings apply to ansible_host too, as ssh matches the
    # name it is given
    by_address = resolve_endpoint(HostSpec("mx1", "10.0.0.7"), options)
    assert (by_address.hostname, by_address.port, by_address.user) == ("10.0.0.7", 2200,
                                                                       "admin")
    bad = _config(tmp_path, "Host x\n  Port twenty\n")
    with pytest.raises(MailstateError, match="Port 'twenty' for x is not a number"):
        resolve_endpoint(HostSpec("x", "x"), bad)


def test_inventory_that_names_no_port_or_user_leaves_them_to_ssh_config(
        tmp_path: Path) -> None:
    """An inventory entry without ansible_port/ansible_user (INI, YAML, a host list):
    ~/.ssh/config's Port 2222 and User other are what the connection uses (before, the
    loader implied 22 and root, which overrode them). Set in the inventory, port and
    user win over the config, as with ssh -p/-l. Through load_inventory, the path every
    command takes, then resolve_endpoint, which connect() uses."""
    options = _config(tmp_path, "Host mailhost\n  HostName 192.0.2.44\n  Port 2222\n"
                                "  User other\n")
    ini = tmp_path / "hosts.ini"
    ini.write_text("mailhost\n[pinned]\npinned-host ansible_host=mailhost ansible_port=22 "
                   "ansible_user=root\n")
    yml = tmp_path / "hosts.yml"
    yml.write_text("all:\n  hosts:\n    mailhost:\n")
    for source in (ini, yml, "mailhost,"):
        host = load_inventory(source, warn=None).host("mailhost")
        assert (host.port, host.user, host.problems) == (None, None, ()), source
        endpoint = resolve_endpoint(host, options)
        assert (endpoint.hostname, endpoint.port, endpoint.user) == ("192.0.2.44", 2222,
                                                                     "other"), source
    pinned = resolve_endpoint(load_inventory(ini, warn=None).host("pinned-host"), options)
    assert (pinned.hostname, pinned.port, pinned.user) == ("192.0.2.44", 22, "root")


@contextlib.contextmanager
def tcp_relay(target: tuple[str, int]) -> Iterator[tuple[int, list[int]]]:
    """A port on 127.0.0.1 relaying each connection to `target` (a port forward, as in
    front of a bastion or a NAT): (its port, a list that counts the connections)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            upstream = socket.create_connection(target, timeout=10)
            for ends in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=ends, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.close()


def test_host_reached_through_an_ssh_config_alias(clean_lab: Lab, tmp_path: Path) -> None:
    """The inventory names only `mailhost`; ~/.ssh/config alone says where (HostName
    127.0.0.1, Port P: a relay to h1's sshd), with which key (IdentityFile) and which
    host keys (UserKnownHostsFile, h1's key recorded for [127.0.0.1]:P). plan connects
    through the relay, verifies the host key strictly and shows h1's pending change
    (exit 2 on a stock host). The config sets no User: ssh's default, the local user
    (root here), applies; that the config's User and Port win over an inventory that
    sets none is ::test_inventory_that_names_no_port_or_user_leaves_them_to_ssh_config.
    """
    h1 = clean_lab.host("h1")
    key_type, key = next(line.split()[1:3] for line in
                         clean_lab.known_hosts_path.read_text().splitlines()
                         if h1.address in line.split()[0].split(","))
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    state = tmp_path / "state.yaml"
    state.write_text("postfix:\n  main:\n    smtp_tls_note_starttls_offer: yes\n")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"mailhost mailstate_states='[\"{state}\"]'\n")
    with tcp_relay((h1.address, 22)) as (port, accepted):
        known = tmp_path / "relay_known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {key_type} {key}\n")
        (home / ".ssh" / "config").write_text(
            f"Host mailhost\n  HostName 127.0.0.1\n  Port {port}\n"
            f"  IdentityFile {clean_lab.key_path}\n  UserKnownHostsFile {known}\n")
        out = run_cli("plan", "-i", str(inventory), cwd=tmp_path, env={"HOME": str(home)})
    assert out.code == 2, out.stdout + out.stderr
    assert "== mailhost\n" in out.stdout
    assert "+smtp_tls_note_starttls_offer = yes" in out.stdout
    assert "plan: 1 hosts, 1 to change, 0 unchanged, 0 failed" in out.stdout
    assert accepted, "plan did not connect through the port ssh_config names"
    assert known.read_text() == f"[127.0.0.1]:{port} {key_type} {key}\n"


def _host_blocks(stdout: str) -> dict[str, str]:
    """`== host` blocks of a human plan, by host."""
    parts = re.split(r"^== (\S+)\n", stdout, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_a_host_refused_by_its_entry_leaves_the_others_planned(clean_lab: Lab,
                                                               tmp_path: Path) -> None:
    """Three lab hosts, h2's entry unusable (`ansible_connection: local`): plan plans h1
    and h3 (their diffs), reports h2 by name with the variable's file:line, reason and
    fix, writes only h2 to the retry file and exits 1 (a host failed: README's exit
    codes); --json says the same per host, and that h2 was never contacted (0 round
    trips)."""
    state = tmp_path / "state.yaml"
    state.write_text("postfix:\n  main:\n    smtp_tls_note_starttls_offer: yes\n")
    inventory = write_inventory(clean_lab, tmp_path / "hosts.yml", [str(state)],
                                extra_hosts=None)
    document = yaml.safe_load(inventory.read_text())
    document["all"]["hosts"]["h2"]["ansible_connection"] = "local"
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    line = next(n for n, text in enumerate(inventory.read_text().splitlines(), 1)
                if "ansible_connection" in text)

    out = run_cli("plan", "-i", str(inventory), cwd=tmp_path)
    assert out.code == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    blocks = _host_blocks(out.stdout)
    assert list(blocks) == ["h1", "h2", "h3"]
    for name in ("h1", "h3"):
        assert "+smtp_tls_note_starttls_offer = yes" in blocks[name], blocks[name]
        assert "1 file(s) to change: /etc/postfix/main.cf" in blocks[name]
        assert "error" not in blocks[name]
    assert (f"  {inventory}:{line}:7: error [inventory]: host h2: ansible_connection: "
            "'local' is not supported") in blocks["h2"]
    assert "fix: mailstate works over SSH only" in blocks["h2"]
    assert "smtp_tls_note_starttls_offer" not in blocks["h2"]
    assert "plan: 3 hosts, 2 to change, 0 unchanged, 1 failed" in blocks["h2"] + blocks["h3"]
    assert (tmp_path / "mailstate.retry").read_text() == "h2\n"

    as_json = run_cli("plan", "-i", str(inventory), "--json", cwd=tmp_path)
    assert as_json.code == 1, as_json.stderr
    document = json.loads(as_json.stdout)
    assert (document["exit_code"], document["ok"], document["changed"]) == (1, False, True)
    hosts = {h["host"]: h for h in document["hosts"]}
    for name in ("h1", "h3"):
        assert (hosts[name]["ok"], hosts[name]["changed"], hosts[name]["errors"]) == (
            True, True, [])
        assert "+smtp_tls_note_starttls_offer = yes" in hosts[name]["changes"][0]["diff"]
    refused = hosts["h2"]
    assert (refused["ok"], refused["changes"], refused["round_trips"]) == (False, [], 0)
    assert [(e["summary"], e["location"]["line"]) for e in refused["errors"]] == [
        ("host h2: ansible_connection: 'local' is not supported", line)]


@pytest.mark.parametrize("pattern", [
    "mx", "^mx", "mx$", "m.1", "(a|b)+c", "[a-c]{2,3}x?", r"\d+", r"web\d{2}$", "x1",
    "(?i)MX", "a*b*c*$", "(ab|a)*b", "[^a]+", r"\bx", "a{0,3}b", r".*\.example\.org$",
    "(a+)+$", "(?:mx|relay)[0-9]*$", r"\w+-\w+", "a{2,}", "$", "", ".*",
    r"\s", "[A-Z]+[0-9]", "(?s).", r"\Amx\Z", r"[\d.]+$", "a|b|", "(|a)b"])
def test_linear_regex_agrees_with_python_re(pattern: str) -> None:
    names = ["mx1", "smx1", "mx", "web01", "web123", "aaab", "abab", "ab", "MX2", "x1", "bbb",
             "a.example.org", "aaaaaaaaa!", "c", "ccc", "", "mail-relay", "10.0.0.5", "b",
             "x\n", "mx\n", "A1", "zz x", "aa"]
    compiled = re.compile(pattern)
    mine = SafeRegex(pattern)
    for name in names:
        assert mine.match(name) == bool(compiled.match(name)), (pattern, name)


def test_several_sources_on_the_command_line(tmp_path: Path) -> None:
    out = run_cli("inventory", "-i", str(DATA / "multi" / "a" / "hosts.yml"), "-i",
                  str(DATA / "multi" / "b" / "hosts.ini"), "--host", "shared1", cwd=tmp_path)
    assert out.code == 0, out.stderr
    assert yaml.safe_load(out.stdout) == {"from_b": 1, "who": "b-inline", "who_file": "b",
                                          "only_a": 1, "only_b": 1}
