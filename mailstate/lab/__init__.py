"""Real mail hosts for tests, the demo and new users (root, Debian, no Docker).

    lab = Lab(2)                  # instance K: bridge msbrK, 10.231.K.0/24, netns msKhN
    lab.up(3)                     # h1..h3: sshd + Postfix + Dovecot + Roundcube, stock config
    lab.up(releases="bookworm,bookworm,trixie")   # a mixed fleet: Debian 12 and 13
    lab.run("h1", "postconf -n")  # CompletedProcess[str], inside the host (its own tools)
    lab.reset()                   # stock files back, changed/stopped services restarted
    lab.status()                  # [HostStatus(name, address, release, versions, ports...)]
    lab.down()                    # no process, netns, veth, bridge or mount left

`lab.inventory_path`, `lab.key_path`, `lab.known_hosts_path` and `lab.ca_path` are what
mailstate (or ssh/openssl) needs to reach the hosts with strict checking;
`lab.webmail_url(host)` is Roundcube on a host and `lab.mail_user` the mail user every
host has (`alice`, password known to the tests). Layout and the per-host paths `reset`
wipes are described in `harness`. Importing this package is cheap (no subprocess, no
root); work happens when a `Lab` method is called.
"""

from mailstate.lab.harness import Lab, LabHost, MailUser
from mailstate.lab.status import HostStatus

__all__ = ["HostStatus", "Lab", "LabHost", "MailUser"]
