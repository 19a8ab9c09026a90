"""The shipped profiles: package data found by name, the one resolution order, the
`mailstate profiles` command and a new project from `profiles init` (no SSH)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mailstate.cli import main as mailstate
from mailstate.commands.profiles import read_profile, shipped
from mailstate.inventory import SHIPPED_STATES, shipped_profiles
from mailstate.releases.catalog import parse_target

REPO = Path(__file__).resolve().parents[2]
MINIMAL = "postfix: {main: {smtpd_tls_security_level: may}}\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = mailstate(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def test_profiles_live_in_the_package_and_states_points_there() -> None:
    assert SHIPPED_STATES == REPO / "mailstate" / "profiles"
    assert {"hardened", "site-example"} <= set(shipped_profiles())
    # the repo's states/ is the same folder: bench/, the docs and people keep their paths
    assert (REPO / "states").is_symlink()
    assert (REPO / "states" / "hardened.yaml").resolve() == SHIPPED_STATES / "hardened.yaml"


def test_every_profile_has_a_header_and_lints_clean_for_each_release_it_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # outside the repo: the name finds the shipped file
    profiles = shipped()
    assert [p.name for p in profiles] == sorted(shipped_profiles())
    for profile in profiles:
        assert profile.purpose and profile.releases
        for release in profile.releases:
            parse_target(release)  # a release mailstate knows, or MailstateError
            if profile.layers_on:  # a layer: checked merged onto what it layers on
                continue
            code, out = run(capsys, "lint", profile.name, "--target", release, "--json")
            document = json.loads(out)
            assert code == 0, out
            assert document["targets"][0]["files"] == [str(profile.path)]


def test_a_file_without_the_header_is_refused_by_name(tmp_path: Path) -> None:
    from mailstate.diagnostics import MailstateError

    bare = tmp_path / "bare.yaml"
    bare.write_text("postfix: {main: {}}\n")
    with pytest.raises(MailstateError) as caught:
        read_profile(bare)
    assert 'mailstate profile "bare"' in str(caught.value.diagnostics[0].fix)
    named = tmp_path / "named.yaml"
    named.write_text('# mailstate profile "named": a purpose\npostfix: {main: {}}\n')
    with pytest.raises(MailstateError, match="names no releases"):
        read_profile(named)


def test_profiles_lists_names_releases_and_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "profiles")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("hardened "))
    assert "Debian 12, Debian 13" in line
    assert read_profile(SHIPPED_STATES / "hardened.yaml").purpose in line
    assert str(SHIPPED_STATES) in out
    code, out = run(capsys, "profiles", "list", "--json")
    listed = {p["name"]: p for p in json.loads(out)["profiles"]}
    assert listed["hardened"]["releases"] == ["debian12", "debian13"]
    assert listed["site-example"]["layers_on"] == ["hardened"]


def test_profiles_show_prints_the_file_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "profiles", "show", "hardened")
    assert code == 0
    assert out == (SHIPPED_STATES / "hardened.yaml").read_text()
    code, out = run(capsys, "profiles", "show", "hardend")
    assert code == 1
    assert "no shipped profile named 'hardend'" in out and "hardened" in out


def test_init_writes_a_project_that_lints_clean_and_never_overwrites(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "mail"
    monkeypatch.chdir(tmp_path)
    code, out = run(capsys, "profiles", "init", str(project))
    assert code == 0, out
    inventory, site = project / "inventory.yaml", project / "states" / "site.yaml"
    assert f"wrote {inventory}" in out and f"wrote {site}" in out
    # the site layer is the shipped example's body under a project header
    example = (SHIPPED_STATES / "site-example.yaml").read_text()
    body = example[example.index("\npostfix:") + 1:]
    assert site.read_text().endswith(body)
    assert "# mailstate profile \"" not in site.read_text()
    code, out = run(capsys, "lint", "-i", str(inventory), "--json")
    assert code == 0, out
    targets = json.loads(out)["targets"]
    assert [t["target"] for t in targets] == ["mx1", "mx2"]
    for target in targets:
        assert target["findings"] == []
        assert target["files"] == [str(SHIPPED_STATES / "hardened.yaml"), str(site)]
    # a second init changes nothing, names what exists
    site.write_text(site.read_text() + "# mine\n")
    before = {p: p.read_bytes() for p in (inventory, site)}
    code, out = run(capsys, "profiles", "init", str(project))
    assert code == 1
    assert "never overwrites" in out and str(inventory) in out
    assert {p: p.read_bytes() for p in before} == before
    # one file there already: nothing written either (no half-made project)
    other = tmp_path / "other"
    (other / "states").mkdir(parents=True)
    (other / "states" / "site.yaml").write_text("mine\n")
    assert run(capsys, "profiles", "init", str(other))[0] == 1
    assert not (other / "inventory.yaml").exists()
    assert (other / "states" / "site.yaml").read_text() == "mine\n"


def inventory_with(tmp_path: Path, states: str) -> Path:
    path = tmp_path / "inventory" / "hosts.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"all:\n  hosts:\n    mx1:\n      ansible_host: 192.0.2.10\n"
                    f"      mailstate_states: {states}\n")
    return path


def lint_files(capsys: pytest.CaptureFixture[str], inventory: Path) -> tuple[int, list[str], str]:
    code, out = run(capsys, "lint", "-i", str(inventory), "--json")
    document = json.loads(out)
    if "targets" not in document:
        return code, [], out
    return code, document["targets"][0]["files"], out


def test_names_resolve_in_one_order_project_states_before_shipped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)  # not the repo: no ./states here
    inventory = inventory_with(tmp_path, "[hardened]")
    code, files, out = lint_files(capsys, inventory)
    assert (code, files) == (0, [str(SHIPPED_STATES / "hardened.yaml")]), out
    # the current directory's states/ (the project dir) comes before the shipped one
    (work / "states").mkdir()
    (work / "states" / "hardened.yaml").write_text(MINIMAL)
    assert lint_files(capsys, inventory)[1] == [str(work / "states" / "hardened.yaml")]
    # beside the inventory comes before the project dir; above it before beside it
    (tmp_path / "inventory" / "states").mkdir()
    beside = tmp_path / "inventory" / "states" / "hardened.yml"
    beside.write_text(MINIMAL)
    assert lint_files(capsys, inventory)[1] == [str(beside)]
    (tmp_path / "states").mkdir()
    above = tmp_path / "states" / "hardened.yaml"
    above.write_text(MINIMAL)
    assert lint_files(capsys, inventory)[1] == [str(above)]
    # an explicit path is taken as it is, relative to the inventory's directory
    relative = os.path.relpath(SHIPPED_STATES / "hardened.yaml", inventory.parent)
    inventory = inventory_with(tmp_path, f"[{relative}]")
    assert lint_files(capsys, inventory)[1] == [str((inventory.parent / relative).absolute())]


def test_a_missing_name_lists_the_folders_and_the_shipped_profiles(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    inventory = inventory_with(tmp_path, "[hardend]")
    code, out = run(capsys, "lint", "-i", str(inventory))
    assert code == 1
    assert "host mx1: state 'hardend' not found" in out
    assert f"{inventory}:5:" in out  # the entry in mailstate_states
    assert "did you mean 'hardened'?" in out
    for folder in (tmp_path / "states", tmp_path / "inventory" / "states"):
        assert str(folder) in out
    assert "shipped profiles (`mailstate profiles`): hardened, site-example" in out
    # lint STATE and audit --state: the same order and the same message
    code, out = run(capsys, "lint", "hardend")
    assert code == 1 and "did you mean 'hardened'?" in out and str(tmp_path / "states") in out
    assert run(capsys, "lint", "hardened")[0] == 0
    code, out = run(capsys, "audit", "127.0.0.1", "--state", "nosuch", "--json")
    assert code == 1 and "state 'nosuch' not found" in out
    code, out = run(capsys, "lint", "missing/file.yaml")
    assert code == 1 and "state file 'missing/file.yaml' not found" in out
    (tmp_path / "states").mkdir()
    (tmp_path / "states" / ".yaml").write_text("postfix: {main: {}}\n")
    code, out = run(capsys, "lint", "")  # not states/.yaml
    assert code == 1 and "an empty state name" in out
