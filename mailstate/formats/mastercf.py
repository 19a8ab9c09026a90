"""Lossless editor for Postfix master.cf.

An entry is a logical line (continuation lines start with whitespace; comment and blank
lines in between are skipped, as Postfix does) with 8 fields, then command arguments
among which `-o key=value` / `-o { key = value }` options. Entries are keyed by service
name + type. We keep the raw lines and locate each token, so an edit rewrites only the
tokens or lines it must. Debian ships `submission`/`submissions` commented out
(`#submission inet ...` plus `#  -o ...` lines): enabling one replaces that block in place.

Tokens are split as Postfix's `mystrtokq` does: at blanks, except inside `{ }`, which
nest anywhere in a word (`${recipient}` is one word, `{ a b }` one argument). Options are
read as the daemons' getopt reads them (Postfix stops at the first word that is not an
option): a `-o` after a command argument is an argument, so this editor puts new options
right after the command name or the last option, never after arguments.

What a value can hold (`command_problem`, `option_value_problem`): no control characters
(a newline would start a new entry: a whole new service); braces that balance (an open
`{` swallows the rest of the entry, a stray `}` closes a `{ key = value }` group early
and what follows becomes new options).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailstate.formats._text import (
    WHITESPACE,
    LineDocument,
    bad_char,
    body,
    indent_of,
    insert_lines,
    is_blank,
    parse_error,
    replace_lines,
    starts_with_space,
)
from mailstate.formats.maincf import macro_problem

FIELDS = ("private", "unpriv", "chroot", "wakeup", "maxproc", "command")
TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
DEBIAN_COLUMNS = (0, 10, 16, 24, 32, 40, 48, 56)
OPTION_INDENT = "  "
_PLAIN_WORD = re.compile(r"[^ \t]+")
_PROGRAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# getopt of Postfix's daemon skeletons ("cdDi:lm:n:o:s:St:uvVz"): flags taking a value
_FLAGS_WITH_VALUE = frozenset({"-i", "-m", "-n", "-o", "-s", "-t"})


def word_spans(text: str) -> tuple[list[tuple[int, int]], int | None]:
    """Word spans of one line as `mystrtokq` splits it, and where an unclosed `{` opens.

    A word runs to the next blank outside braces; `{` nests, `}` closes only an open `{`.
    """
    if "{" not in text:
        return [(m.start(), m.end()) for m in _PLAIN_WORD.finditer(text)], None
    spans: list[tuple[int, int]] = []
    i, size = 0, len(text)
    while i < size:
        while i < size and text[i] in WHITESPACE:
            i += 1
        if i >= size:
            break
        start, level, opened = i, 0, i
        while i < size:
            c = text[i]
            if c == "{":
                opened = i if level == 0 else opened
                level += 1
            elif c == "}" and level:
                level -= 1
            elif not level and c in WHITESPACE:
                break
            i += 1
        if level:
            return spans, opened
        spans.append((start, i))
    return spans, None


def split_words(text: str) -> list[str]:
    """The words of a command as master(8) splits them (unbalanced braces: one word)."""
    spans, opened = word_spans(text)
    words = [text[a:b] for a, b in spans]
    return [*words, text[opened:]] if opened is not None else words


def _braces_problem(text: str) -> str | None:
    level = 0
    for i, c in enumerate(text):
        if c == "{":
            level += 1
        elif c == "}":
            level -= 1
            if level < 0:
                return f"a '}}' without its '{{' at character {i + 1}"
    return "a '{' that is never closed" if level else None


def command_problem(command: str) -> str | None:
    """Why `command` cannot be written as a master.cf command with its arguments."""
    bad = bad_char(command, "\t")
    if bad:
        return f"a command on one line, without control characters ({bad})"
    words = split_words(command)
    if not words or not _PROGRAM.fullmatch(words[0]):
        return ("a command name (a program in Postfix's daemon directory: letters, digits, "
                "'_', '.', '-') and its arguments")
    for word in words[1:]:
        problem = _braces_problem(word)
        if problem:
            return f"arguments whose braces balance ({problem} in {word!r})"
        if word.startswith("{") and _group_end(word) != len(word):
            return f"a '{{ ... }}' argument that ends at its '}}' (not {word!r})"
        if word.startswith("-o"):
            return "no -o in the command: give options under 'options:'"
    return None


def _group_end(word: str) -> int:
    level = 0
    for i, c in enumerate(word):
        level += c == "{"
        level -= c == "}"
        if level == 0:
            return i + 1
    return len(word) + 1


def option_value_problem(value: str) -> str | None:
    """Why `value` cannot be written as the value of one `-o name=value`."""
    bad = bad_char(value)
    if bad:
        return f"an option value on one line, without tabs or control characters ({bad})"
    if value != value.strip(WHITESPACE):
        return "an option value without blanks around it (Postfix strips them)"
    if value.startswith("{"):
        return "an option value that does not start with '{' (Postfix reads it as a group)"
    problem = _braces_problem(value)
    if problem:
        return f"an option value whose braces balance ({problem})"
    return macro_problem(value)  # a daemon reads it as a main.cf value


@dataclass(frozen=True)
class MasterService:
    """One master.cf entry as Postfix sees it (options: last `-o` of a key wins)."""

    name: str
    type: str
    private: str
    unpriv: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    line: int  # 0-based index into the file's lines
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Option:
    key: str
    value: str
    flag: Token  # the `-o`
    arg: Token  # `key=value` or `{ key = value }`


@dataclass
class Entry:
    """Where one entry lives: lines [start, end), its field, option and argument tokens."""

    start: int
    end: int
    fields: list[Token]
    options: list[Option]
    args: list[Token]

    def service(self) -> MasterService:
        f = [t.text for t in self.fields]
        command = " ".join([f[7], *(t.text for t in self.args)])
        options = {o.key: o.value for o in self.options}
        return MasterService(f[0], f[1], f[2], f[3], f[4], f[5], f[6], command, options)


def is_comment(line: str) -> bool:
    return body(line).lstrip(WHITESPACE).startswith("#")


def tokens_of(lines: list[str], index: int, path: str) -> list[Token]:
    text = body(lines[index])
    spans, opened = word_spans(text)
    if opened is not None:
        raise parse_error(path, index + 1, opened + 1, "'}' closing '{'", text[opened:])
    return [Token(index, a, b, text[a:b]) for a, b in spans]


def option_of(flag: Token, arg: Token | None, path: str) -> Option:
    if arg is None:
        raise parse_error(path, flag.line + 1, flag.end + 1, "key=value after -o", "")
    inner = arg.text[1:-1] if arg.text.startswith("{") else arg.text
    key, eq, value = inner.partition("=")
    if not eq or not key.strip():
        raise parse_error(path, arg.line + 1, arg.start + 1, "key=value after -o", arg.text)
    return Option(key.strip(), value.strip(WHITESPACE), flag, arg)


def build_entry(start: int, end: int, tokens: list[Token], path: str) -> Entry:
    if len(tokens) < 8:
        last = tokens[-1]
        raise parse_error(path, last.line + 1, last.end + 1, "8 fields (service type private "
                          "unpriv chroot wakeup maxproc command)", "")
    options: list[Option] = []
    args: list[Token] = []
    rest = tokens[8:]
    i = 0
    while i < len(rest) and rest[i].text.startswith("-") and rest[i].text != "-":
        tok = rest[i]
        if tok.text == "--":  # getopt's end of options
            break
        value = rest[i + 1] if i + 1 < len(rest) else None
        if tok.text == "-o":
            options.append(option_of(tok, value, path))
        else:
            args.append(tok)
            if tok.text in _FLAGS_WITH_VALUE and value is not None:
                args.append(value)
        i += 2 if tok.text in _FLAGS_WITH_VALUE else 1
    args.extend(rest[i:])  # after the first non-option word, everything is an argument
    return Entry(start, end, tokens[:8], options, args)


def scan(lines: list[str], path: str) -> list[Entry]:
    """Index the entries of a master.cf given as raw lines."""
    entries: list[Entry] = []
    i = 0
    while i < len(lines):
        if is_blank(lines[i]) or is_comment(lines[i]) or starts_with_space(lines[i]):
            i += 1
            continue
        tokens, end, j = tokens_of(lines, i, path), i + 1, i + 1
        while j < len(lines) and (starts_with_space(lines[j]) or is_comment(lines[j])):
            if not is_comment(lines[j]) and not is_blank(lines[j]):
                tokens += tokens_of(lines, j, path)
                end = j + 1
            j += 1
        entries.append(build_entry(i, end, tokens, path))
        i = end
    return entries


def commented_block(lines: list[str], name: str, type_: str) -> tuple[int, int, str] | None:
    """Debian's commented entry `#name type ...` and its `#  -o` lines: (start, end, text)."""
    for i, line in enumerate(lines):
        text = body(line)
        words = text[1:].split()
        if not (text.startswith("#") and len(words) >= 8 and text[1:2] not in WHITESPACE):
            continue
        if words[0] != name or words[1] != type_:
            continue
        end = j = i + 1
        while j < len(lines) and re.match(r"#[ \t]", lines[j]):
            if re.match(r"#[ \t]+-o[ \t]", lines[j]):
                end = j + 1
            j += 1
        return i, end, text[1:]
    return None


