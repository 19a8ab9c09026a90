"""Real mail hosts for tests, the demo and new users (root, Debian, no Docker).

    lab = Lab(2)                  # instance K: bridge msbrK, 10.231.K.0/24, netns msKhN
    lab.up(3)                     # h1..h3: sshd + Postfix + Dovecot, stock Debian config
    lab.run("h1", "postconf -n")  # CompletedProcess[str], inside the host's namespaces
    lab.reset()                   # stock files back, changed/stopped services restarted
    lab.status()                  # [HostStatus(name, address, sshd, postfix, dovecot, ports)]
    lab.down()                    # no process, netns, veth, bridge or mount left

`lab.inventory_path`, `lab.key_path`, `lab.known_hosts_path` and `lab.ca_path` are what
mailstate (or ssh/openssl) needs to reach the hosts with strict checking. Layout and
the per-host paths `reset` wipes are described in `harness`. Importing this package is
cheap (no subprocess, no root); work happens when a `Lab` method is called.
"""

from mailstate.lab.harness import HostStatus, Lab, LabHost

__all__ = ["HostStatus", "Lab", "LabHost"]
