"""`./run demo`: the main job on an embedded default, start to finish.

Starts 3 local lab hosts, a mixed fleet: two Debian 12 and one Debian 13 (stock Debian
Postfix + Dovecot + Roundcube of each release), resets them to stock, lints and plans
the shipped hardened profile, applies it from one inventory, shows that a second plan is
empty and proves the result from the network. Each step prints the exact command, so
the user can repeat it by hand. `--release bookworm` (or `trixie`) runs it on one
release only.
"""

from __future__ import annotations

import argparse
import sys

from mailstate.cli import main as cli


def step(title: str, argv: list[str], expect: tuple[int, ...]) -> int:
    print(f"\n### {title}\n$ mailstate {' '.join(argv)}", flush=True)
    code = cli(argv)
    if code not in expect:
        print(f"demo: `mailstate {' '.join(argv)}` exited {code}, expected "
              f"{' or '.join(map(str, expect))}", file=sys.stderr)
        raise SystemExit(1)
    return code


def default_releases(hosts: int | None) -> str:
    """A mixed fleet, so one state is seen converging both releases: Debian 13 on the
    last host, Debian 12 on the others (3 hosts: bookworm,bookworm,trixie)."""
    count = 3 if hosts is None else hosts
    return ",".join(["bookworm"] * (count - 1) + ["trixie"]) if count > 1 else "bookworm"


def main(argv: list[str] | None = None, prog: str = "./run demo") -> int:
    """The demo; `prog` is how the user started it (`./run demo` or `mailstate demo`)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"examples:\n  {prog:<35}2 x Debian 12, 1 x Debian 13\n"
               f"  {prog + ' 5':<35}4 x Debian 12, 1 x Debian 13\n"
               f"  {prog + ' --release bookworm':<35}3 Debian 12 hosts")
    parser.add_argument("hosts", nargs="?", type=int, default=None,
                        help="number of hosts (3, or as many as --release names)")
    parser.add_argument("--instance", type=int, default=0, help="lab instance (default 0)")
    parser.add_argument("--release", default=None, metavar="RELEASE[,RELEASE...]",
                        help="one release for every host or one per host (default: Debian "
                             "13 on the last host, Debian 12 on the others); see "
                             "`mailstate lab up --help`")
    args = parser.parse_args(argv)
    releases = args.release or default_releases(args.hosts)

    from mailstate.lab import Lab

    lab = ["lab", "--instance", str(args.instance)]
    count = [] if args.hosts is None else [str(args.hosts)]
    step("Start the lab hosts", [*lab, "up", *count, "--release", releases], (0,))
    step("Back to stock Debian config: plain IMAP/POP3 open, no 465/587", [*lab, "reset"], (0,))
    step("Each host's release and versions: one state will serve them all",
         [*lab, "status"], (0,))
    instance = Lab(args.instance)
    inventory = str(instance.inventory_path)
    step("Check the desired state (no SSH)", ["lint", "-i", inventory], (0,))
    step("What would change (exit 2 = changes pending)", ["plan", "-i", inventory], (2,))
    step("Apply it: validate, back up, swap, reload, verify",
         ["apply", "-i", inventory, "--yes"], (0,))
    step("Plan again: nothing left to do (exit 0)", ["plan", "-i", inventory], (0,))
    step("Prove it from the network", ["audit", "-i", inventory,
                                       "--cafile", str(instance.ca_path)], (0,))
    print("\ndemo done. Next: mailstate lab status | mailstate lab ssh h1 -- postconf -n"
          " | mailstate lab down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