def option_text(key: str, value: str, braced: bool = False) -> str:
    """`key=value`, or `{ key = value }` when the value has blanks or braces."""
    problem = option_value_problem(value)
    if problem:  # the model refuses these first; this guards the file itself
        raise ValueError(f"master.cf -o {key}: expected {problem}")
    if braced or any(c in value for c in " \t{}"):
        return f"{{ {key} = {value} }}"
    return f"{key}={value}"


def head_line(values: list[str], template: str | None) -> str:
    """An entry's first line, its fields aligned on the template's (or Debian's) columns."""
    columns = list(DEBIAN_COLUMNS)
    if template is not None:
        columns = [a for a, _ in word_spans(template)[0]][:8]
    text = ""
    for value, column in zip(values, columns, strict=True):
        text += " " * max(column - len(text), 1 if text else 0) + value
    return text


class MasterCf(LineDocument[Entry]):
    """A parsed master.cf. `render(parse(b)) == b`; edits touch only their entry."""

    default_path = "master.cf"
    scan = staticmethod(scan)


    def _entry(self, name: str, type_: str) -> Entry | None:
        for e in self._items:
            if e.fields[0].text == name and e.fields[1].text == type_:
                return e
        return None

    def get(self, name: str, type: str) -> MasterService | None:
        e = self._entry(name, type)
        return e.service() if e else None

    def services(self) -> list[MasterService]:
        return [e.service() for e in self._items]

    def remove(self, name: str, type: str) -> None:
        e = self._entry(name, type)
        if e is not None:
            del self._lines[e.start: e.end]
            self._rescan()

    def ensure(self, name: str, type: str, fields: dict[str, str],
               options: dict[str, str | None]) -> None:
        """Make the entry name/type have these fields and options (see docs/contracts.md)."""
        type_ = type
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown master.cf fields: {sorted(unknown)}")
        if self._entry(name, type_) is None:
            self._create(name, type_, fields, options)
            return
        for index, key in enumerate(FIELDS[:5], start=2):
            if key in fields:
                self._set_field(name, type_, index, fields[key])
        if "command" in fields:
            problem = command_problem(fields["command"])
            if problem:  # the model refuses these first; this guards the file itself
                raise ValueError(f"master.cf {name}/{type_}: expected {problem}")
            self._set_command(name, type_, fields["command"])
        for key, value in options.items():
            self._set_option(name, type_, key, value)

    def _create(self, name: str, type_: str, fields: dict[str, str],
                options: dict[str, str | None]) -> None:
        if "command" not in fields:
            raise ValueError(f"master.cf {name}/{type_}: a new entry needs a command")
        problem = command_problem(fields["command"])
        if problem:
            raise ValueError(f"master.cf {name}/{type_}: expected {problem}")
        words = split_words(fields["command"])
        values = [name, type_, *(fields.get(k, "-") for k in FIELDS[:5]), words[0]]
        block = commented_block(self._lines, name, type_)
        head = head_line(values, block[2] if block else None)
        new = [head] + [f"{OPTION_INDENT}-o {option_text(k, v)}"
                        for k, v in options.items() if v is not None]
        if len(words) > 1:  # arguments come after every option (getopt stops at them)
            args = " ".join(words[1:])
            if len(new) == 1 or args.startswith("#"):  # a line starting '#' is a comment
                new[-1] += " " + args
            else:
                new.append(OPTION_INDENT + args)
        if block:
            replace_lines(self._lines, block[0], block[1], new)
        else:
            insert_lines(self._lines, len(self._lines), new)
        self._rescan()

    def _replace_token(self, tok: Token, text: str, realign: bool = True) -> None:
        """Replace one token; with realign, keep the next field's column when spaces allow."""
        line = self._lines[tok.line]
        after = line[tok.end:]
        rest = after.lstrip(WHITESPACE)
        gap = after[: len(after) - len(rest)]
        if realign and gap and gap == " " * len(gap) and body(rest):
            after = " " * max(1, len(gap) - (len(text) - len(tok.text))) + rest
        self._lines[tok.line] = line[:tok.start] + text + after
        self._rescan()

    def _set_field(self, name: str, type_: str, index: int, value: str) -> None:
        e = self._entry(name, type_)
        assert e is not None
        if e.fields[index].text != value:
            self._replace_token(e.fields[index], value)

    def _set_command(self, name: str, type_: str, command: str) -> None:
        e = self._entry(name, type_)
        assert e is not None
        if e.service().command == command:
            return
        words = split_words(command)
        for tok in reversed(e.args):
            self._delete_tokens(tok, tok)
        e = self._entry(name, type_)
        assert e is not None
        self._replace_token(e.fields[7], words[0], realign=False)
        if len(words) > 1:
            e = self._entry(name, type_)
            assert e is not None
            self._insert_after(self._anchor(e), " ".join(words[1:]), OPTION_INDENT)

    @staticmethod
    def _anchor(e: Entry) -> Token:
        """The token new options or arguments go after: the last option, else the command."""
        return e.options[-1].arg if e.options else e.fields[7]

    def _insert_after(self, anchor: Token, text: str, indent: str) -> None:
        """Put `text` right after `anchor`: on a new continuation line when the anchor ends
        its line (unless `text` starts with `#`: that line would be a comment), else
        inline, so it always comes before any later argument."""
        line = self._lines[anchor.line]
        if body(line)[anchor.end:].strip(WHITESPACE) or text.startswith("#"):
            self._lines[anchor.line] = line[:anchor.end] + " " + text + line[anchor.end:]
        else:
            insert_lines(self._lines, anchor.line + 1, [indent + text])
        self._rescan()

    def _delete_tokens(self, first: Token, last: Token) -> None:
        """Delete tokens first..last (same line); drop a continuation line left empty."""
        line = self._lines[first.line]
        before = line[:first.start].rstrip(WHITESPACE)
        rest = body(line)[last.end:]
        if not before and not rest.strip(WHITESPACE):
            del self._lines[first.line]
        else:
            self._lines[first.line] = before + line[last.end:]
        self._rescan()

    def _set_option(self, name: str, type_: str, key: str, value: str | None) -> None:
        e = self._entry(name, type_)
        assert e is not None
        same = [o for o in e.options if o.key == key]
        if value is None:
            for o in reversed(same):
                self._delete_tokens(o.flag, o.arg)
        elif same and same[-1].value != value:
            o = same[-1]
            self._replace_token(o.arg, option_text(key, value, o.arg.text.startswith("{")),
                                realign=False)
        elif not same:
            self._add_option(e, key, value)

    def _add_option(self, e: Entry, key: str, value: str) -> None:
        indent = OPTION_INDENT
        if e.options:
            flag = e.options[-1].flag
            if flag.line != e.start and flag.start == len(indent_of(self._lines[flag.line])):
                indent = indent_of(self._lines[flag.line])
        self._insert_after(self._anchor(e), f"-o {option_text(key, value)}", indent)
