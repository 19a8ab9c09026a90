"""Value transforms between Dovecot 2.3 and 2.4 spellings of the same setting.

Each transform maps one version's value to the other's, or raises `Untranslatable` with
the reason when the value has no equivalent (then the setting is refused for that host
instead of written wrong). The rename table (`dovecot_renames`) names them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping


class Untranslatable(ValueError):
    """This value cannot be written for the other version; the message says why."""


def same(value: str) -> str:
    return value


def strip_file_ref(value: str) -> str:
    """2.3 `ssl_cert = </path` (read a file) -> 2.4 `ssl_server_cert_file = /path`."""
    text = value.strip()
    if not text:
        return text
    if not text.startswith("<"):
        raise Untranslatable("without '<' Dovecot 2.3 takes the value itself as PEM data; "
                             "Dovecot 2.4 reads only files: write '<' and a path")
    return text[1:].strip()


def add_file_ref(value: str) -> str:
    """2.4 `ssl_server_cert_file = /path` -> 2.3 `ssl_cert = </path`."""
    text = value.strip()
    if text.startswith("<") or not text:
        return text
    return "<" + text


def _yes_no(value: str) -> bool:
    word = value.strip().lower()
    if word not in ("yes", "no"):
        raise Untranslatable(f"expected yes or no, found {value!r}")
    return word == "yes"


def invert_bool(value: str) -> str:
    """`disable_plaintext_auth = yes` means `auth_allow_cleartext = no`, and back."""
    return "no" if _yes_no(value) else "yes"


def prefer_to_24(value: str) -> str:
    """2.3 `ssl_prefer_server_ciphers = yes|no` -> 2.4 `ssl_server_prefer_ciphers =
    server|client`."""
    return "server" if _yes_no(value) else "client"


def prefer_to_23(value: str) -> str:
    word = value.strip().lower()
    if word not in ("server", "client"):
        raise Untranslatable(f"expected server or client, found {value!r}")
    return "yes" if word == "server" else "no"


def count_to_24(value: str) -> str:
    """2.3 `service_count = 0` (no limit) -> 2.4 `restart_request_count = unlimited`."""
    text = value.strip()
    if text == "0":
        return "unlimited"
    if not text.isdigit():
        raise Untranslatable(f"expected a number, found {value!r}")
    return text


def count_to_23(value: str) -> str:
    text = value.strip()
    if text == "unlimited":
        return "0"
    if not text.isdigit() or text == "0":
        raise Untranslatable(f"expected a positive number or unlimited, found {value!r}")
    return text


OBSOLETE_PROTOCOLS = {"imaps": "imap", "pop3s": "pop3"}


def protocol_names(value: str) -> str:
    """`protocols = imaps pop3s`: 2.3 converted the old names with a warning, 2.4 refuses
    them; TLS is a listener's business (`inet_listener imaps`), so they mean imap/pop3."""
    words: list[str] = []
    for word in value.split():
        word = OBSOLETE_PROTOCOLS.get(word, word)
        if word not in words:
            words.append(word)
    return " ".join(words)


def protocols_to_24(value: str) -> str:
    """As `protocol_names`; `$protocols imap` (add to the list) has no 2.4 spelling in
    one value: 2.4's protocols is a boolean list (`protocols { imap = yes }`)."""
    if "$" in value:
        raise Untranslatable("Dovecot 2.4 refuses $protocols: protocols is a list of "
                             "booleans there; write protocols: {imap: yes} for 2.4 hosts")
    return protocol_names(value)


# ---- mail_location (2.3) <-> mail_driver, mail_path, ... (2.4) ---------------------------

# mail_location KEY=VALUE parameters and the 2.4 setting each became
LOCATION_KEYS = {
    "INBOX": "mail_inbox_path",
    "INDEX": "mail_index_path",
    "INDEXPVT": "mail_index_private_path",
    "CONTROL": "mail_control_path",
    "LAYOUT": "mailbox_list_layout",
    "VOLATILEDIR": "mail_volatile_path",
    "ALT": "mail_alt_path",
    "DIRNAME": "mailbox_directory_name",
    "SUBSCRIPTIONS": "mailbox_subscriptions_filename",
    "LISTINDEX": "mailbox_list_index_prefix",
    "MAILBOXDIR": "mailbox_root_directory_name",
}
# flags without a value, and the 2.4 boolean each became
LOCATION_FLAGS = {
    "UTF-8": "mailbox_list_utf8",
    "ITERINDEX": "mailbox_list_iter_from_index_dir",
    "NO-NOSELECT": "mailbox_list_drop_noselect",
}
LOCATION_SETTINGS = ("mail_driver", "mail_path", *LOCATION_KEYS.values(),
                     *LOCATION_FLAGS.values())

