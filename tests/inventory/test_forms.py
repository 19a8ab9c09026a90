"""What the differential suite cannot show: mailstate's own refusals (with the way out),
connection settings as ssh resolves them, and the regex matcher against Python's re."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mailstate.diagnostics import MailstateError
from mailstate.inventory import HostSpec, load_inventory
from mailstate.inventory.saferegex import SafeRegex
from mailstate.lab import Lab
from mailstate.transport.ssh import SshOptions, connect, resolve_endpoint
from tests.engine.conftest import Run

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


def test_host_reached_through_an_ssh_config_alias(lab: Lab, tmp_path: Path) -> None:
    """The inventory names only `mailhost`; ~/.ssh/config says where, as whom, with
    which key: plan connects (before, an implied port 22 and user root overrode it)."""
    h1 = lab.host("h1")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        f"Host mailhost\n  HostName {h1.address}\n  Port 22\n  User root\n"
        f"  IdentityFile {lab.key_path}\n  UserKnownHostsFile {lab.known_hosts_path}\n")
    known = lab.known_hosts_path.read_text()
    state = tmp_path / "state.yaml"
    state.write_text("postfix:\n  main:\n    smtp_tls_note_starttls_offer: yes\n")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"mailhost mailstate_states='[\"{state}\"]'\n")
    out = run_cli("plan", "-i", str(inventory), cwd=tmp_path, env={"HOME": str(home)})
    assert out.code in (0, 2), out.stdout + out.stderr
    assert "mailhost" in out.stdout
    assert lab.known_hosts_path.read_text() == known


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
