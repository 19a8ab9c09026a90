"""A state writes only what its kind owns: maps under /etc/postfix, Roundcube's config
under /etc/roundcube, anything else only when listed exactly under `allow_paths`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.model import load_state

MAP = "postfix:\n  maps:\n    {path}:\n      content: {{root: x}}\n"


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "state.yaml"
    path.write_text(text)
    with pytest.raises(MailstateError) as info:
        load_state([path])
    return [d.format() for d in info.value.diagnostics]


@pytest.mark.parametrize("path", ["/etc/ssh/authorized_keys", "/etc/shadow",
                                  "/root/.ssh/authorized_keys", "/etc/postfix-evil/x"])
def test_a_map_outside_etc_postfix_is_refused_with_the_way_to_allow_it(
        tmp_path: Path, path: str) -> None:
    errors = _errors(tmp_path, MAP.format(path=path))
    assert len(errors) == 1
    assert "state.yaml:3:5: error" in errors[0]
    assert "a Postfix lookup table under /etc/postfix/" in errors[0]
    assert "allow_paths" in errors[0]  # the fix says how to widen it


@pytest.mark.parametrize(("path", "words"), [
    ("/etc/postfix/*", "glob or shell"),
    ("/etc/postfix/$(reboot)", "glob or shell"),
    ("/etc/postfix/a b", "glob or shell"),
    ("/etc/postfix/../ssh/authorized_keys", "'.' or '..'"),
    ("/etc/postfix//x", "between single '/'"),
    ("/etc/postfix/x/", "absolute path to a file"),
    ('"/etc/postfix/a\\nb"', "a newline"),
    ('"/etc/postfix/a\\0b"', "a NUL byte"),
    ("/etc/postfix/main.cf", "postfix.main"),
    ("/etc/postfix/master.cf", "postfix.master"),
])
def test_map_paths_are_plain_files(tmp_path: Path, path: str, words: str) -> None:
    errors = _errors(tmp_path, MAP.format(path=path))
    assert len(errors) == 1 and words in errors[0], errors


def test_roundcube_config_outside_etc_roundcube_is_refused(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "roundcube:\n  path: /var/www/html/config.inc.php\n")
    assert len(errors) == 1 and "state.yaml:2:9" in errors[0]
    assert "under /etc/roundcube/" in errors[0] and "allow_paths" in errors[0]


def test_allow_paths_widens_exactly_the_listed_files(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text("allow_paths: [/srv/mail/virtual, /usr/share/roundcube/config.inc.php]\n"
                    + MAP.format(path="/srv/mail/virtual")
                    + "roundcube:\n  path: /usr/share/roundcube/config.inc.php\n")
    state = load_state([path]).state
    assert state.outside_paths() == ["/srv/mail/virtual", "/usr/share/roundcube/config.inc.php"]
    path.write_text("allow_paths: [/etc/roundcube/relay]\n"
                    + MAP.format(path="/etc/roundcube/relay"))  # another kind's directory
    assert load_state([path]).state.outside_paths() == ["/etc/roundcube/relay"]
    errors = _errors(tmp_path, "allow_paths: [/srv/mail/virtual]\n"
                     + MAP.format(path="/srv/mail/virtual2"))
    assert len(errors) == 1 and "/srv/mail/virtual2" in errors[0]


def test_allow_paths_entries_are_plain_paths(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "allow_paths: ['/etc/*']\n")
    assert len(errors) == 1 and "glob or shell" in errors[0]


def test_lint_reports_every_file_written_outside_its_directory(tmp_path: Path) -> None:
    from tests.engine.conftest import mailstate

    state = tmp_path / "wide.yaml"
    state.write_text("allow_paths: [/srv/mail/virtual]\n" + MAP.format(path="/srv/mail/virtual"))
    out = mailstate("lint", str(state))
    assert out.code == 0, out.stdout
    assert f"{state}:5:7: warning [outside-path]" in out.stdout
    assert "/srv/mail/virtual" in out.stdout


@pytest.mark.parametrize(("kind", "index"), [
    ("hash", "/etc/postfix/virtual.db"), ("lmdb", "/etc/postfix/virtual.lmdb"),
    ("cdb", "/etc/postfix/virtual.cdb"), ("dbm", "/etc/postfix/virtual.pag"),
])
def test_a_map_may_not_be_another_maps_index(tmp_path: Path, kind: str, index: str) -> None:
    """postmap TYPE:/etc/postfix/virtual writes virtual.db (or .lmdb, .cdb, .dir/.pag):
    a second map at that path would be overwritten by it, and would overwrite it."""
    text = (f"postfix:\n  maps:\n    /etc/postfix/virtual:\n      type: {kind}\n"
            f"      content: {{a@example.org: b}}\n    {index}:\n      type: texthash\n"
            f"      content: {{root: x}}\n")
    errors = _errors(tmp_path, text)
    assert len(errors) == 1, errors
    assert "state.yaml:6:5" in errors[0]
    assert f"the index postmap builds for /etc/postfix/virtual ({kind})" in errors[0]
    # a texthash map has no index: the same two paths are fine
    path = tmp_path / "ok.yaml"
    path.write_text(text.replace(f"type: {kind}", "type: texthash"))
    postfix = load_state([path]).state.postfix
    assert postfix is not None and set(postfix.maps) == {"/etc/postfix/virtual", index}


@pytest.mark.parametrize("path", [
    "/etc/postfix/dynamicmaps.cf", "/etc/postfix/dynamicmaps.cf.d/evil",
    "/etc/postfix/postfix-files", "/etc/postfix/postfix-files.d/evil.files",
    "/etc/postfix/sasl/smtpd.conf", "/etc/postfix/master.cf.proto",
    "/etc/postfix/post-install",
])
def test_postfixs_own_files_are_no_map(tmp_path: Path, path: str) -> None:
    """Under /etc/postfix but not lookup tables: dynamicmaps.cf names the libraries
    Postfix loads as root for a table type, postfix-files the modes it sets; no state
    writes them, allow_paths or not."""
    errors = _errors(tmp_path, "allow_paths: [" + path + "]\n" + MAP.format(path=path))
    assert any("state.yaml:4:5: error" in e and "one of Postfix's own files" in e
               for e in errors), errors


def test_roundcubes_config_is_a_php_file(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "roundcube:\n  path: /etc/roundcube/apache.conf\n")
    assert len(errors) == 1 and "state.yaml:2:9" in errors[0] and "ending in .php" in errors[0]
