"""The PHP tokenizer's speed-ups change nothing: the name classes, written as complements
for a fast compile, accept exactly the characters PHP's own definition does
([A-Za-z_\\x80-\\U0010ffff] to start, digits too after that) for every code point, and a
text tokenized again (a plan's edit, then its diff) gives the same tokens."""

from __future__ import annotations

import re

import pytest

from mailstate.diagnostics import ParseError
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


def test_a_text_tokenized_again_gives_the_same_tokens_in_a_list_of_its_own() -> None:
    text = "<?php\n$config['des_key'] = 'abc';\n$config['x'] = [1, 2];\n"
    first = _php.tokenize(text, "a.php")
    again = _php.tokenize(text, "b.php")
    assert first == again == _php.Scanner(text, "c.php").run()
    first.clear()  # one caller's list is not another's
    assert _php.tokenize(text, "a.php") == again


def test_errors_name_each_caller_s_path() -> None:
    for path in ("one.php", "two.php"):
        with pytest.raises(ParseError) as raised:
            _php.tokenize("<?php\n$config['x'] = 'open;\n", path)
        assert path in str(raised.value)
