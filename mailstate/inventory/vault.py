"""Ansible Vault (format 1.1/1.2, AES256): decrypt inline `!vault` values and whole files.

The format, as Ansible writes it: a header line `$ANSIBLE_VAULT;1.1;AES256` (1.2 adds
`;LABEL`), then hex text (80 columns) of `hex(salt) \\n hex(hmac) \\n hex(ciphertext)`.
PBKDF2-HMAC-SHA256 (10000 rounds, 32-byte salt) derives 80 bytes: an AES-256 key, an
HMAC-SHA256 key and the 16-byte CTR nonce; the plaintext is PKCS7-padded, encrypted in
CTR mode, and the HMAC covers the ciphertext. `cryptography` is imported only when a
vault is met, so inventories without one cost nothing.

Passwords come from `--vault-password-file` (several allowed; an executable file is run
and its output used, as Ansible does), `--vault-id [label@]FILE|prompt`,
`$ANSIBLE_VAULT_PASSWORD_FILE`, or a prompt (`--ask-vault-pass`, or on a terminal when
a vault is met and nothing else was given). Each is tried until one's HMAC matches.
"""

from __future__ import annotations

import binascii
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inputs import read_capped

HEADER = "$ANSIBLE_VAULT"
ITERATIONS = 10000
MAX_PASSWORD_BYTES = 64 * 1024
SCRIPT_TIMEOUT = 60.0


def _error(summary: str, where: str, fix: str = "") -> MailstateError:
    return MailstateError(Diagnostic("error", summary, Location(where), fix=fix, code="vault"))


def is_vaulted(text: str | bytes) -> bool:
    head = text[:len(HEADER)]
    return head == (HEADER.encode() if isinstance(head, bytes) else HEADER)


def _derive(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt,
                     iterations=ITERATIONS).derive(password)
    return key[:32], key[32:64], key[64:80]


def _split(envelope: str, where: str) -> tuple[bytes, bytes, bytes]:
    """(salt, hmac, ciphertext) from a vault text; a clear error when it is damaged."""
    lines = envelope.strip().splitlines()
    header = [part.strip() for part in lines[0].split(";")] if lines else []
    if len(header) < 3 or header[0] != HEADER or header[1] not in ("1.1", "1.2"):
        raise _error("expected a vault header `$ANSIBLE_VAULT;1.1;AES256`, found another "
                     "first line", where)
    if header[2] != "AES256":
        raise _error(f"vault cipher {header[2]!r} is not supported (only AES256)", where)
    try:
        inner = binascii.unhexlify("".join(line.strip() for line in lines[1:]))
        salt_hex, mac_hex, data_hex = inner.split(b"\n", 2)
        return (binascii.unhexlify(salt_hex), binascii.unhexlify(mac_hex),
                binascii.unhexlify(data_hex))
    except (ValueError, binascii.Error):
        raise _error("vault data is damaged (not the hex layout Ansible writes)", where,
                     fix="re-create it with ansible-vault encrypt_string / encrypt") from None


