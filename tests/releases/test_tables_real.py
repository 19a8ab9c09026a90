"""The stored per-release tables are what each release's own tools say, today.

The generator (tools/release_tables.py) is run against Debian 12's postconf/doveconf
(this machine) and Debian 13's (chroot in the overlay) and must reproduce the committed
data modules byte for byte; the `<service>_<suffix>` rule must predict exactly what
`postconf -d` lists for a master.cf with services of every kind.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mailstate.model import postfix_params
from mailstate.releases import dovecot_names
from tests.releases.realtools import Release

REPO = Path(__file__).resolve().parents[2]
MASTER_EXTRA = """\
dovecot   unix  -       n       n       -       -       pipe
  flags=DRhu user=vmail argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}
my_relay  unix  -       -       y       -       -       smtp
scan      unix  -       -       n       -       4       lmtp
nullmx    unix  -       -       n       -       -       discard
runner    unix  -       n       n       -       -       spawn
submission inet n       -       y       -       -       smtpd
"""


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_tables",
                                                  REPO / "tools" / "release_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["release_tables"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tools() -> ModuleType:
    return generator()


@pytest.mark.parametrize(("release", "series"), [("bookworm", ("3.7", "2.3")),
                                                 ("trixie", ("3.10", "2.4"))])
def test_generated_tables_match_the_release_tools(release: str, series: tuple[str, str],
                                                  tools: ModuleType, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    rel: Release = request.getfixturevalue(release)
    scratch = rel.config_copy("postfix").parent / "gen"
    scratch.mkdir()
    run = rel.run if rel.root != Path("/") else tools._local

    def run_text(argv: list[str]) -> str:
        out = run(argv)
        return out if isinstance(out, str) else out.stdout

    setattr(tools, "OUT", tmp_path)  # noqa: B010 (a module attribute the writers read)
    tools.write_postfix(series[0], release, tools.postfix_tables(run_text, rel.root, scratch))
    tools.write_dovecot(series[1], release, tools.dovecot_tables(run_text))
    stored = REPO / "mailstate" / "releases" / "data"
    for name in (f"postfix_{series[0].replace('.', '_')}.py",
                 f"dovecot_{series[1].replace('.', '_')}.py"):
        assert (tmp_path / name).read_text() == (stored / name).read_text(), name
    assert postfix_params.table(series[0]).version == run_text(
        ["postconf", "-h", "mail_version"]).strip()
    assert dovecot_names.names(series[1]).version == run_text(["dovecot", "--version"]).split()[0]


@pytest.mark.parametrize(("release", "series"), [("bookworm", "3.7"), ("trixie", "3.10")])
def test_per_service_parameters_follow_master_cf(release: str, series: str,
                                                 request: pytest.FixtureRequest) -> None:
    rel: Release = request.getfixturevalue(release)
    master = (rel.root / "etc/postfix/master.cf").read_text() + MASTER_EXTRA
    listed = rel.postconf(["-d"], {"master.cf": master.encode()})
    assert listed.ok, listed.stderr
    real = {line.partition("=")[0].strip() for line in listed.stdout.splitlines()}
    table = postfix_params.table(series)
    from mailstate.releases.postfix import services_of

    services = services_of(master.encode())
    predicted = set(table.kinds) | {
        f"{name}_{suffix}" for name, command in services.items()
        for suffix, spec in table.suffixes.items() if command in spec.commands}
    assert predicted == real
    for name in ("dovecot_destination_recipient_limit", "my_relay_destination_rate_delay",
                 "scan_destination_concurrency_limit", "runner_time_limit",
                 "dovecot_time_limit"):
        assert table.knows(name, services) and name in real
    for name in ("submission_destination_concurrency_limit", "nullmx_recipient_limit",
                 "runner_destination_rate_delay"):
        assert not table.knows(name, services) and name not in real
