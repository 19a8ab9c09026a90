"""mailstate against the real Ansible (ansible-core 2.19): the same inventories, the same
answers, host by host, variable by variable, limit by limit.

Every inventory of the corpus (tests/data/inventories, one form each: INI, YAML with
its odd corners, JSON, TOML, a directory of mixed files, several -i, a host list,
precedence with group_vars/host_vars in every file form beside the inventory and beside
the project directory, `ansible_group_priority`, the old `ansible_ssh_*` connection
names, Vault inline and whole-file, templated connection variables, a script and a
plugin inventory) is read by `ansible-inventory --list` and by mailstate; the groups
(hosts and children, in order) and every host's variables must be equal. The address,
port and user of each usable host must be what Ansible's ssh plugin puts on ssh's
command line (`ansible all -m raw` with a recorder in place of ssh: nothing is
contacted), for the cases whose inventories set connection variables.
Limits run through `ansible all --list-hosts --limit` (hosts as a set: Ansible's order
of grandchildren follows Python's set order) and must select the same hosts, warn
about the same unmatched patterns, and fail on the same patterns. All Ansible calls of
the suite run in one batch (see ansible_driver.py). Any exception other than a
MailstateError fails a test: a traceback on any inventory is a bug.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mailstate.diagnostics import Diagnostic, MailstateError
from mailstate.inventory import load_inventory
from mailstate.inventory.delegate import AnsibleInventory
from mailstate.inventory.load import Inventory, vault_args
from mailstate.inventory.values import MASK, Secret, Vaulted
from mailstate.inventory.vault import PasswordSource, VaultKeys
from mailstate.inventory.view import graph_lines, list_document
from tests.inventory.conftest import Ansible

DATA = Path(__file__).resolve().parents[1] / "data" / "inventories"
VAULT_PASS = DATA / "vault" / "vault-pass"

BASIC_LIMITS = (
    "all", "*", "mail", "mx", "mail:!mx02.example.org", "mail:&web", "mail:&mx:!mx03.example.org",
    "mail,web", "web1:mx01.example.org", "mail:web:&mx:!mx02.example.org", "!web", "&web",
    "mx*.example.org,web1", "*.example.org", "mx0?.example.org", "~^relay", "~x0", "~mx0[12]",
    "~.*x0[12]", "mail[0]", "mail[1:]", "mail[-1]", "mx[0:1]", "mail[1-2]", "ungrouped",
    "all:!ungrouped", "nosuch", "mail,nosuch", "relay1,nosuch*", "~(", "mail[9]", "web[0]",
    "mail:&eu,web", "al*", "ungr*", "~", "mx01.example.org:22", "relay1:&relay", "!nosuch",
    "localhost", "all[0]", "*[1]", "mail[0:0]", "mail:&*.example.org", "web[-1]", "!mail:!web",
)
INI_LIMITS = ("dc", "dc:!web", "MX*", "mail-*-1", "~MX[AB]", "~mail-y", "relay[0]",
              "dc[2:3]", "top1,top2", "ungrouped", "mail:&dc:!relay", "~top[12]$")


@dataclass(frozen=True)
class Case:
    name: str
    sources: tuple[str, ...]  # relative to DATA, or a host list
    project: str | None = None  # the working directory (None: an empty one)
    vault: bool = False
    limits: tuple[str, ...] = ()
    graph: bool = False
    templates: bool = False
    delegated: bool = False
    connect: bool = False  # compare address/port/user with what Ansible gives ssh

    def source_args(self) -> list[str]:
        return [s if "," in s else str(DATA / s) for s in self.sources]


CASES = [
    Case("yaml-basic", ("../inv/ansible.yaml",), limits=BASIC_LIMITS, graph=True,
         connect=True),
    Case("ini", ("ini/hosts",), limits=INI_LIMITS, graph=True, connect=True),
    Case("yaml-full", ("yaml-full/hosts.yml",), graph=True, connect=True,
         limits=("db", "db-?", "STG*", "~STG", "10.0.0.5", "lonely", "ungrouped", "empty_group",
                 "2001:db8::5", "web")),
    Case("json", ("json/hosts.json",), limits=("mail[1:]", "mx[34]"), connect=True),
    Case("toml", ("toml/hosts.toml",), graph=True, limits=("mail", "mx:!mx9"), connect=True),
    Case("directory", ("dir/inv",), graph=True, limits=("mail", "web:&mail", "db,relay"),
         connect=True),
    Case("several", ("multi/a/hosts.yml", "multi/b/hosts.ini"), graph=True),
    Case("host-list", ("h1,h2:2222,10.0.0.5:2201,[2001:db8::7]:2202,h1",),
         limits=("h*", "~h[0-9]", "ungrouped[1]"), connect=True),
    Case("precedence", ("precedence/inventory/hosts.yml",), project="precedence/project",
         graph=True, limits=("child", "parent:&beta", "alpha,gamma")),
    Case("priority", ("priority/hosts.yml",), graph=True, limits=("top_high", "twice:&zz_top")),
    Case("connection", ("connection/hosts.yml", "connection/hosts.ini"), connect=True),
    Case("vault", ("vault/hosts.yml", "vault/extra.ini"), vault=True),
    Case("templates", ("templates/hosts.yml",), templates=True, connect=True),
    Case("script", ("script/inventory.py",), delegated=True, graph=True, connect=True),
    Case("plugin", ("plugin/generated.yml",), delegated=True, limits=("prod", "*-stage")),
    Case("mixed", ("../inv/ansible.yaml", "ini/hosts", "dir/inv"), graph=True,
         limits=("mail", "mail:&dc", "web")),
]

TEMPLATE_MSG = ('msg={{ {"host": ansible_host | default(inventory_hostname), "port": '
                'ansible_port | default(None), "user": ansible_user | default(None), '
                '"become_user": ansible_become_user | default(None)} }}')


def _project(case: Case, empty: Path) -> Path:
    return DATA / case.project if case.project else empty


def _common(case: Case) -> list[str]:
    args = [a for s in case.source_args() for a in ("-i", s)]
    return args + (["--vault-password-file", str(VAULT_PASS)] if case.vault else [])


# What Ansible's ssh connection plugin runs instead of ssh: a recorder of its command
# line (one file per call), failing as an unreachable host does. Nothing is contacted.
FAKE_SSH = """#!/bin/sh
printf '%s\\0' "$@" > "$(mktemp "$MAILSTATE_SSH_RECORD/call.XXXXXX")"
exit 255
"""
MARK = "MAILSTATE_INVENTORY_HOST="


@dataclass
class Answers:
    """Ansible's answers for the whole corpus, keyed by (case, kind, argument)."""

    results: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    ssh_records: Path = Path()


