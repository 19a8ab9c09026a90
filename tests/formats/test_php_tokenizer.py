"""The PHP tokenizer's name classes, written as complements for a fast compile, accept
exactly the characters PHP's own definition does ([A-Za-z_\\x80-\\U0010ffff] to start,
digits too after that), for every code point."""

from __future__ import annotations

import re

from mailstate.formats import _php

EVERY_CHARACTER = "".join(map(chr, range(0x110000)))


def test_name_start_is_php_s_class() -> None:
    ours = re.sub(_php._NAME_START, "", EVERY_CHARACTER)
    php = re.sub(r"[A-Za-z_\x80-\U0010ffff]", "", EVERY_CHARACTER)
    assert ours == php
    assert len(php) == 0x80 - 53  # only ASCII outside letters and `_` is left


def test_name_rest_is_php_s_class() -> None:
    ours = re.sub(_php._NAME_REST, "", EVERY_CHARACTER)
    php = re.sub(r"[A-Za-z0-9_\x80-\U0010ffff]", "", EVERY_CHARACTER)
    assert ours == php
    assert len(php) == 0x80 - 63


def test_words_tokenize_as_before() -> None:
    text = "$config['x'] = $été_2 . foo\u00e9 + 0x1F;"
    words = [m.group() for m in _php._WORD.finditer(text)]
    assert words == ["$config", "x", "$été_2", "foo\u00e9", "0x1F"]
