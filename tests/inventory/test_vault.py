"""Ansible Vault in inventories: the AES256 format both ways, where passwords come from,
and vaulted values as secrets (decrypted only when used, never printed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mailstate.diagnostics import MailstateError
from mailstate.inventory import load_inventory, resolve_state
from mailstate.inventory.vault import (
    PasswordSource,
    VaultKeys,
    decrypt_with,
    encrypt,
    keys_from_options,
)
from mailstate.lab import Lab
from mailstate.lab.build import LAB_SUDO_PASSWORD
from tests.engine.conftest import mailstate
from tests.inventory.conftest import Ansible

DATA = Path(__file__).resolve().parents[1] / "data" / "inventories" / "vault"
PASSWORD = (DATA / "vault-pass").read_text().strip()
PLAINTEXTS = ("db-s3cret", "become-pw", "tok-123", "deep-secret")


def keys(password: str | None = PASSWORD) -> VaultKeys:
    sources = []
    if password is not None:
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"mailstate-vp-{os.getpid()}"
        path.write_text(password + "\n")
        sources.append(PasswordSource("file", str(path)))
    return VaultKeys(sources, interactive=False)


def test_vault_format_round_trip() -> None:
    text = encrypt(b"hello\nworld", b"pw")
    lines = text.splitlines()
    assert lines[0] == "$ANSIBLE_VAULT;1.1;AES256"
    assert all(len(line) <= 80 for line in lines[1:]) and len(lines[1]) == 80
    assert decrypt_with(text, b"pw") == b"hello\nworld"
    assert decrypt_with(text, b"other") is None  # the HMAC decides, nothing is guessed
    labelled = encrypt(b"x", b"pw", label="prod")
    assert labelled.startswith("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert decrypt_with(labelled, b"pw") == b"x"


def test_ansible_vault_reads_what_mailstate_writes(ansible: Ansible, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret-pass\n")
    (tmp_path / "file.vault").write_text(encrypt("Grüße: 42\n".encode(), b"s3cret-pass"))
    [result] = ansible.run([{"argv": ["ansible-vault", "view", "--vault-password-file",
                                      str(tmp_path / "pw"), str(tmp_path / "file.vault")],
                             "cwd": str(tmp_path)}])
    assert result["rc"] == 0, result["err"]
    assert result["out"] == "Grüße: 42\n"


def test_vaulted_files_and_values_resolve_with_the_password() -> None:
    inventory = load_inventory([str(DATA / "hosts.yml"), str(DATA / "extra.ini")],
                               vault=keys(), warn=None)
    values, sources = inventory.variables("mx1")
    assert values["db_password"].reveal() == "db-s3cret"  # inline !vault
    assert values["vault_api_token"].reveal() == "tok-123"  # whole vaulted group_vars file
    assert sources["vault_api_token"].vaulted_file
    assert inventory.variables("mx3")[0]["extra_var"].reveal() == "from_vaulted_ini"
    assert inventory.host("mx1").become_password is not None
    assert inventory.host("mx1").become_password.reveal() == "become-pw"


def test_a_wrong_or_missing_password_is_a_clear_error() -> None:
    with pytest.raises(MailstateError) as info:
        load_inventory(str(DATA / "hosts.yml"), vault=keys("wrong"), warn=None)
    assert "no vault password given decrypts it" in str(info.value)
    with pytest.raises(MailstateError) as info:
        load_inventory(str(DATA / "hosts.yml"), vault=keys(None), warn=None)
    text = str(info.value)
    assert "--vault-password-file" in text and "ANSIBLE_VAULT_PASSWORD_FILE" in text
    assert "--ask-vault-pass" in text
    assert not any(p in text for p in PLAINTEXTS)


def test_password_from_a_script_and_from_the_environment(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "vault-pass.sh"
    script.write_text(f"#!/bin/sh\necho '{PASSWORD}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    inventory = load_inventory(str(DATA / "hosts.yml"),
                               vault=keys_from_options([str(script)], None), warn=None)
    assert inventory.variables("mx1")[0]["db_password"].reveal() == "db-s3cret"
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(DATA / "vault-pass"))
    inventory = load_inventory(str(DATA / "hosts.yml"), vault=keys_from_options(None, None),
                               warn=None)
    assert inventory.variables("mx1")[0]["vault_nested"]["inner"].reveal() == "deep-secret"


def _secret_site(tmp_path: Path) -> Path:
    """An inventory whose host uses an inline vault value in a secret map."""
    state = tmp_path / "relay.yaml"
    state.write_text("postfix:\n  maps:\n    /etc/postfix/sasl_passwd:\n      type: hash\n"
                     "      secret: true\n      entries:\n"
                     "        '[relay.example]:587': 'user:{{ relay_password }}'\n")
    value = encrypt(b"relay-pw-77", PASSWORD.encode())
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    uses:\n      mailstate_states: [relay]\n"
        "      relay_password: !vault |\n" + "".join(f"        {line}\n"
                                                   for line in value.splitlines()) +
        "    unrelated:\n      mailstate_states: []\n"
        "      other_secret: !vault |\n" + "".join(f"        {line}\n"
                                                   for line in value.splitlines()))
    (tmp_path / "states").mkdir()
    state.rename(tmp_path / "states" / "relay.yaml")
    return inventory


def test_an_inline_vault_value_is_decrypted_only_when_a_state_uses_it(tmp_path: Path) -> None:
    inventory = load_inventory(_secret_site(tmp_path), vault=keys(None), warn=None)
    assert resolve_state(inventory.host("unrelated"), inventory).state is not None
    with pytest.raises(MailstateError, match="no vault password was given"):
        resolve_state(inventory.host("uses"), inventory)
    again = tmp_path / "again"
    again.mkdir()
    inventory = load_inventory(_secret_site(again), vault=keys(), warn=None)
    state = resolve_state(inventory.host("uses"), inventory).state
    assert "user:relay-pw-77" in state.secret_values()


def test_vaulted_values_are_never_printed(tmp_path: Path) -> None:
    inventory = _secret_site(tmp_path)
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    runs = [
        ["show", "uses", "-i", str(inventory)], ["show", "uses", "-i", str(inventory), "--json"],
        ["lint", "-i", str(inventory)], ["inventory", "-i", str(inventory), "--list"],
        ["inventory", "-i", str(inventory), "--host", "uses"],
        ["inventory", "-i", str(DATA / "hosts.yml"), "-i", str(DATA / "extra.ini"), "--list"],
        ["inventory", "-i", str(DATA / "hosts.yml"), "--graph", "--vars"],
    ]
    for args in runs:
        out = subprocess.run([sys.executable, "-m", "mailstate", *args, "--vault-password-file",
                              str(password_file)], capture_output=True, text=True, timeout=60,
                             cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
        text = out.stdout + out.stderr
        assert out.returncode == 0, (args, text)
        assert "Traceback" not in text
        for plain in (*PLAINTEXTS, "relay-pw-77", "from_vaulted_ini"):
            assert plain not in text, (args, plain)
    listed = json.loads(subprocess.run(
        [sys.executable, "-m", "mailstate", "inventory", "-i", str(DATA / "hosts.yml"),
         "--vault-password-file", str(password_file), "--host", "mx1"],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    assert listed["vault_api_token"] == "***"  # from a vaulted file
    assert listed["vault_port"] == "***"  # every value of a vaulted file, not only text
    assert listed["db_password"]["__ansible_vault"].startswith("$ANSIBLE_VAULT;1.1;AES256")


def test_become_password_from_the_vault_is_used(clean_lab: Lab, tmp_path: Path) -> None:
    """`operator` needs a sudo password: `ansible_become_password: !vault` gives it,
    no -K prompt, and it appears nowhere in the output."""
    document = clean_lab.inventory()
    host = document["all"]["hosts"]["h1"]  # type: ignore[index]
    host["ansible_user"], host["ansible_become"] = "operator", True
    text = yaml.safe_dump(document)
    value = encrypt(LAB_SUDO_PASSWORD.encode(), PASSWORD.encode())
    text = text.replace("      ansible_become: true\n", "      ansible_become: true\n"
                        "      ansible_become_password: !vault |\n" +
                        "".join(f"        {line}\n" for line in value.splitlines()))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(text)
    out = mailstate("plan", "-i", str(inventory), "--limit", "h1", "--vault-password-file",
                    str(DATA / "vault-pass"))
    assert out.code in (0, 2), out.stdout + out.stderr
    assert LAB_SUDO_PASSWORD not in out.stdout + out.stderr


def test_vault_password_prompt_on_a_terminal(tmp_path: Path) -> None:
    """No password file and a terminal: asked once, when the first vault is met, and the
    answer is not echoed."""
    import contextlib
    import pty
    import time

    parent, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"}
    proc = subprocess.Popen([sys.executable, "-m", "mailstate", "inventory", "-i",
                             str(DATA / "hosts.yml"), "--host", "mx1"], cwd=tmp_path,
                            stdin=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    os.close(child)
    assert proc.stderr is not None
    prompt = ""
    while not prompt.endswith(": "):
        prompt += proc.stderr.read(1)
    time.sleep(0.1)
    os.write(parent, (PASSWORD + "\n").encode())
    out, err = proc.communicate(timeout=60)
    echoed = b""
    with contextlib.suppress(OSError):
        echoed = os.read(parent, 65536)
    os.close(parent)
    assert prompt == "Vault password (default): "
    assert proc.returncode == 0, err
    assert json.loads(out)["vault_api_token"] == "***"
    assert PASSWORD not in out + err + echoed.decode(errors="replace")
