"""render(parse(b)) == b for every stock file of the installed Debian packages."""

from __future__ import annotations

import os

import pytest

from mailstate.formats.dovecot import DovecotConfig
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf
from mailstate.formats.roundcube import PhpConfig

from .conftest import DATA, DOVECOT_ROOT, dovecot_files, read


@pytest.mark.parametrize("path", ["/etc/postfix/main.cf", "/usr/share/postfix/main.cf.dist"])
def test_main_cf_round_trip(path: str) -> None:
    data = read(path)
    assert MainCf.parse(data, path).render() == data


def test_master_cf_round_trip() -> None:
    data = read("/etc/postfix/master.cf")
    doc = MasterCf.parse(data, "/etc/postfix/master.cf")
    assert doc.render() == data
    assert doc.get("smtp", "inet") is not None


@pytest.mark.parametrize("path", sorted(dovecot_files()))
def test_each_dovecot_file_round_trips(path: str) -> None:
    files = dovecot_files()
    doc = DovecotConfig.load(files, root=path)
    assert doc.render(path) == files[path]


def test_dovecot_include_tree_round_trips(stock_dovecot: dict[str, bytes]) -> None:
    doc = DovecotConfig.load(stock_dovecot, DOVECOT_ROOT)
    assert doc.files()[0] == DOVECOT_ROOT
    assert "/etc/dovecot/conf.d/10-master.conf" in doc.files()
    for path in doc.files():
        assert doc.render(path) == stock_dovecot[path]
    assert doc.changed() == {}


@pytest.mark.skipif(not os.path.exists(DATA / "config.inc.php"), reason="no test data")
def test_roundcube_config_round_trips() -> None:
    data = (DATA / "config.inc.php").read_bytes()
    doc = PhpConfig.parse(data)
    assert doc.render() == data
    keys = doc.keys()
    assert "imap_conn_options" in keys
