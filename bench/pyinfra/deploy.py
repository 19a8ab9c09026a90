"""The hardened mail profile written for pyinfra, the way a pyinfra user would.

pyinfra's own operations only (files.line, files.block, files.put, server.shell), with
the reloads run only when an edit of their service changed something (`_if=`). The values
come from ../profile.yaml, shared with the Ansible playbook; bench/README.md states how
each operation maps to states/hardened.yaml.

    pyinfra INVENTORY.py deploy.py [--dry --diff] -y
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

PROFILE = yaml.safe_load((Path(__file__).resolve().parent.parent / "profile.yaml").read_text())
MAIN_CF = "/etc/postfix/main.cf"
MASTER_CF = "/etc/postfix/master.cf"
DOVECOT_MASTER = "/etc/dovecot/conf.d/10-master.conf"
ROUNDCUBE = "/etc/roundcube/config.inc.php"

postfix_ops = [
    files.line(name=f"main.cf {key}", path=MAIN_CF, line=rf"^{key}[[:space:]]*=.*$",
               replace=f"{key} = {value}")
    for key, value in PROFILE["main_cf"].items()
]
postfix_ops.append(files.block(
    name="master.cf smtp/inet options", path=MASTER_CF, after=True,
    line=r"^smtp[ \t]+inet[ \t].*smtpd$", marker="# {mark} bench smtp-inet options",
    content=PROFILE["master_smtp_options"].rstrip("\n")))
postfix_ops.append(files.block(
    name="master.cf submission services", path=MASTER_CF,
    marker="# {mark} bench submission services",
    content=PROFILE["master_services"].rstrip("\n")))

policy_ops = [
    files.line(name=f"tls_policy {key}", path="/etc/postfix/tls_policy",
               line=rf"^{re.escape(key)}[[:space:]].*$", replace=f"{key} {value}")
    for key, value in PROFILE["tls_policy"].items()
]
server.shell(name="postmap tls_policy", commands=["postmap hash:/etc/postfix/tls_policy"],
             _if=any_changed(*policy_ops))

dovecot_ops = [
    files.block(name=f"10-master.conf {block['name']}", path=DOVECOT_MASTER, after=True,
                line=block["after"], marker=f"# {{mark}} bench {block['name']}",
                content=block["content"])
    for block in PROFILE["dovecot_blocks"]
]
dovecot_ops += [
    files.line(name=f"dovecot {item['key']}", path=item["path"],
               line=rf"^{item['key']}[[:space:]]*=.*$", replace=f"{item['key']} = {item['value']}")
    for item in PROFILE["dovecot_settings"]
]

for key, value in PROFILE["roundcube"].items():
    if value is not None:  # the host's own name where the profile says {{ mail_hostname }}
        value = value.replace("{{ mail_hostname }}", host.data.get("mail_hostname"))
    match = rf"^\$config\['{re.escape(key)}'\][[:space:]]*=.*$"
    if value is None:
        files.line(name=f"roundcube {key} removed", path=ROUNDCUBE, line=match, present=False)
    else:
        files.line(name=f"roundcube {key}", path=ROUNDCUBE, line=match,
                   replace=f"$config['{key}'] = {value};")

server.shell(name="reload postfix", commands=["postfix reload"],
             _if=any_changed(*postfix_ops))
server.shell(name="reload dovecot", commands=["doveadm reload"],
             _if=any_changed(*dovecot_ops))