def _connect_job(case: Case, base: list[str], cwd: str, records: Path) -> dict[str, Any]:
    """`ansible all -m raw` with the recorder as ssh, each call tagged with its host."""
    (records / case.name).mkdir()
    extra = {"ansible_ssh_executable": str(records / "ssh"),
             "ansible_ssh_extra_args": f"-o SetEnv={MARK}{{{{ inventory_hostname }}}}"}
    return {"argv": ["ansible", "all", *base, "-m", "raw", "-a", "true", "-e",
                     json.dumps(extra)],
            "cwd": cwd, "env": {"MAILSTATE_SSH_RECORD": str(records / case.name)}}


@pytest.fixture(scope="session")
def empty_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("project")


@pytest.fixture(scope="session")
def answers(ansible: Ansible, empty_project: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Answers:
    import time

    records = tmp_path_factory.mktemp("ssh-records")
    (records / "ssh").write_text(FAKE_SSH)
    (records / "ssh").chmod(0o755)
    keys: list[tuple[str, str, str]] = []
    jobs: list[dict[str, Any]] = []
    for case in CASES:
        cwd = str(_project(case, empty_project))
        base = _common(case)
        keys.append((case.name, "list", ""))
        jobs.append({"argv": ["ansible-inventory", *base, "--list"], "cwd": cwd})
        if case.graph:
            keys.append((case.name, "graph", ""))
            jobs.append({"argv": ["ansible-inventory", *base, "--graph"], "cwd": cwd})
        for limit in case.limits:
            keys.append((case.name, "limit", limit))
            jobs.append({"argv": ["ansible", "all", *base, "--list-hosts", "--limit", limit],
                         "cwd": cwd})
        if case.templates:
            keys.append((case.name, "templates", ""))
            jobs.append({"argv": ["ansible", "all", *base, "-m", "debug", "-a", TEMPLATE_MSG],
                         "cwd": cwd})
        if case.connect:
            keys.append((case.name, "connect", ""))
            jobs.append(_connect_job(case, base, cwd, records))
    start = time.monotonic()
    results = ansible.run(jobs)
    return Answers(dict(zip(keys, results, strict=True)), time.monotonic() - start, records)


def _load(case: Case, project: Path, ansible: Ansible,
          warnings: list[Diagnostic] | None = None) -> Inventory:
    sources = [PasswordSource("file", str(VAULT_PASS))] if case.vault else []
    keys = VaultKeys(sources, interactive=False)
    runner = AnsibleInventory(vault_args(keys), str(ansible.bin / "ansible-inventory"))
    collected: list[Diagnostic] = warnings if warnings is not None else []
    return load_inventory(case.source_args(), vault=keys, project_dir=project,
                          warn=collected.append, ansible=runner)


def _ansible_json(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["rc"] == 0, f"ansible failed: {answer['err'][-1500:]}"
    document: dict[str, Any] = json.loads(answer["out"])
    return document


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_groups_and_variables_equal_ansible_inventory(case: Case, answers: Answers,
                                                      ansible: Ansible,
                                                      empty_project: Path) -> None:
    expected = _ansible_json(answers.results[(case.name, "list", "")])
    mine = list_document(_load(case, _project(case, empty_project), ansible), reveal=True)
    expected_vars = expected.pop("_meta")["hostvars"]
    mine_vars = mine.pop("_meta")["hostvars"]
    assert mine == expected, "groups (hosts and children) differ from ansible-inventory"
    assert sorted(mine_vars) == sorted(expected_vars), "hosts with variables differ"
    for host, variables in expected_vars.items():
        assert sorted(mine_vars[host]) == sorted(variables), f"{host}: variable names differ"
        for name, value in variables.items():
            assert mine_vars[host][name] == value, f"{host}: {name} differs"


@pytest.mark.parametrize("case", [c for c in CASES if c.graph], ids=lambda c: c.name)
def test_graph_equals_ansible_inventory_graph(case: Case, answers: Answers, ansible: Ansible,
                                              empty_project: Path) -> None:
    answer = answers.results[(case.name, "graph", "")]
    assert answer["rc"] == 0, answer["err"]
    inventory = _load(case, _project(case, empty_project), ansible)
    assert graph_lines(inventory) == answer["out"].rstrip("\n").split("\n")


_WARNED = re.compile(r"Could not match supplied host pattern, ignoring: (.*)")
_NO_HOSTS = "leaves us with no hosts to target"


def _listed_hosts(answer: dict[str, Any]) -> tuple[set[str] | None, set[str]]:
    """(hosts, unmatched patterns) from `ansible --list-hosts`; hosts None on an error."""
    warned = set(_WARNED.findall(answer["err"]))
    if answer["rc"] != 0:
        return (set(), warned) if _NO_HOSTS in answer["err"] else (None, warned)
    lines = answer["out"].splitlines()
    return {line.strip() for line in lines[1:] if line.strip()}, warned


LIMIT_CASES = [(c, limit) for c in CASES for limit in c.limits]


@pytest.mark.parametrize(("case", "limit"), LIMIT_CASES,
                         ids=[f"{c.name}:{limit}" for c, limit in LIMIT_CASES])
def test_limit_selects_what_ansible_selects(case: Case, limit: str, answers: Answers,
                                            ansible: Ansible, empty_project: Path) -> None:
    expected, warned = _listed_hosts(answers.results[(case.name, "limit", limit)])
    warnings: list[Diagnostic] = []
    inventory = _load(case, _project(case, empty_project), ansible, warnings)
    if expected is None:
        with pytest.raises(MailstateError):
            inventory.select(limit)
        return
    assert set(h.name for h in inventory.select(limit)) == expected
    unmatched = {w.summary.split("--limit: ")[1].rsplit(" matches no host", 1)[0].strip("'")
                 for w in warnings if w.code == "limit"}
    assert unmatched == warned


def test_templated_connection_variables_render_as_ansible(answers: Answers, ansible: Ansible,
                                                         empty_project: Path) -> None:
    case = next(c for c in CASES if c.templates)
    answer = answers.results[(case.name, "templates", "")]
    assert answer["rc"] == 0, answer["err"]
    rendered = {m.group(1): json.loads(m.group(2))["msg"] for m in re.finditer(
        r"^(\S+) \| SUCCESS => (\{.*?^\})", answer["out"], re.M | re.S)}
    inventory = _load(case, _project(case, empty_project), ansible)
    assert set(rendered) == set(inventory.hosts)
    for name, expected in rendered.items():
        host = inventory.host(name)
        assert not host.problems, host.problems
        mine = {"host": host.address, "port": host.port, "user": host.user,
                "become_user": host.become_user}
        assert mine == expected, name


def _ssh_calls(directory: Path) -> dict[str, tuple[str, int | None, str | None]]:
    """inventory host -> (address, port, user) from the recorded ssh command lines."""
    calls: dict[str, tuple[str, int | None, str | None]] = {}
    for record in directory.iterdir():
        argv = record.read_bytes().decode().split("\0")[:-1]
        options = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-o"]
        host = next(o.removeprefix(f"SetEnv={MARK}") for o in options
                    if o.startswith(f"SetEnv={MARK}"))
        port = next((int(o[5:]) for o in options if o.startswith("Port=")), None)
        user = next((o[5:].strip('"') for o in options if o.startswith("User=")), None)
        assert host not in calls, f"{host}: two ssh calls"
        calls[host] = (argv[-2], port, user)  # the address, then the remote command
    return calls


@pytest.mark.parametrize("case", [c for c in CASES if c.connect], ids=lambda c: c.name)
def test_connection_settings_are_what_ansible_gives_ssh(case: Case, answers: Answers,
                                                       ansible: Ansible,
                                                       empty_project: Path) -> None:
    """Address, port and user of every usable host are those Ansible's ssh plugin puts
    on ssh's command line (the old ansible_ssh_* names, templates, host keys with a
    port, ...). A port or user Ansible does not pass is None in mailstate too: ssh and
    ~/.ssh/config decide. Hosts mailstate refuses (their problems name why) are left
    out; every other host must have reached Ansible's ssh."""
    answer = answers.results[(case.name, "connect", "")]
    calls = _ssh_calls(answers.ssh_records / case.name)
    inventory = _load(case, _project(case, empty_project), ansible)
    usable = [h for h in inventory.hosts.values() if not h.problems]
    assert usable, "no usable host in the case"
    for host in usable:
        assert host.name in calls, f"{host.name}: ansible never ran ssh: {answer['out'][-800:]}"
        assert (host.address, host.port, host.user) == calls[host.name], host.name


CLI_CASES = [c for c in CASES if c.name in (
    "ini", "yaml-full", "several", "precedence", "priority", "vault", "script")]


def _mailstate_cli(case: Case, mode: str, cwd: Path, ansible: Ansible,
                   home: Path) -> subprocess.CompletedProcess[str]:
    """`mailstate inventory --list|--graph` in a fresh process, ansible-inventory found on
    PATH only (the test venv's bin, then the system's: no other way to it)."""
    argv = [sys.executable, "-m", "mailstate", "inventory", *_common(case), mode]
    env = {**os.environ, "PATH": f"{ansible.bin}:/usr/bin:/bin", "HOME": str(home)}
    env.pop("MAILSTATE_INVENTORY", None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.name)
def test_inventory_command_prints_what_ansible_inventory_prints(
        case: Case, answers: Answers, ansible: Ansible, empty_project: Path,
        tmp_path: Path) -> None:
    """The CLI itself, not only the functions it calls: `mailstate inventory --list` is
    ansible-inventory's JSON (after parsing: key order and indentation may differ) and
    `--graph` its exact lines. Values from vaulted files (vars files and whole vaulted
    inventory files) are masked on mailstate's side (documented): each is `***` there,
    and Ansible's plain value appears nowhere in mailstate's output; everything else,
    inline `!vault` values in Ansible's `{"__ansible_vault": ...}` shape included, is
    equal. For the script case this is also the CLI finding ansible-inventory through
    PATH (delegate.py's which)."""
    project = _project(case, empty_project)
    listed = _mailstate_cli(case, "--list", project, ansible, tmp_path)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    mine = json.loads(listed.stdout)
    expected = _ansible_json(answers.results[(case.name, "list", "")])
    expected_vars = expected.pop("_meta")["hostvars"]
    mine_vars = mine.pop("_meta")["hostvars"]
    assert mine == expected, "groups (hosts and children) differ from ansible-inventory"
    assert sorted(mine_vars) == sorted(expected_vars)
    inventory = _load(case, project, ansible)
    masked = 0
    for host, variables in expected_vars.items():
        values, sources = inventory.variables(host)
        assert sorted(mine_vars[host]) == sorted(variables), host
        for name, value in variables.items():
            secret = isinstance(values[name], Secret) and not isinstance(values[name], Vaulted)
            if secret or (name in sources and sources[name].vaulted_file):
                masked += 1
                assert mine_vars[host][name] == MASK and value != MASK, (host, name)
                for text in re.findall(r"[\w.-]{4,}", json.dumps(value)):
                    assert text not in listed.stdout + listed.stderr, (host, name)
            else:
                assert mine_vars[host][name] == value, f"{host}: {name} differs"
    assert masked > 0 if case.vault else masked == 0
    if case.graph and not case.delegated:  # (one more ansible-inventory run: ~1.5 s)
        graph = _mailstate_cli(case, "--graph", project, ansible, tmp_path)
        assert graph.returncode == 0, graph.stderr
        assert graph.stdout == answers.results[(case.name, "graph", "")]["out"]


def test_the_differential_suite_stays_fast(answers: Answers) -> None:
    """All Ansible calls of the suite together (one import of ansible, a fork each)."""
    print(f"\n{len(answers.results)} Ansible command lines in {answers.seconds:.1f} s")
    assert answers.seconds < 60 * max(1, (os.cpu_count() or 2) // 2)
