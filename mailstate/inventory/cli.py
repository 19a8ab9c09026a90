"""The inventory options every command shares (`-i` repeatable, vault, playbook dir).

Declared once here so plan, apply, rollback, lint, show, audit and `inventory` read
inventories the same way.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailstate.inventory.load import Inventory, Warn


def add_inventory_args(parser: argparse.ArgumentParser, limit: bool = True) -> None:
    parser.add_argument("-i", "--inventory", metavar="SOURCE", action="append",
                        help="inventory: an Ansible inventory file (INI, YAML, JSON, TOML, "
                             "vaulted or not), a directory of them, a host list 'h1,h2,' or a "
                             "plugin/script inventory (through ansible-inventory); repeat for "
                             "several; default $MAILSTATE_INVENTORY")
    if limit:
        parser.add_argument("-l", "--limit", metavar="PATTERN",
                            help="Ansible host patterns: names, groups, globs, ~regex, "
                                 "'a:&b:!c', 'g[0]', '@FILE' (e.g. @mailstate.retry)")
    parser.add_argument("--vault-password-file", "--vault-pass-file", action="append",
                        metavar="FILE", help="vault password file (an executable one is run); "
                        "default $ANSIBLE_VAULT_PASSWORD_FILE")
    parser.add_argument("--vault-id", action="append", metavar="[LABEL@]FILE|prompt",
                        help="a vault identity, as in Ansible")
    parser.add_argument("-J", "--ask-vault-pass", "--ask-vault-password", action="store_true",
                        help="ask for the vault password")
    parser.add_argument("--playbook-dir", metavar="DIR",
                        help="where playbook-side group_vars/ and host_vars/ are "
                             "(default: the working directory, as Ansible without a playbook)")


def inventory_sources(value: str | list[str] | None) -> list[str]:
    """-i values (several allowed) or $MAILSTATE_INVENTORY."""
    if isinstance(value, str):
        return [value]
    if value:
        return list(value)
    env = os.environ.get("MAILSTATE_INVENTORY")
    return [env] if env else []


def inventory_from_args(args: argparse.Namespace, warn: Warn | None = None) -> Inventory:
    """Load the inventory the command line names (a clear error when it names none)."""
    from mailstate.diagnostics import error
    from mailstate.inventory.load import load_inventory, stderr_warning
    from mailstate.inventory.vault import keys_from_options

    sources = inventory_sources(getattr(args, "inventory", None))
    if not sources:
        raise error("no inventory given", fix="pass -i inventory/lab.yaml (or set "
                    "MAILSTATE_INVENTORY); `mailstate lab up` writes one for the local lab")
    vault = keys_from_options(getattr(args, "vault_password_file", None),
                              getattr(args, "vault_id", None),
                              bool(getattr(args, "ask_vault_pass", False)))
    return load_inventory(sources, vault=vault, project_dir=getattr(args, "playbook_dir", None),
                          warn=warn or stderr_warning)


def saved_sources(value: str | list[str] | None) -> str | list[str]:
    """The inventory as a saved plan records it: absolute paths (host lists as given);
    one source as a plain string, as before several were allowed."""
    from pathlib import Path

    sources = [s if ("," in s and not Path(s).exists()) else str(Path(s).resolve())
               for s in inventory_sources(value)]
    return sources[0] if len(sources) == 1 else sources
