"""The hardened mail profile as a pyinfra user would write it first: few operations.

The other deploy (deploy.py) mirrors mailstate's edits one setting at a time. This one is
shorter, the way pyinfra's own docs suggest: a Dovecot drop-in written whole with
`files.put` (Debian's dovecot.conf includes conf.d/*.conf; later files win), ONE
`files.block` in master.cf right after the stock `smtp inet` line (the `-o` lines that
continue it, then the submission and submissions services), `files.line` for each main.cf
and Roundcube key, the TLS policy table with `files.put` + postmap, and the two reloads.
The values come from ../profile.yaml, like the other deploys; `mailstate plan` after it
must find nothing to change (run.py checks it).

    pyinfra INVENTORY.py deploy_dropin.py [--dry --diff] -y
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import yaml
from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

PROFILE = yaml.safe_load((Path(__file__).resolve().parent.parent / "profile.yaml").read_text())
MAIN_CF = "/etc/postfix/main.cf"
ROUNDCUBE = "/etc/roundcube/config.inc.php"

main_ops = [
    files.line(name=f"main.cf {key}", path=MAIN_CF, line=rf"^{key}[[:space:]]*=.*$",
               replace=f"{key} = {value}")
    for key, value in PROFILE["main_cf"].items()
]
master = files.block(
    name="master.cf: smtp options, submission, submissions", path="/etc/postfix/master.cf",
    after=True, line=r"^smtp[ \t]+inet[ \t].*smtpd$", marker="# {mark} hardened services",
    content=PROFILE["master_smtp_options"] + PROFILE["master_services"].rstrip("\n"))
policy = files.put(
    name="tls_policy", dest="/etc/postfix/tls_policy", mode="644",
    src=io.StringIO("".join(f"{k} {v}\n" for k, v in PROFILE["tls_policy"].items())))
server.shell(name="postmap tls_policy", commands=["postmap hash:/etc/postfix/tls_policy"],
             _if=policy.did_change)
dropin = files.put(
    name="dovecot drop-in", dest="/etc/dovecot/conf.d/99-hardened.conf", mode="644",
    src=io.StringIO(PROFILE["dovecot_dropin"]))
for key, value in PROFILE["roundcube"].items():
    if value is not None:  # the host's own name where the profile says {{ mail_hostname }}
        value = value.replace("{{ mail_hostname }}", host.data.get("mail_hostname"))
    match = rf"^\$config\['{re.escape(key)}'\][[:space:]]*=.*$"
    files.line(name=f"roundcube {key}", path=ROUNDCUBE, line=match, present=value is not None,
               replace=f"$config['{key}'] = {value};" if value is not None else "")
server.shell(name="reload postfix", commands=["postfix reload"],
             _if=any_changed(*main_ops, master))
server.shell(name="reload dovecot", commands=["doveadm reload"], _if=dropin.did_change)
