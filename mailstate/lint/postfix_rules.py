"""Lint rules about Postfix alone: the seed guide's main.cf/master.cf/map mistakes
(MAIL-FACTS 1-4, 8, 9) and the SMTP AUTH/TLS exposure of each smtpd service."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from mailstate.lint.registry import Finding, rule
from mailstate.lint.view import StateView
from mailstate.model.postfix import NOT_PARAMETERS, POSTMAP_TYPES
from mailstate.model.postfix_params import KINDS
from mailstate.model.services import inet_host, inet_port

POSTCONF = "postconf(5) https://www.postfix.org/postconf.5.html"
MASTER = "master(5) https://www.postfix.org/master.5.html"
STRICT_OUT = ("encrypt", "verify", "secure", "dane-only", "fingerprint")


@rule("postfix-smtpd-port", "error", "main.cf parameter that Postfix does not have",
      "RFC 8314 section 3.3; postconf(5); MAIL-FACTS #1")
def smtpd_port(view: StateView) -> Iterator[Finding]:
    extra = view.state.postfix.main_extra if view.state.postfix else {}
    for name in extra:
        if name in NOT_PARAMETERS:
            yield Finding(f"{name} is not a Postfix parameter: Postfix ignores it "
                          "(postconf -n only warns 'unused parameter') and no port opens",
                          ("postfix", "main_extra", name), fix=NOT_PARAMETERS[name])


@rule("postfix-extra-typo", "warning", "main_extra name close to a known parameter", POSTCONF)
def extra_typo(view: StateView) -> Iterator[Finding]:
    extra = view.state.postfix.main_extra if view.state.postfix else {}
    for name in extra:
        close = difflib.get_close_matches(name, list(KINDS), n=2, cutoff=0.85)
        if close and name not in NOT_PARAMETERS:
            yield Finding(f"{name} is not a parameter of Postfix 3.7 or 3.10; Postfix will "
                          "ignore it",
                          ("postfix", "main_extra", name),
                          fix="did you mean " + " or ".join(close) + "? (under postfix.main)")


@rule("postfix-option-typo", "warning", "-o option close to a known parameter", MASTER)
def option_typo(view: StateView) -> Iterator[Finding]:
    master = view.state.postfix.master if view.state.postfix else {}
    for key, entry in master.items():
        for name in entry.options:
            if name in KINDS:
                continue
            close = difflib.get_close_matches(name, list(KINDS), n=2, cutoff=0.85)
            if close:
                yield Finding(f"-o {name} is not a Postfix parameter (user-defined?)",
                              ("postfix", "master", key, "options", name),
                              fix="did you mean " + " or ".join(close) + "?")


@rule("postfix-smtpd-encrypt-global", "error", "TLS required for all inbound SMTP",
      "RFC 3207 section 4; TLS_README https://www.postfix.org/TLS_README.html; MAIL-FACTS #2")
def smtpd_encrypt_global(view: StateView) -> Iterator[Finding]:
    level = view.main_values.get("smtpd_tls_security_level")
    if level != "encrypt" and view.main_values.get("smtpd_enforce_tls") != "yes":
        return
    name = "smtpd_tls_security_level" if level == "encrypt" else "smtpd_enforce_tls"
    port25 = [s for s in view.smtpd_services() if s.port == 25]
    refused = any(view.option(s, "smtpd_tls_security_level") == "encrypt" for s in port25)
    yield Finding(
        "TLS is required globally: a public MX then refuses mail from servers without "
        "TLS" if refused else "TLS is required globally; port 25 overrides it to may, but "
        "every other smtpd service (and any added later) inherits encrypt",
        view.main_path(name), severity="error" if refused else "warning",
        fix="smtpd_tls_security_level: may in main; encrypt only as -o on "
            "submission/inet and submissions/inet")


@rule("postfix-smtp-encrypt-global", "error", "TLS required for all outbound SMTP",
      "postconf(5) smtp_tls_security_level; TLS_README; MAIL-FACTS #3")
def smtp_encrypt_global(view: StateView) -> Iterator[Finding]:
    level = view.main_values.get("smtp_tls_security_level")
    if level in STRICT_OUT:
        yield Finding(f"smtp_tls_security_level = {level} globally: delivery to the many "
                      "servers without (verifiable) TLS fails and mail bounces",
                      view.main_path("smtp_tls_security_level"),
                      fix="may (or dane with a DNSSEC-validating resolver); require TLS "
                          "per destination in smtp_tls_policy_maps")


@rule("postfix-map-wildcard", "error", "'*' key in an indexed lookup table",
      "postmap(1), TLS_README 'TLS policy table'; MAIL-FACTS #4")
def map_wildcard(view: StateView) -> Iterator[Finding]:
    maps = view.state.postfix.maps if view.state.postfix else {}
    for path, table in maps.items():
        if table.type not in (*POSTMAP_TYPES, "texthash"):
            continue
        field = "entries" if table.entries is not None else "content"
        for key in (table.entries or table.content or {}):
            if key.strip() == "*":
                yield Finding(
                    f"'*' is not a wildcard in a {table.type}: table: this line never "
                    "matches", ("postfix", "maps", path, field, key),
                    fix="remove it; the default comes from smtp_tls_security_level. Keys are "
                        "next-hop names: example.com, .example.com, [mx.example.com]:25")


@rule("postfix-master-duplicate", "error", "master.cf service written twice",
      "master(5); MAIL-FACTS #8")
def master_duplicate(view: StateView) -> Iterator[Finding]:
    for dup in view.resolved.duplicates:
        if dup.path[:2] == ("postfix", "master") and len(dup.path) == 3:
            yield Finding(f"{dup.path[2]} is written twice (first at {dup.first}); only the "
                          "last one counts, as a second master.cf line would not replace "
                          "the first", location=dup.second,
                          fix="keep one entry per name/type; mailstate edits it in place")
    seen: dict[tuple[str | None, int], str] = {}
    master = view.state.postfix.master if view.state.postfix else {}
    for key, entry in master.items():
        name, _, kind = key.rpartition("/")
        if kind != "inet" or entry.absent or inet_port(name) is None:
            continue
        slot = (inet_host(name), inet_port(name) or 0)
        if slot in seen:
            yield Finding(f"{key} listens on the same port as {seen[slot]}: the Postfix "
                          "master cannot bind both", ("postfix", "master", key),
                          fix="merge them into one entry")
        seen[slot] = key


@rule("postfix-inet-restart", "warning", "inet_protocols/inet_interfaces change",
      "postconf(5) inet_protocols; MAIL-FACTS #9")
def inet_restart(view: StateView) -> Iterator[Finding]:
    for name in ("inet_protocols", "inet_interfaces"):
        value = view.main_values.get(name)
        if value is None:
            continue
        ipv4_only = name == "inet_protocols" and value == "ipv4"
        yield Finding(
            f"{name} = {value}: " + ("drops IPv6 (mail from IPv6-only servers fails); "
                                     if ipv4_only else "")
            + "takes effect only after a full postfix stop/start (reload only warns)",
            view.main_path(name), severity="warning" if ipv4_only else "info",
            fix="keep 'all' unless the host has no IPv6; mailstate restarts Postfix for it")


@rule("auth-on-port-25", "error", "SMTP AUTH offered on port 25",
      "RFC 6409 section 3; RFC 8314; postconf(5) smtpd_sasl_auth_enable")
def auth_on_25(view: StateView) -> Iterator[Finding]:
    for service in view.smtpd_services():
        if service.port == 25 and view.enabled(service, "smtpd_sasl_auth_enable"):
            yield Finding(f"{service.key} (port 25, MX traffic) enables SMTP AUTH: password "
                          "guessing on the public MX port, and clients submit to 587/465",
                          view.option_path(service, "smtpd_sasl_auth_enable"),
                          fix="smtpd_sasl_auth_enable=no for smtp/inet (the default); "
                              "enable it as -o on submission/submissions only")


@rule("submission-tls", "error", "submission without mandatory TLS",
      "RFC 8314 section 3.3; RFC 3207; MAIL-FACTS (submission)")
def submission_tls(view: StateView) -> Iterator[Finding]:
    for service in view.smtpd_services():
        if service.port != 587 or view.enabled(service, "smtpd_tls_wrappermode"):
            continue
        level = view.option(service, "smtpd_tls_security_level")
        if level != "encrypt":
            yield Finding(f"{service.key} (port 587) has smtpd_tls_security_level="
                          f"{level or 'none'}: clients may submit, and send passwords, "
                          "without TLS", view.option_path(service, "smtpd_tls_security_level"),
                          fix="-o smtpd_tls_security_level=encrypt on submission/inet")


@rule("auth-before-tls", "error", "SMTP AUTH offered before TLS",
      "RFC 4954 section 4; postconf(5) smtpd_tls_auth_only")
def auth_before_tls(view: StateView) -> Iterator[Finding]:
    for service in view.smtpd_services():
        if service.port in (25, 587) or not view.enabled(service, "smtpd_sasl_auth_enable"):
            continue  # 25 and 587 have their own rules
        protected = (view.enabled(service, "smtpd_tls_wrappermode")
                     or view.option(service, "smtpd_tls_security_level") == "encrypt"
                     or view.enabled(service, "smtpd_tls_auth_only"))
        if not protected:
            yield Finding(f"{service.key} offers AUTH on a connection that is not yet "
                          "encrypted: passwords can cross the network in cleartext",
                          view.option_path(service, "smtpd_sasl_auth_enable"),
                          fix="smtpd_tls_auth_only=yes, or -o smtpd_tls_security_level="
                              "encrypt / smtpd_tls_wrappermode=yes on the service")


@rule("postfix-policy-map-missing", "info", "lookup table not managed by the state",
      "postconf(5) smtp_tls_policy_maps; postmap(1)")
def policy_map_missing(view: StateView) -> Iterator[Finding]:
    maps = view.state.postfix.maps if view.state.postfix else {}
    for name, value in view.main_values.items():
        if not name.endswith("_maps") or not value:
            continue
        for ref in value.replace(",", " ").split():
            kind, _, path = ref.partition(":")
            if kind in POSTMAP_TYPES and path.startswith("/") and path not in maps:
                yield Finding(f"{name} uses {ref}, which this state does not manage: it "
                              "must exist on the host (and be postmapped), or lookups fail "
                              "and mail is deferred", view.main_path(name),
                              fix=f"add postfix.maps.{path} to the state")
