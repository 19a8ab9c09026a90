"""Value kinds shared by the state models: how a YAML value is checked and rendered.

Postfix and Dovecot do not type-check most values themselves (Postfix warns in syslog,
Dovecot refuses to start), so mailstate must. Each kind is an `Annotated` type whose
validator accepts the spellings a user writes (`yes`, `true`, `300s`, a list or a comma
string) and fails with one `PydanticCustomError("mailstate", ...)` carrying `expected`,
which `model.errors` turns into a `file:line:col: expected X, found Y` diagnostic.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr, WithJsonSchema

from mailstate.formats import maincf
from mailstate.model.problems import fail

Scalar = str | int | bool
BLANKS = " \t"


class TlsLevel(StrEnum):
    """Postfix TLS security levels (postconf(5) smtp_tls_security_level)."""

    NONE = "none"
    MAY = "may"
    ENCRYPT = "encrypt"
    DANE = "dane"
    DANE_ONLY = "dane-only"
    FINGERPRINT = "fingerprint"
    VERIFY = "verify"
    SECURE = "secure"


_TRUE = {"yes", "true", "on", "y"}
_FALSE = {"no", "false", "off", "n"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    fail("yes or no")


def to_int(value: Any) -> int | str:
    """A non-negative integer, or a `$parameter` reference Postfix expands itself."""
    if isinstance(value, bool):
        fail("an integer")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        return int(value)
    if isinstance(value, str) and value.startswith("$"):
        return value
    fail("a non-negative integer")


_TIME = re.compile(r"\d+[smhdw]?")


def to_time(value: Any) -> int | str:
    """A Postfix time value: `300s`, `1h`, `5d`, a bare number, or a `$parameter`."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and (_TIME.fullmatch(value.strip()) or value.startswith("$")):
        return value.strip()
    fail("a time value such as 300s, 10m, 1h, 5d or 1w")


def to_text(value: Any) -> str | SecretStr:
    """Any scalar as text; lists join with `, ` (Postfix accepts commas or spaces)."""
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return ", ".join(str(v) for v in value)
    fail("a string, number, yes/no or a list of strings")


def reveal_text(value: str | SecretStr) -> str:
    """The text of a value, secret or not (only to check it, never to show it)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def checked_line(value: str | SecretStr, problem: Callable[[str], str | None]
                 ) -> str | SecretStr:
    """`value` without blanks around it (every daemon strips them), checked by a file
    kind's grammar (`formats.*.value_problem`); a secret stays wrapped."""
    text = reveal_text(value).strip(BLANKS)
    found = problem(text)
    if found:
        fail(found)
    return SecretStr(text) if isinstance(value, SecretStr) else text


def choice(options: Iterable[str], label: str = "") -> Callable[[Any], str]:
    """Validator for a closed set of words (case-sensitive, as the daemons are)."""
    allowed = list(options)

    def check(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        fail(label or "one of " + ", ".join(allowed))

    return check


def to_inet_protocols(value: Any) -> str:
    words = value if isinstance(value, list) else re.split(r"[\s,]+", str(value).strip())
    if words and all(w in ("ipv4", "ipv6", "all") for w in words) and (
        words == ["all"] or "all" not in words
    ):
        return ", ".join(words)
    fail("all, ipv4, ipv6 or 'ipv4, ipv6'")


def to_port(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
        return value
    fail("a port number 0-65535 (0 disables the listener)")


_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


def is_address(word: str) -> bool:
    """`*`, `::`, an IP address (IPv6 optionally in brackets) or a host name."""
    if word in ("*", "::"):
        return True
    try:
        ipaddress.ip_address(word.strip("[]"))
        return True
    except ValueError:
        return bool(_HOSTNAME.fullmatch(word)) and not word.replace(".", "").isdigit()


def to_addresses(value: Any) -> str:
    """Dovecot `listen`/`address`: a list, or words separated by commas or spaces."""
    words = value if isinstance(value, list) else re.split(r"[\s,]+", str(value).strip())
    words = [str(w) for w in words if str(w)]
    if words and all(is_address(w) for w in words):
        return ", ".join(words)
    fail("addresses such as 127.0.0.1, *, :: or a host name")


def to_words(value: Any) -> str:
    """A space-separated list (Dovecot `protocols`, `auth_mechanisms`)."""
    words = value if isinstance(value, list) else str(value).split()
    if all(isinstance(w, str) and re.fullmatch(r"[$A-Za-z0-9_.-]+", w) for w in words):
        return " ".join(words)
    fail("a list of names (YAML list or space-separated words)")


def to_mode(value: Any) -> str:
    """A file mode: quote it (`"0660"`); an unquoted 0660 is also kept as written."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if re.fullmatch(r"0?[0-7]{3,4}", text):
        return text if text.startswith("0") else "0" + text
    fail("an octal file mode such as \"0660\"")


def main_cf_line(value: Any) -> Any:
    """A main.cf value as Postfix reads it back: one line, blanks around it stripped."""
    if isinstance(value, str | SecretStr):
        return checked_line(value, maincf.value_problem)
    return value


YesNo = Annotated[bool, BeforeValidator(to_bool)]
PostfixInt = Annotated[
    int | str, BeforeValidator(to_int), AfterValidator(main_cf_line),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0},
                              {"type": "string", "pattern": r"^\$"}]}),
]
PostfixTime = Annotated[
    int | str, BeforeValidator(to_time), AfterValidator(main_cf_line),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0},
                              {"type": "string", "pattern": r"^(\d+[smhdw]?|\$.*)$"}]}),
]
PostfixText = Annotated[
    str, BeforeValidator(to_text), AfterValidator(main_cf_line),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"},
                              {"type": "array", "items": {"type": "string"}}]}),
]
PostfixTlsLevel = Annotated[
    TlsLevel, BeforeValidator(choice([level.value for level in TlsLevel])),
]
InetProtocols = Annotated[
    str, BeforeValidator(to_inet_protocols),
    WithJsonSchema({"type": "string", "enum": ["all", "ipv4", "ipv6", "ipv4, ipv6"]}),
]

GENERIC_SCHEMA: dict[str, Any] = {"anyOf": [
    {"type": "string"}, {"type": "integer"}, {"type": "boolean"},
    {"type": "array", "items": {"type": "string"}},
]}


def render(value: Any, list_sep: str = ", ") -> str | None:
    """A typed value as the daemons write it: bool -> yes/no, list -> joined, enum -> word."""
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return list_sep.join(str(render(v)) for v in value)
    return str(value)
