"""Dovecot 2.3 -> 2.4: the settings a mail admin's configuration commonly holds. DATA.

Source: Dovecot's "Upgrading Dovecot CE from 2.3 to 2.4" (doc.dovecot.org, 2.4.0:
installation/upgrade/2.3-to-2.4), its tables "Converted Settings", "Removed Settings",
"passdb/userdb Section Naming" and "Plugin settings". Every entry below is proven with
the real `doveconf` of both versions (tests/releases/test_dovecot_table_real.py): the
2.3 spelling with `example` is accepted by 2.3 and refused by 2.4, and what mailstate
writes for 2.4 is accepted by 2.4 (and, for renames, the reverse for 2.3).

Spelling: `name` is a setting wherever a global setting may stand (top level or a
`protocol`/`local`/`remote` filter); `type/name` is a setting directly inside a section
of that type (`inet_listener/address`); `type {}` is the section itself.

Kinds:
- `rename`: same meaning. Written in either spelling, a state works on either version:
  mailstate writes the host's spelling (through `to_24`/`to_23`) and removes the other.
- `split`: one 2.3 setting became several 2.4 settings with the same meaning
  (`mail_location`); translated both ways by `dovecot_translate`.
- `section`: the section syntax changed (unnamed passdb/userdb, the plugin section).
- `value`: same name, some values no longer accepted (translated where the meaning is
  the same).
- `changed`: the meaning changed or the replacement works differently: refused for 2.4
  hosts with `note` saying what to write instead.
- `removed`: gone in 2.4 without a replacement; refused for 2.4 hosts.

Not covered (refused by name when 2.3 knew the setting and 2.4 does not, see
`dovecot_names.gone_in_24`, but not translated): variable syntax inside values other than
mail_location (`%u` -> `%{user}`), fts/quota/sieve/acl plugin settings, director and
replication, `imap_id_send`/`import_environment` list syntax, `$setting` references.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["rename", "split", "section", "value", "changed", "removed"]
UPGRADE = "https://doc.dovecot.org/2.4.0/installation/upgrade/2.3-to-2.4.html"


class Rename(NamedTuple):
    """One difference between Dovecot 2.3 and 2.4, as data."""

    old: str  # 2.3 spelling: "name", "type/name" or "type {}"
    new: str  # 2.4 spelling (what to write instead), "" when there is none
    kind: Kind
    note: str
    to_24: str = "same"  # value transform (dovecot_values.TRANSFORMS)
    to_23: str = "same"
    example: tuple[tuple[str, ...], str] = ((), "")  # a full 2.3 path and value
    reference: str = UPGRADE

    @property
    def old_name(self) -> str:
        return self.old.rpartition("/")[2]

    @property
    def new_name(self) -> str:
        return self.new.rpartition("/")[2]

    @property
    def section(self) -> str:
        """The section type the setting sits in directly ("" = global)."""
        return self.old.rpartition("/")[0]


CERT = "/etc/dovecot/private/dovecot.pem"
KEY = "/etc/dovecot/private/dovecot.key"

ENTRIES: tuple[Rename, ...] = (
    # --- TLS: 2.4 splits server and client settings and takes file paths, not `<file`
    Rename("ssl_cert", "ssl_server_cert_file", "rename",
           "2.4 takes the certificate file's path; 2.3 read it with '<'",
           "strip_file_ref", "add_file_ref", (("ssl_cert",), "<" + CERT)),
    Rename("ssl_key", "ssl_server_key_file", "rename",
           "2.4 takes the key file's path; 2.3 read it with '<'",
           "strip_file_ref", "add_file_ref", (("ssl_key",), "<" + KEY)),
    Rename("ssl_dh", "ssl_server_dh_file", "rename", "a path in 2.4, '<path' in 2.3",
           "strip_file_ref", "add_file_ref", (("ssl_dh",), "</usr/share/dovecot/dh.pem")),
    Rename("ssl_alt_cert", "ssl_server_alt_cert_file", "rename",
           "the second (e.g. ECDSA) certificate; a path in 2.4",
           "strip_file_ref", "add_file_ref", (("ssl_alt_cert",), "<" + CERT)),
    Rename("ssl_alt_key", "ssl_server_alt_key_file", "rename",
           "the second certificate's key; a path in 2.4",
           "strip_file_ref", "add_file_ref", (("ssl_alt_key",), "<" + KEY)),
    Rename("ssl_ca", "ssl_server_ca_file", "rename",
           "CA for verifying client certificates (the client side was already "
           "ssl_client_ca_file in 2.3); a path in 2.4",
           "strip_file_ref", "add_file_ref", (("ssl_ca",), "<" + CERT)),
    Rename("ssl_client_cert", "ssl_client_cert_file", "rename",
           "Dovecot's own client certificate (e.g. for imapc); a path in 2.4",
           "strip_file_ref", "add_file_ref", (("ssl_client_cert",), "<" + CERT)),
    Rename("ssl_client_key", "ssl_client_key_file", "rename",
           "the client certificate's key; a path in 2.4",
           "strip_file_ref", "add_file_ref", (("ssl_client_key",), "<" + KEY)),
    Rename("ssl_cert_username_field", "ssl_server_cert_username_field", "rename",
           "renamed", example=(("ssl_cert_username_field",), "commonName")),
    Rename("ssl_key_password", "ssl_server_key_password", "rename", "renamed",
           example=(("ssl_key_password",), "example-passphrase")),
    Rename("ssl_prefer_server_ciphers", "ssl_server_prefer_ciphers", "rename",
           "2.4 says whose cipher order wins: yes = server, no = client",
           "prefer_to_24", "prefer_to_23", (("ssl_prefer_server_ciphers",), "yes")),
    Rename("ssl_require_crl", "ssl_server_require_crl", "rename", "renamed",
           example=(("ssl_require_crl",), "no")),
    Rename("ssl_verify_client_cert", "ssl_server_request_client_cert", "rename",
           "renamed", example=(("ssl_verify_client_cert",), "no")),
    # --- authentication
    Rename("disable_plaintext_auth", "auth_allow_cleartext", "rename",
           "the meaning is inverted: disable_plaintext_auth = yes is "
           "auth_allow_cleartext = no (the 2.4 default)",
           "invert_bool", "invert_bool", (("disable_plaintext_auth",), "yes")),
    Rename("auth_default_realm", "auth_default_domain", "rename",
           "the domain appended to user names without one",
           example=(("auth_default_realm",), "example.com")),
    Rename("auth_worker_max_count", "service auth-worker/process_limit", "changed",
           "2.4 limits auth workers like any service: service auth-worker "
           "{ process_limit = N }", example=(("auth_worker_max_count",), "30")),
    Rename("auth_stats", "", "removed", "removed in 2.4",
           example=(("auth_stats",), "no")),
    Rename("login_access_sockets", "", "removed",
           "TCP wrappers support is gone; 2.4 refuses to start with this setting "
           "(use Lua authentication instead)",
           example=(("login_access_sockets",), "tcpwrap")),
    Rename("passdb {}", "passdb NAME {}", "section",
           "2.4 passdb sections need a name: passdb pam { driver = pam } (the name "
           "is the driver unless driver is set); mailstate names an unnamed one by "
           "its driver", example=(("passdb", "driver"), "pam")),
    Rename("userdb {}", "userdb NAME {}", "section",
           "2.4 userdb sections need a name: userdb passwd { driver = passwd }",
           example=(("userdb", "driver"), "passwd")),
    Rename("passdb/args", "passdb_<driver>_*", "changed",
           "2.4 has no args: each driver has its own settings (passdb_pam_service_name, "
           "passdb_sql_query, passdb_passwd_file_path, ...)",
           example=(("passdb", "args"), "dovecot")),
    Rename("userdb/args", "userdb_<driver>_*", "changed",
           "2.4 has no args: each driver has its own settings",
           example=(("userdb", "args"), "blocking=no")),
    Rename("passdb/default_fields", "passdb_fields", "changed",
           "default_fields and override_fields became one passdb_fields list "
           "with its own syntax", example=(("passdb", "default_fields"), "nopassword=y")),
    Rename("passdb/override_fields", "passdb_fields", "changed",
           "default_fields and override_fields became one passdb_fields list",
           example=(("passdb", "override_fields"), "nopassword=y")),
    Rename("userdb/default_fields", "userdb_fields", "changed",
           "default_fields and override_fields became one userdb_fields list",
           example=(("userdb", "default_fields"), "uid=vmail")),
    Rename("userdb/override_fields", "userdb_fields", "changed",
           "default_fields and override_fields became one userdb_fields list",
           example=(("userdb", "override_fields"), "uid=vmail")),
    # --- listeners and services
    Rename("inet_listener/address", "inet_listener/listen", "rename",
           "a listener's addresses are the global `listen` setting inside it",
           example=(("service imap-login", "inet_listener imaps", "address"), "127.0.0.1")),
    Rename("default_idle_kill", "default_idle_kill_interval", "rename", "renamed",
           example=(("default_idle_kill",), "2 mins")),
    Rename("service/idle_kill", "service/idle_kill_interval", "rename", "renamed",
           example=(("service imap", "idle_kill"), "2 mins")),
    Rename("service/service_count", "service/restart_request_count", "rename",
           "0 (no limit) is 'unlimited' in 2.4, where 0 is an error",
           "count_to_24", "count_to_23", (("service imap", "service_count"), "0")),
    Rename("protocols", "protocols", "value",
           "the obsolete names imaps/pop3s (2.3 converted them with a warning) are "
           "refused by 2.4: they mean imap/pop3, TLS is per listener",
           "protocols_to_24", "protocol_names", (("protocols",), "imaps pop3s")),
    # --- mail storage
    Rename("mail_location", "mail_driver, mail_path, ...", "split",
           "split into mail_driver, mail_path and mail_inbox_path/mail_index_path/... "
           "(the KEY=VALUE parameters); %u/%n/%d/%h become %{user}, %{user | username}, "
           "%{user | domain}, %{home}",
           example=(("mail_location",), "mbox:~/mail:INBOX=/var/mail/%u")),
    Rename("namespace/location", "namespace/mail_driver, mail_path, ...", "split",
           "a namespace's location is split like mail_location",
           example=(("namespace inbox", "location"), "maildir:~/Maildir")),
    Rename("mail_attachment_dir", "mail_ext_attachment_path", "rename", "renamed",
           example=(("mail_attachment_dir",), "/var/mail/attachments")),
    Rename("mail_attachment_min_size", "mail_ext_attachment_min_size", "rename", "renamed",
           example=(("mail_attachment_min_size",), "128k")),
    Rename("plugin {}", "(top level)", "section",
           "2.4 has no plugin section: plugin settings are global settings "
           "(their names changed for quota, sieve, fts and acl; see the upgrade notes)",
           example=(("plugin", "mail_log_fields"), "uid box msgid size")),
    # --- logging
    Rename("verbose_ssl", "log_debug", "changed",
           "use the event filter log_debug = category=ssl",
           example=(("verbose_ssl",), "yes")),
    Rename("imap_id_log", "", "removed",
           "replaced by the imap_id_received event (log it with an event filter)",
           example=(("imap_id_log",), "*")),
)


def by_old() -> dict[str, Rename]:
    return {e.old: e for e in ENTRIES}


def by_new() -> dict[str, Rename]:
    """Entries a 2.4 spelling can be translated back from (renames with a 2.4 name)."""
    return {e.new: e for e in ENTRIES if e.kind == "rename"}
