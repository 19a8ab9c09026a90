"""Seconds to start 3 and 20 lab hosts, and to reset them (printed, not asserted).

Start-up cost is paid by every test run and every new user's first minute; reset is
paid by every real-host test. Aims: 3 hosts < 5 s, 20 hosts < 30 s. Uses its own lab
instance (MAILSTATE_BENCH_LAB_INSTANCE, default 12) and tears it down at the end.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailstate.lab import Lab


def cpu_seconds() -> float:
    """CPU used by this process and its finished children (load-independent cost)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(label: str, action: object) -> float:
    cpu, started = cpu_seconds(), time.monotonic()
    action()  # type: ignore[operator]
    took = time.monotonic() - started
    print(f"{label:<44} {took:6.2f} s  (controller CPU {cpu_seconds() - cpu:5.2f} s)",
          flush=True)
    return took


def main() -> int:
    lab = Lab(int(os.environ.get("MAILSTATE_BENCH_LAB_INSTANCE", "12")))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"mailstate lab benchmark (instance {lab.instance}, {os.cpu_count()} CPUs, "
          f"load average {load})")
    lab.down()
    try:
        timed("up 3 hosts (sshd + postfix + dovecot)", lambda: lab.up(3))
        timed("up 3 again (idempotent)", lambda: lab.up(3))
        timed("reset 3 hosts, nothing changed", lab.reset)
        lab.run("h1", "echo 'smtpd_banner = bench' >> /etc/postfix/main.cf")
        timed("reset 3 hosts, h1 main.cf changed", lab.reset)
        timed("down 3 hosts", lab.down)
        timed("up 20 hosts (sshd + postfix + dovecot)", lambda: lab.up(20))
        timed("reset 20 hosts, nothing changed", lab.reset)
        timed("down 20 hosts", lab.down)
        timed("up 20 hosts --no-mail (sshd only)", lambda: lab.up(20, mail=False))
    finally:
        lab.down()
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