def decrypt_with(envelope: str, password: bytes, where: str = "vault") -> bytes | None:
    """Plaintext bytes, or None when this password's HMAC does not match."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, hmac, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    salt, mac, data = _split(envelope, where)
    key, mac_key, nonce = _derive(password, salt)
    check = hmac.HMAC(mac_key, hashes.SHA256())
    check.update(data)
    try:
        check.verify(mac)
    except InvalidSignature:
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(decryptor.update(data) + decryptor.finalize()) + \
            unpadder.finalize()
    except ValueError:
        raise _error("vault data is damaged (bad padding after a matching HMAC)",
                     where) from None


def encrypt(plaintext: bytes, password: bytes, label: str | None = None,
            salt: bytes | None = None) -> str:
    """Vault text for `plaintext` (what `ansible-vault encrypt` writes)."""
    from cryptography.hazmat.primitives import hashes, hmac, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    salt = salt or os.urandom(32)
    key, mac_key, nonce = _derive(password, salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    data = encryptor.update(padded) + encryptor.finalize()
    sign = hmac.HMAC(mac_key, hashes.SHA256())
    sign.update(data)
    body = binascii.hexlify(b"\n".join([binascii.hexlify(salt),
                                        binascii.hexlify(sign.finalize()),
                                        binascii.hexlify(data)])).decode()
    header = f"{HEADER};1.2;AES256;{label}" if label else f"{HEADER};1.1;AES256"
    lines = [body[i:i + 80] for i in range(0, len(body), 80)]
    return "\n".join([header, *lines]) + "\n"


@dataclass
class PasswordSource:
    """One place a vault password comes from: a file, a script, or the prompt."""

    kind: str  # "file" | "prompt"
    path: str = ""
    label: str = "default"

    def read(self, prompt: Callable[[str], str]) -> bytes:
        if self.kind == "prompt":
            return prompt(f"Vault password ({self.label}): ").encode()
        return _password_from_file(self.path, self.label)


def _password_from_file(path: str, label: str) -> bytes:
    import subprocess

    target = Path(path).expanduser()
    if not target.exists():
        raise _error(f"vault password file {path} not found", path,
                     fix="check --vault-password-file / ANSIBLE_VAULT_PASSWORD_FILE")
    if target.is_file() and os.access(target, os.X_OK):
        argv = [str(target)]
        if target.stem.endswith("-client"):
            argv += ["--vault-id", label]
        try:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  timeout=SCRIPT_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _error(f"vault password script {path} failed: {type(exc).__name__}",
                         path) from None
        if done.returncode != 0:
            raise _error(f"vault password script {path} exited with {done.returncode}", path)
        password = done.stdout[:MAX_PASSWORD_BYTES + 1].strip(b"\r\n")
    else:
        password = read_capped(target, "vault password file", MAX_PASSWORD_BYTES).strip()
    if not password:
        raise _error(f"vault password file {path} is empty", path)
    return password


@dataclass
class VaultKeys:
    """The run's vault passwords, read when the first vault is met (never before)."""

    sources: list[PasswordSource] = field(default_factory=list)
    ask: bool = False
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())
    prompt: Callable[[str], str] = field(default=lambda text: _getpass(text), repr=False)
    _passwords: list[bytes] | None = field(default=None, repr=False)
    _plain: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def passwords(self, where: str) -> list[bytes]:
        if self._passwords is None:
            sources = list(self.sources)
            if self.ask or (not sources and self.interactive):
                sources.append(PasswordSource("prompt"))
            if not sources:
                raise _error(
                    f"{where} is vault-encrypted and no vault password was given", where,
                    fix="pass --vault-password-file FILE, set ANSIBLE_VAULT_PASSWORD_FILE, "
                        "or use --ask-vault-pass")
            self._passwords = [s.read(self.prompt) for s in sources]
        return self._passwords

    def decrypt(self, envelope: str, where: str) -> bytes:
        for password in self.passwords(where):
            plain = decrypt_with(envelope, password, where)
            if plain is not None:
                return plain
        raise _error(f"{where}: no vault password given decrypts it", where,
                     fix="check the vault password (file) used for this inventory")

    def decrypt_text(self, envelope: str, where: str) -> str:
        """An inline value's text (memoised: the same ciphertext is decrypted once)."""
        key = (envelope, where)
        if key not in self._plain:
            data = self.decrypt(envelope, where)
            try:
                self._plain[key] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise _error(f"{where}: the decrypted value is not UTF-8 text", where) from None
        return self._plain[key]


def _getpass(text: str) -> str:
    import getpass

    return getpass.getpass(text)


def keys_from_options(password_files: list[str] | None, vault_ids: list[str] | None,
                      ask: bool = False) -> VaultKeys:
    """`--vault-password-file`, `--vault-id`, `--ask-vault-pass` and the environment."""
    sources = [PasswordSource("file", p) for p in password_files or []]
    for spec in vault_ids or []:
        label, _, where = spec.rpartition("@")
        if where == "prompt":
            sources.append(PasswordSource("prompt", label=label or "default"))
        else:
            sources.append(PasswordSource("file", where, label or "default"))
    env = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if env:
        sources.append(PasswordSource("file", env))
    return VaultKeys(sources, ask)
