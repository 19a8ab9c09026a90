"""Inventories: Ansible compatibility, --limit, cycles, state layering and provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.inventory import load_inventory, resolve_state, shared_state

DATA = Path(__file__).resolve().parents[1] / "data"
ANSIBLE = DATA / "inv" / "ansible.yaml"


def names(hosts: list) -> list[str]:
    return [h.name for h in hosts]


def test_unchanged_ansible_inventory() -> None:
    inv = load_inventory(ANSIBLE)
    # Ansible's order: `all`'s own hosts, then its children breadth first
    # (`ansible all --list-hosts` prints the same)
    assert names(inv.select(None)) == ["bastion", "web1", "mx01.example.org",
                                       "mx02.example.org", "mx03.example.org", "relay1"]
    relay = inv.host("relay1")
    # no port in the inventory: None, so ~/.ssh/config (then 22) decides, as with ssh
    assert (relay.address, relay.port, relay.user, relay.become) == (
        "198.51.100.9", None, "admin", True)
    # ssh reads a relative key path from the working directory, not the inventory's
    assert relay.key_file == str(Path("keys/relay.key").absolute())
    mx = inv.host("mx02.example.org")
    assert (mx.address, mx.port) == ("mx02.example.org", 2222)
    assert mx.states == ["hardened", "site"]  # from group_vars/mx.yml
    assert inv.host("web1").states == []


@pytest.mark.parametrize(("limit", "expected"), [
    ("mx", ["mx01.example.org", "mx02.example.org", "mx03.example.org"]),
    ("mail:!mx02.example.org", ["mx01.example.org", "mx03.example.org", "relay1"]),
    ("mx*.example.org,web1", ["web1", "mx01.example.org", "mx02.example.org",
                              "mx03.example.org"]),
    ("mail:&web", ["mx01.example.org"]),
    ("all:!mail", ["bastion", "web1"]),
    ("~^relay", ["relay1"]),
    ("!web", ["bastion", "mx02.example.org", "mx03.example.org", "relay1"]),
    ("mail:&mx:!mx03.example.org", ["mx01.example.org", "mx02.example.org"]),
    ("~x0", []),  # anchored at the start, as Ansible: mx01 does not match
    ("mx[0]", ["mx01.example.org"]),
    ("mx[1:]", ["mx02.example.org", "mx03.example.org"]),
    ("ungrouped", ["bastion"]),
])
def test_limit_patterns(limit: str, expected: list[str]) -> None:
    assert names(load_inventory(ANSIBLE).select(limit)) == expected


def test_limit_retry_file(tmp_path: Path) -> None:
    retry = tmp_path / "plan.retry"
    retry.write_text("relay1\nweb1\n")
    assert names(load_inventory(ANSIBLE).select(f"@{retry}")) == ["web1", "relay1"]


@pytest.mark.parametrize(("limit", "selected"), [
    ("mxx", []), ("mail,nosuch", ["mx01.example.org", "mx02.example.org",
                                  "mx03.example.org", "relay1"]),
    ("zz*", []), ("!nosuch", ["bastion", "web1", "mx01.example.org", "mx02.example.org",
                              "mx03.example.org", "relay1"])])
def test_unknown_limit_names_warn_as_ansible_does(limit: str, selected: list[str]) -> None:
    warnings: list = []
    inv = load_inventory(ANSIBLE, warn=warnings.append)
    assert names(inv.select(limit)) == selected
    assert [w.severity for w in warnings] == ["warning"]
    assert "matches no host or group" in warnings[0].summary


def test_unknown_host_suggests() -> None:
    with pytest.raises(MailstateError) as info:
        load_inventory(ANSIBLE).host("relay2")
    assert "relay1" in info.value.diagnostics[0].fix


def test_group_cycle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text("all:\n  children:\n    a:\n      children:\n        b:\n"
                    "          children:\n            a:\n")
    with pytest.raises(MailstateError) as info:
        load_inventory(path)
    diag = info.value.diagnostics[0]
    assert diag.summary in ("group cycle: a -> b -> a", "group cycle: b -> a -> b")
    assert diag.location is not None and diag.location.line is not None


def test_bad_inventory_shape_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("all:\n  hosts:\n    h1: [1]\n  childen: {}\n")
    with pytest.raises(MailstateError) as info:
        load_inventory(path)
    where = sorted(str(d.location) for d in info.value.diagnostics)
    assert where == [f"{path}:3:5", f"{path}:4:3"]


def test_layering_merge_and_provenance() -> None:
    inv = load_inventory(ANSIBLE)
    resolved = resolve_state(inv.host("mx01.example.org"), inv)
    state = resolved.state
    main = state.postfix.main_values()
    assert main["relayhost"] == "[smtp.example.net]:587"  # site var
    assert main["smtpd_sasl_type"] == "dovecot"  # from hardened
    # maps merge key by key; null removes the profile's example entry
    assert state.postfix.maps["/etc/postfix/tls_policy"].entries == {
        "example.com": None, "partner.example": "secure"}
    # group var overrides the profile's vars default
    assert state.dovecot.get("service imap-login", "inet_listener imaps", "address") == "*"
    site = str(DATA / "inv" / "states" / "site.yaml")
    assert resolved.sources["postfix.main.relayhost"].file == site
    assert resolved.sources["postfix.main.relayhost"].line == 5
    assert resolved.sources["postfix.main.smtpd_sasl_type"].file.endswith("states/hardened.yaml")
    assert resolved.sources[
        'postfix.maps./etc/postfix/tls_policy.entries."partner.example"'].line == 11
    assert resolved.sources[
        "dovecot.settings.service imap-login.inet_listener imaps.port"].file == site


def test_lists_replace_and_overrides_come_last(tmp_path: Path) -> None:
    (tmp_path / "states").mkdir()
    (tmp_path / "states" / "one.yaml").write_text(
        "postfix:\n  main:\n    mynetworks: [10.0.0.0/8, 127.0.0.0/8]\n    myhostname: a\n")
    (tmp_path / "states" / "two.yaml").write_text(
        "postfix:\n  main:\n    mynetworks: [127.0.0.0/8]\n")
    inv = tmp_path / "hosts.yaml"
    inv.write_text("all:\n  hosts:\n    h1:\n      mailstate_states: [one, two]\n"
                   "      mailstate_overrides:\n        postfix:\n          main:\n"
                   "            myhostname: b\n")
    inventory = load_inventory(inv)
    resolved = resolve_state(inventory.host("h1"), inventory)
    main = resolved.state.postfix.main_values()
    assert main["mynetworks"] == "127.0.0.0/8"
    assert main["myhostname"] == "b"
    assert resolved.sources["postfix.main.myhostname"] == resolved.sources[
        "postfix.main.myhostname"].__class__(str(inv), 8, 25)


def test_missing_state_and_bad_override_are_located(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yaml"
    inv.write_text("all:\n  hosts:\n    h1:\n      mailstate_states: [nosuch]\n"
                   "    h2:\n      mailstate_overrides:\n        postfix:\n"
                   "          main: {smtpd_tls_security_level: always}\n")
    inventory = load_inventory(inv)
    with pytest.raises(MailstateError) as info:
        resolve_state(inventory.host("h1"), inventory)
    assert str(info.value.diagnostics[0].location) == f"{inv}:4:26"  # the name in the list
    with pytest.raises(MailstateError) as info:
        resolve_state(inventory.host("h2"), inventory)
    assert str(info.value.diagnostics[0].location) == f"{inv}:8:44"


def test_example_inventory_resolves() -> None:
    example = Path(__file__).resolve().parents[2] / "inventory" / "example.yaml"
    inv = load_inventory(example)
    for host in inv.select(None):
        assert resolve_state(host, inv).state.postfix is not None


SHARED = """\
all:
  vars:
    mailstate_states: [{state}]
  hosts:
    a: {{ansible_host: 10.0.0.1, site: one, banner: "{{{{ site }}}} mail"}}
    b: {{ansible_host: 10.0.0.2, site: one, banner: "{{{{ site }}}} mail"}}
    c: {{ansible_host: 10.0.0.3, site: two, banner: "{{{{ site }}}} mail"}}
    d: {{ansible_host: 10.0.0.4, site: one, banner: "{{{{ site }}}} mail",
        mailstate_overrides: {{postfix: {{main: {{myhostname: d.example}}}}}}}}
    e: {{ansible_host: 10.0.0.5}}
