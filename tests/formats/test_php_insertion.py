"""Where a new Roundcube key goes, checked with the real PHP: whatever follows the last
assignment on its line (a comment that ends on a later line, another statement that
spans lines, a closing tag), the new key is code PHP runs, and the old keys keep their
values. The bug this guards: a new key appended after a line that opens a `/*` comment
lands inside the comment; PHP skips it, `php -l` passes and every plan adds it again."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mailstate.formats.roundcube import PhpConfig

HEAD = "<?php\n$config = [];\n$config['product_name'] = 'Mail';\n"
ENDINGS = {
    "plain": "$config['enable_spellcheck'] = false;\n",
    "line-comment": "$config['enable_spellcheck'] = false; // off /* not a block\n",
    "closed-block": "$config['enable_spellcheck'] = false; /* off */\n",
    "open-block": "$config['enable_spellcheck'] = false; /* off\nuntil dicts are in */\n",
    "spanning-array": "$config['enable_spellcheck'] = false; $config['plugins'] = [\n"
                      "  'archive',\n];\n",
    "close-tag": "$config['enable_spellcheck'] = false; ?>\n",
    "no-newline": "$config['enable_spellcheck'] = false;",
    "crlf-open-block": "$config['enable_spellcheck'] = false; /* off\r\nstill */\r\n",
}


def _php_reads(path: Path, keys: list[str]) -> str:
    code = f"$config = []; include '{path}'; " + " ".join(
        f"echo json_encode($config['{k}'] ?? null), \"\\n\";" for k in keys)
    return subprocess.run(["php", "-r", code], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_new_key_is_code_php_runs(tmp_path: Path, ending: str) -> None:
    assert shutil.which("php"), "php-cli is installed by ./run setup"
    text = HEAD + ENDINGS[ending]
    config = PhpConfig.parse(text.encode())
    config.update({"mail_domain": "example.test"})
    path = tmp_path / "config.inc.php"
    path.write_bytes(config.render())
    keys = ["product_name", "enable_spellcheck", "mail_domain"]
    assert _php_reads(path, keys) == '"Mail"\nfalse\n"example.test"\n', path.read_text()
    if ending == "spanning-array":
        assert _php_reads(path, ["plugins"]) == '["archive"]\n'
    # converged: the edited file read back has the key, so a next plan adds nothing
    again = PhpConfig.parse(path.read_bytes())
    again.update({"mail_domain": "example.test"})
    assert again.render() == path.read_bytes()
