#!/usr/bin/env python3
"""An inventory script (Ansible's script plugin runs it with --list)."""
import json
import sys

if "--list" in sys.argv:
    json.dump({
        "mail": {"hosts": ["s-mx1", "s-mx2"], "vars": {"from_script": "group"},
                 "children": ["relay"]},
        "relay": {"hosts": ["s-relay"]},
        "_meta": {"hostvars": {"s-mx1": {"ansible_host": "192.0.2.61"},
                               "s-relay": {"ansible_port": 2200}}},
    }, sys.stdout)
else:
    json.dump({}, sys.stdout)
