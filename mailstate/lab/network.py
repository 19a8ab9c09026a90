"""The lab's network: one bridge per instance, one namespace + veth pair per host.

Kept apart from the host logic because teardown must work from names alone (after a
crash, with no state file): everything an instance creates is named from its number,
`msbr{K}` and `ms{K}h{N}`, so `down` can find and remove exactly its own objects and
never another instance's. The namespaces get no default route: lab traffic cannot
leave the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

NETNS_DIR = Path("/run/netns")


def bridge_name(instance: int) -> str:
    return f"msbr{instance}"


def netns_name(instance: int, number: int) -> str:
    return f"ms{instance}h{number}"


def subnet_prefix(instance: int) -> str:
    if not 0 <= instance <= 255:
        raise ValueError(f"lab instance must be 0..255, not {instance}")
    return f"10.231.{instance}"


def host_address(instance: int, number: int) -> str:
    if not 1 <= number <= 240:
        raise ValueError(f"lab host number must be 1..240, not {number}")
    return f"{subnet_prefix(instance)}.{10 + number}"


def host_mac(instance: int, number: int) -> str:
    """eth0's link address, the same every time the host is (re)built: the machine's
    ARP cache keeps a host's address for a while, and a new random one after a rebuild
    (another release) made the host unreachable for seconds. Locally administered."""
    host_address(instance, number)  # validates both
    return f"02:6d:73:{instance:02x}:{number:02x}:00"


def ip(*args: str, check: bool = True,
       stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True,
                          check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def ensure_bridge(instance: int) -> None:
    """Create and address the instance's bridge if it is not there yet."""
    name = bridge_name(instance)
    if not link_exists(name):
        ip("link", "add", name, "type", "bridge")
    disable_ipv6(name)
    have = ip("-4", "-o", "addr", "show", "dev", name).stdout
    if f" {subnet_prefix(instance)}.1/24 " not in have:
        ip("addr", "add", f"{subnet_prefix(instance)}.1/24", "dev", name)
    ip("link", "set", name, "up")


def disable_ipv6(link: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys/net/ipv6/conf", link, "disable_ipv6").write_text("1")


def add_hosts(instance: int, numbers: list[int]) -> None:
    """Namespaces and veth pairs for `numbers` (which must not exist), in one `ip -batch`."""
    lines = []
    for number in numbers:
        ns = netns_name(instance, number)
        lines += [f"netns add {ns}",
                  f"link add {ns} type veth peer name eth0 address "
                  f"{host_mac(instance, number)} netns {ns}",
                  f"link set {ns} master {bridge_name(instance)}"]
    if lines:
        ip("-batch", "-", stdin="\n".join(lines) + "\n")
    for number in numbers:
        ns = netns_name(instance, number)
        disable_ipv6(ns)
        ip("link", "set", ns, "up")


def instance_netns(instance: int) -> list[str]:
    """Names of this instance's namespaces that exist (and nothing else's)."""
    pattern = re.compile(rf"^ms{instance}h\d+$")
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if pattern.match(n))
    except FileNotFoundError:
        return []


def instance_links(instance: int) -> list[str]:
    """This instance's bridge and host-side veths that exist on the machine."""
    pattern = re.compile(rf"^(ms{instance}h\d+|msbr{instance})$")
    return sorted(n for n in os.listdir("/sys/class/net") if pattern.match(n))


def pids_in_netns(names: list[str]) -> list[int]:
    """Every process whose network namespace is one of `names` (by inode; one /proc scan)."""
    wanted = set()
    for ns in names:
        with contextlib.suppress(FileNotFoundError):
            wanted.add(f"net:[{os.stat(NETNS_DIR / ns).st_ino}]")
    if not wanted:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/net") in wanted:
                    found.append(int(entry))
    return found


def kill_and_wait(pids: list[int], timeout: float = 5.0) -> None:
    """SIGKILL `pids` and wait until they are gone (reaping our own children)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                break
            time.sleep(0.01)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def remove_hosts(instance: int, numbers: list[int]) -> None:
    """Kill everything in these hosts' namespaces, then remove the namespaces and veths."""
    names = [netns_name(instance, n) for n in numbers]
    present = [ns for ns in names if (NETNS_DIR / ns).exists()]
    kill_and_wait(pids_in_netns(present))
    lines = [f"netns del {ns}" for ns in present]
    lines += [f"link del {ns}" for ns in names if link_exists(ns)]
    if lines:
        ip("-force", "-batch", "-", stdin="\n".join(lines) + "\n", check=False)
    # a veth whose namespace went first disappears with it; catch any straggler
    for ns in names:
        if link_exists(ns):
            ip("link", "del", ns, check=False)


def remove_instance(instance: int) -> None:
    """Remove every namespace, veth and the bridge of `instance`."""
    numbers = {int(n.split("h")[-1]) for n in instance_netns(instance)}
    numbers |= {int(n.split("h")[-1]) for n in instance_links(instance)
                if n != bridge_name(instance)}
    remove_hosts(instance, sorted(numbers))
    if link_exists(bridge_name(instance)):
        ip("link", "del", bridge_name(instance), check=False)