# The 2.3 variables a mail path commonly holds, and their 2.4 syntax (upgrade notes).
VARIABLES_24 = {"u": "%{user}", "n": "%{user | username}", "d": "%{user | domain}",
                "h": "%{home}", "user": "%{user}", "username": "%{user | username}",
                "domain": "%{user | domain}", "home": "%{home}"}
# patterns as text: compiled on first use (re caches them), not at every import
_VAR_23 = r"%(%|[a-zA-Z]|\{[^{}]*\}|[^%\s]*)"  # the last: %Lu, %2.1u ...
_VAR_24 = r"%(%|\{[^{}]*\}|[^%\s]*)"


def variables_to_24(text: str) -> str:
    def convert(match: re.Match[str]) -> str:
        token = match.group(1)
        if token == "%":
            return "%%"
        key = token[1:-1].strip() if token.startswith("{") else token
        if key not in VARIABLES_24:
            raise Untranslatable(f"the variable %{token} has no known Dovecot 2.4 form "
                                 "(2.4 removed the one-letter variables)")
        return VARIABLES_24[key]
    return re.sub(_VAR_23, convert, text)


def variables_to_23(text: str) -> str:
    back = {"user": "%u", "user|username": "%n", "user|domain": "%d", "home": "%h"}

    def convert(match: re.Match[str]) -> str:
        token = match.group(1)
        if token == "%":
            return "%%"
        key = re.sub(r"\s+", "", token[1:-1])
        if key not in back:
            raise Untranslatable(f"the variable %{token} has no Dovecot 2.3 form")
        return back[key]
    return re.sub(_VAR_24, convert, text)


def split_location(value: str) -> dict[str, str]:
    """`mbox:~/mail:INBOX=/var/mail/%u` -> mail_driver, mail_path, mail_inbox_path."""
    text = value.strip()
    if not text:
        return {}  # empty: the default location (2.4: nothing to set)
    driver, sep, rest = text.partition(":")
    if not sep or not re.fullmatch(r"[a-z0-9_-]+", driver):
        raise Untranslatable(f"expected DRIVER:PATH[:KEY=VALUE...], found {value!r}")
    parts = rest.split(":")
    out = {"mail_driver": driver}
    if parts[0]:
        out["mail_path"] = variables_to_24(parts[0])
    for part in parts[1:]:
        key, has_value, arg = part.partition("=")
        if has_value and key in LOCATION_KEYS:
            out[LOCATION_KEYS[key]] = variables_to_24(arg)
        elif not has_value and key in LOCATION_FLAGS:
            out[LOCATION_FLAGS[key]] = "yes"
        else:
            raise Untranslatable(f"mail_location parameter {part!r} has no translation "
                                 "mailstate knows; write the Dovecot 2.4 mail_* settings")
    return out


def join_location(settings: Mapping[str, str]) -> str:
    """mail_driver, mail_path, ... (2.4) -> one 2.3 mail_location."""
    driver = settings.get("mail_driver", "").strip()
    if not driver:
        raise Untranslatable("Dovecot 2.3 has one mail_location = DRIVER:PATH; without "
                             "mail_driver it cannot be written")
    text = f"{driver}:{variables_to_23(settings.get('mail_path', ''))}"
    for key, name in LOCATION_KEYS.items():
        if settings.get(name):
            text += f":{key}={variables_to_23(settings[name])}"
    for flag, name in LOCATION_FLAGS.items():
        if name in settings and _yes_no(settings[name]):
            text += f":{flag}"
    return text


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "same": same,
    "strip_file_ref": strip_file_ref,
    "add_file_ref": add_file_ref,
    "invert_bool": invert_bool,
    "prefer_to_24": prefer_to_24,
    "prefer_to_23": prefer_to_23,
    "count_to_24": count_to_24,
    "count_to_23": count_to_23,
    "protocol_names": protocol_names,
    "protocols_to_24": protocols_to_24,
}