"""


def test_shared_state_is_built_once_per_distinct_input(tmp_path: Path) -> None:
    """Hosts differing only in unused variables share one state; a used variable (even
    through another variable) or an override gives a host its own; each equals what
    resolve_state builds for it."""
    state = tmp_path / "banner.yaml"
    state.write_text("postfix:\n  main:\n    smtpd_banner: '{{ banner }}'\n")
    inv_path = tmp_path / "hosts.yaml"
    inv_path.write_text(SHARED.format(state=state))
    inventory = load_inventory(inv_path)
    built = {name: shared_state(inventory.host(name), inventory) for name in "abcd"}
    for name, shared in built.items():
        assert shared == resolve_state(inventory.host(name), inventory).state
    assert built["a"] is built["b"]  # only ansible_host differs, and no state uses it
    assert built["c"] is not built["a"]  # site -> banner -> smtpd_banner
    assert built["c"].postfix.main_values()["smtpd_banner"] == "two mail"
    assert built["d"] is not built["a"]
    assert built["d"].postfix.main_values()["myhostname"] == "d.example"
    for _ in range(2):  # an undefined variable is an error every time, never cached
        with pytest.raises(MailstateError, match="banner"):
            shared_state(inventory.host("e"), inventory)


def test_overrides_cannot_widen_allow_paths(tmp_path: Path) -> None:
    """allow_paths is read by reviewers in the state files; host_vars or group_vars
    cannot add a file outside its kind's directory behind their back."""
    inv = tmp_path / "hosts.yaml"
    inv.write_text("all:\n  hosts:\n    h1:\n      mailstate_states: [hardened]\n"
                   "      mailstate_overrides:\n        allow_paths: [/etc/ssh/sshd_config]\n"
                   "        postfix:\n          maps:\n            /etc/ssh/sshd_config:\n"
                   "              content: {PermitRootLogin: 'yes'}\n")
    inventory = load_inventory(inv)
    with pytest.raises(MailstateError) as info:
        resolve_state(inventory.host("h1"), inventory)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.code == "outside-path" and "may not widen allow_paths" in diagnostic.summary
    assert str(diagnostic.location).startswith(str(inv))
