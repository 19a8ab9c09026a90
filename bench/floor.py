"""The floor a plan cannot beat: connect + ONE exec returning the managed files, per host.

Why it exists: mailstate's plan does exactly this much network work (one connection and
one round trip per host) plus parsing, editing and diffing. Timing a bare paramiko loop
over the same hosts, with the same pool size, in a fresh Python process, tells how much
of mailstate's plan time is its own overhead and how much is SSH and the 2 shared cores.

Deliberately self-contained (paramiko and the standard library only, nothing imported
from mailstate) and tuned the way LAB-NOTES says: TCP_NODELAY on a socket we open
ourselves, strict host-key checking against the lab's known_hosts (parsed once).

    python bench/floor.py HOSTS.json   (a list of {"name", "address", "port", "user",
                                        "key_file", "known_hosts_file"}; pool size via -f)
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import paramiko

# Same set of files mailstate's facts exec returns for states/hardened.yaml.
FETCH = ("tar -cPf - /etc/postfix/main.cf /etc/postfix/master.cf /etc/postfix/tls_policy "
         "/etc/roundcube/config.inc.php $(find /etc/dovecot /usr/share/dovecot/protocols.d "
         "-path '*/private' -prune -o -type f -name '*.conf' -print) 2>/dev/null; exit 0")


def fetch(host: dict[str, object], key: paramiko.PKey, known: paramiko.HostKeys) -> int:
    """Connect, run the one command, return how many bytes came back."""
    sock = socket.create_connection((str(host["address"]), int(str(host["port"]))), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    # Only this host's known key: paramiko's load_host_keys() is quadratic in the file's
    # length, and paying it once per connection is not a floor (see README).
    for keytype, hostkey in (known.lookup(str(host["address"])) or {}).items():
        client.get_host_keys().add(str(host["address"]), keytype, hostkey)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(str(host["address"]), port=int(str(host["port"])),
                       username=str(host["user"]), pkey=key, sock=sock, allow_agent=False,
                       look_for_keys=False, timeout=10)
        _, stdout, _ = client.exec_command(FETCH)
        data = stdout.read()
        if stdout.channel.recv_exit_status() != 0 or not data:
            raise RuntimeError(f"{host['name']}: fetch failed")
        return len(data)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", help="JSON list of hosts")
    parser.add_argument("-f", "--forks", type=int, default=50)
    args = parser.parse_args(argv)
    with open(args.hosts) as handle:
        hosts = json.load(handle)
    key = paramiko.PKey.from_path(hosts[0]["key_file"])
    known = paramiko.HostKeys(hosts[0]["known_hosts_file"])
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(args.forks, len(hosts)))) as pool:
        sizes = list(pool.map(lambda h: fetch(h, key, known), hosts))
    print(f"{len(hosts)} hosts, {sum(sizes)} bytes, {time.perf_counter() - start:.3f} s "
          "inside the loop", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
