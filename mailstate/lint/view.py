"""What the state implies once applied to a stock Debian host: effective values.

A state only lists what it changes. To judge it, lint needs the value a daemon will
actually use: the state's own value, else Debian's stock configuration, else the
program's built-in default (of the `--target` release's Postfix when one is given).
The same for master.cf services (`-o` beats main.cf) and Dovecot listeners (stock
imap/imaps/pop3/pop3s exist unless the state closes them; a listener's address is
`address` in 2.3 and `listen` in 2.4, either spelling counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailstate.diagnostics import Location
from mailstate.model.loader import ResolvedState
from mailstate.model.postfix import MasterServiceState
from mailstate.model.postfix_params import DEFAULTS
from mailstate.model.services import inet_host, inet_port
from mailstate.model.values import render

if TYPE_CHECKING:
    from mailstate.releases.catalog import Target

# Debian 12 stock main.cf values that differ from Postfix's built-in defaults.
DEBIAN_MAIN: dict[str, str] = {
    "smtpd_tls_security_level": "may",
    "smtp_tls_security_level": "may",
    "smtpd_tls_cert_file": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
    "smtpd_tls_key_file": "/etc/ssl/private/ssl-cert-snakeoil.key",
    "compatibility_level": "3.6",
}
# Debian 13's stock main.cf differs from Debian 12's (for these checks) only here.
DEBIAN_MAIN_BY_POSTFIX: dict[str, dict[str, str]] = {
    "3.7": DEBIAN_MAIN, "3.10": {**DEBIAN_MAIN, "compatibility_level": "3.9"}}
# Dovecot 2.3 built-in listeners (Debian's 10-master.conf only comments them).
STOCK_LISTENERS: dict[tuple[str, str], tuple[int, bool]] = {
    ("service imap-login", "inet_listener imap"): (143, False),
    ("service imap-login", "inet_listener imaps"): (993, True),
    ("service pop3-login", "inet_listener pop3"): (110, False),
    ("service pop3-login", "inet_listener pop3s"): (995, True),
}
SMTPD_NAMES = {"smtp", "submission", "submissions", "smtps"}


@dataclass(frozen=True)
class Service:
    """A master.cf smtpd service as it will run: key, port and the state entry."""

    key: str
    name: str
    port: int | None
    host: str | None
    entry: MasterServiceState
    stock: bool = False


@dataclass(frozen=True)
class Listener:
    """A Dovecot inet listener as it will run."""

    section: tuple[str, str]
    port: int
    addresses: tuple[str, ...]
    ssl: bool


class StateView:
    """Effective values of a resolved state, plus locations for findings."""

    def __init__(self, resolved: ResolvedState, existing_paths: set[str] | None = None,
                 target: Target | None = None) -> None:
        self.resolved = resolved
        self.state = resolved.state
        self.existing_paths = existing_paths
        self.target = target  # `lint --target`: the release the state is judged against
        self.main_values = self.state.postfix.main_values() if self.state.postfix else {}

    # -- locations ------------------------------------------------------------------
    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        return self.resolved.locate(path) if path else self.resolved.locate(())

    # -- postfix --------------------------------------------------------------------
    def main(self, name: str) -> str:
        """Effective main.cf value (state, else Debian stock, else Postfix default)."""
        value = self.main_values.get(name)
        if value is not None:
            return value
        series = self.target.postfix if self.target else None
        if series:
            from mailstate.model.postfix_params import table

            stock = DEBIAN_MAIN_BY_POSTFIX.get(series, DEBIAN_MAIN)
            return stock.get(name, table(series).default(name) or "")
        return DEBIAN_MAIN.get(name, DEFAULTS.get(name, ""))

    def main_path(self, name: str) -> tuple[str, ...]:
        section = "main" if name in (self.state.postfix.main.model_fields_set
                                     if self.state.postfix else ()) else "main_extra"
        return ("postfix", section, name)

    def smtpd_services(self) -> list[Service]:
        """smtpd services the state keeps (plus Debian's stock smtp/inet if not listed)."""
        master = self.state.postfix.master if self.state.postfix else {}
        result = []
        for key, entry in master.items():
            name, _, kind = key.rpartition("/")
            command = (entry.command or "").split()
            is_smtpd = command[:1] == ["smtpd"] or (not command and
                                                    name.rsplit(":", 1)[-1] in SMTPD_NAMES)
            if entry.absent or kind != "inet" or not is_smtpd:
                continue
            result.append(Service(key, name, inet_port(name), inet_host(name), entry))
        if "smtp/inet" not in master:
            result.append(Service("smtp/inet", "smtp", 25, None,
                                  MasterServiceState(command="smtpd"), stock=True))
        return result

    def option(self, service: Service, name: str) -> str:
        """Effective value of a parameter for one service: its `-o`, else main.cf."""
        value = render(service.entry.options.get(name))  # a `!secret` option: its text
        return value if value is not None else self.main(name)

    def option_path(self, service: Service, name: str) -> tuple[str, ...]:
        if name in service.entry.options:
            return ("postfix", "master", service.key, "options", name)
        if name in self.main_values:
            return self.main_path(name)
        return ("postfix", "master", service.key)

    def enabled(self, service: Service, name: str) -> bool:
        return self.option(service, name).strip().lower() == "yes"

    # -- dovecot --------------------------------------------------------------------
    def dovecot(self, *path: str) -> Any:
        return self.state.dovecot.get(*path) if self.state.dovecot else None

    def dovecot_text(self, *path: str) -> str | None:
        return render(self.dovecot(*path))

    def listeners(self) -> list[Listener]:
        """Open Dovecot inet listeners (port != 0) with their effective addresses."""
        settings = self.state.dovecot.settings if self.state.dovecot else {}
        sections = dict(STOCK_LISTENERS)
        for service, body in settings.items():
            if service.startswith("service ") and isinstance(body, dict):
                for name in body:
                    if name.startswith("inet_listener ") and (service, name) not in sections:
                        sections[(service, name)] = (0, False)
        listen = self.dovecot_text("listen") or "*, ::"
        result = []
        for (service, name), (port, ssl) in sections.items():
            body = settings.get(service, {}).get(name, {})
            body = body if isinstance(body, dict) else {}
            if body.get("port") is not None:
                port = int(body["port"])
            if port == 0:
                continue
            addresses = str(body.get("address") or body.get("listen") or listen)
            ssl_value = body.get("ssl")
            result.append(Listener(
                (service, name), port,
                tuple(a.strip() for a in addresses.replace(",", " ").split()),
                ssl if ssl_value is None else ssl_value == "yes"))
        return result
