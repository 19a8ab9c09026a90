"""Issue #16, the controller: hostile inventory values and limits are bounded, refused
with a clear error (exit 1, no traceback) and never act on this machine.

Each case was reproduced before the fix (see the issue); each test runs the real CLI in
a fresh process (tests/faults/conftest.py `cli`) or the function that reads the input,
with a time limit that a hang or an unbounded read would break.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mailstate.diagnostics import MailstateError
from mailstate.inventory import load_inventory
from mailstate.lab import Lab
from mailstate.transport.ssh import SshOptions, _load_key, _parsed_known_hosts, connect
from tests.engine.conftest import Run, write_inventory
from tests.faults.conftest import no_traceback

STATE = "postfix:\n  main:\n    smtp_tls_note_starttls_offer: yes\n"


def run_cli(*args: str, cwd: Path, home: Path | None = None, timeout: float = 60) -> Run:
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
    proc = subprocess.run([sys.executable, "-m", "mailstate", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def _inventory(tmp: Path, hosts: dict[str, dict[str, object] | None]) -> Path:
    path = tmp / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def test_semicolon_host_name_never_reaches_match_exec(tmp_path: Path) -> None:
    """`Match exec "... %h"` in ~/.ssh/config runs a shell command with the host name in
    it: a name with `;` ran a command of its own on the controller."""
    marker = tmp_path / "pwned"
    ssh_dir = tmp_path / "home" / ".ssh"
    ssh_dir.mkdir(parents=True)
    config = ssh_dir / "config"
    config.write_text('Match exec "true %h"\n  User nobody\n')
    evil = f"x;touch {marker}"
    # the hole is real: paramiko itself runs the command for such a name
    subprocess.run([sys.executable, "-c", "import paramiko, sys; paramiko.SSHConfig.from_path("
                    "sys.argv[1]).lookup(sys.argv[2])", str(config), evil],
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)
    assert marker.exists()
    marker.unlink()

    state = tmp_path / "state.yaml"
    state.write_text(STATE)
    inventory = _inventory(tmp_path, {evil: {"mailstate_states": [str(state)]}})
    out = run_cli("plan", "-i", str(inventory), cwd=tmp_path, home=tmp_path / "home")
    no_traceback(out)
    assert out.code == 1
    assert "cannot be given to ssh" in out.stdout + out.stderr
    assert not marker.exists()
    host = load_inventory(inventory, warn=None).host(evil)
    with pytest.raises(MailstateError, match="cannot be given to ssh"):
        connect(host, SshOptions(ssh_config_path=config))
    assert not marker.exists()


@pytest.mark.parametrize("command", ["plan", "lint", "show"])
def test_port_that_is_not_a_number_is_a_clear_error(tmp_path: Path, command: str) -> None:
    inventory = _inventory(tmp_path, {"h1": {"ansible_port": "abc"}})
    args = [command, "-i", str(inventory)] + (["h1"] if command == "show" else [])
    out = run_cli(*args, cwd=tmp_path)
    no_traceback(out)
    assert out.code == 1
    text = out.stdout + out.stderr
    assert "ansible_port: expected a port number (1-65535), found 'abc'" in text
    assert f"{inventory}:" in text  # file and line of the value


@pytest.mark.parametrize("limit", ["~(", "~(a)\\1", "~(?=x)"])
def test_bad_limit_regex_is_a_clear_error(tmp_path: Path, limit: str) -> None:
    inventory = _inventory(tmp_path, {"h1": None})
    out = run_cli("lint", "-i", str(inventory), "--limit", limit, cwd=tmp_path)
    no_traceback(out)
    assert out.code == 1
    assert "--limit" in out.stdout + out.stderr


def test_catastrophic_limit_regex_answers_at_once(tmp_path: Path) -> None:
    """`~(a+)+$` takes exponential time in Python's re on 'aaa...ab'; the linear
    matcher answers in milliseconds."""
    name = "a" * 40 + "b"
    inventory = load_inventory(_inventory(tmp_path, {name: {"ansible_host": "10.0.0.1"},
                                                     "aaaa": None}), warn=None)
    started = time.monotonic()
    assert [h.name for h in inventory.select("~(a+)+$")] == ["aaaa"]
    assert [h.name for h in inventory.select("~(a|aa)+b")] == [name]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("args", [["-i", "/dev/zero"], ["--limit", "@/dev/zero"]],
                         ids=["inventory", "limit-file"])
def test_endless_input_files_are_refused(tmp_path: Path, args: list[str]) -> None:
    inventory = _inventory(tmp_path, {"h1": None})
    full = ["lint", *args] if args[0] == "-i" else ["lint", "-i", str(inventory), *args]
    started = time.monotonic()
    out = run_cli(*full, cwd=tmp_path, timeout=30)
    no_traceback(out)
    assert out.code == 1
    assert "/dev/zero (not a regular file) is larger than" in out.stdout + out.stderr
    assert time.monotonic() - started < 20


def test_endless_key_and_known_hosts_files_are_refused() -> None:
    with pytest.raises(MailstateError, match=r"SSH key /dev/zero .* is larger than"):
        _load_key("/dev/zero")
    with pytest.raises(MailstateError, match=r"known_hosts file /dev/zero .* is larger than"):
        _parsed_known_hosts("/dev/zero")


def test_endless_key_and_known_hosts_through_plan(lab: Lab, tmp_path: Path) -> None:
    state = tmp_path / "state.yaml"
    state.write_text(STATE)
    for var, what in (("ansible_ssh_private_key_file", "SSH key"),
                      ("mailstate_known_hosts_file", "known_hosts file")):
        inventory = write_inventory(lab, tmp_path / "inv.yaml", [str(state)])
        document = yaml.safe_load(inventory.read_text())
        document["all"]["hosts"]["h1"][var] = "/dev/zero"
        inventory.write_text(yaml.safe_dump(document))
        out = run_cli("plan", "-i", str(inventory), "--limit", "h1", cwd=tmp_path, timeout=60)
        no_traceback(out)
        assert out.code == 1
        assert f"{what} /dev/zero (not a regular file) is larger than" in out.stdout + out.stderr


def test_huge_host_range_is_refused(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, {"web[0:99999999]": None})
    started = time.monotonic()
    out = run_cli("lint", "-i", str(inventory), cwd=tmp_path)
    no_traceback(out)
    assert out.code == 1
    assert "makes 100000000 names; at most 100000 are allowed" in out.stdout + out.stderr
    assert time.monotonic() - started < 20
    ini = tmp_path / "hosts.ini"
    ini.write_text("[web]\nweb[0:9][0:9][0:9][0:9][0:9][0:9]\n")
    with pytest.raises(MailstateError, match="more than 100000 names"):
        load_inventory(ini, warn=None)


def test_limit_file_content_is_never_shown(tmp_path: Path) -> None:
    """`--limit @/etc/shadow` printed the file's lines in its warnings."""
    secret = tmp_path / "secret-file"
    secret.write_text("root:$6$SECRET-HASH-1:19000::::::\nSECRET-LINE-TWO\n")
    inventory = _inventory(tmp_path, {"h1": None})
    out = run_cli("lint", "-i", str(inventory), "--limit", f"@{secret}", cwd=tmp_path)
    no_traceback(out)
    text = out.stdout + out.stderr
    assert "SECRET" not in text
    assert f"line 1 of {secret} matches no host or group" in text
    shadow = Path("/etc/shadow")
    if os.access(shadow, os.R_OK):  # as root (CI): the file the issue names
        out = run_cli("lint", "-i", str(inventory), "--limit", "@/etc/shadow", cwd=tmp_path)
        no_traceback(out)
        hashes = [line.split(":")[1] for line in shadow.read_text().splitlines()
                  if line.count(":") > 2 and len(line.split(":")[1]) > 3]
        assert not any(h in out.stdout + out.stderr for h in hashes)
        assert not any(line.split(":")[0] + ":" in out.stdout + out.stderr
                       for line in shadow.read_text().splitlines() if line)


def test_yaml_alias_bomb_in_an_inventory_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yml"
    bomb.write_text("all:\n  vars:\n" + "".join(f"    {line}\n" for line in lines))
    started = time.monotonic()
    with pytest.raises(MailstateError, match="expands to more than"):
        load_inventory(bomb, warn=None)
    assert time.monotonic() - started < 10
