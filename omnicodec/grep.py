"""``codec grep``: search the text of .omc files, printing what ``grep`` prints on the decoded
text (LC_ALL=C, extended regular expressions as Python writes them, with grep's character
classes such as ``[[:digit:]]`` and word edges ``\\<`` ``\\>`` too, or fixed strings).

Logzip streams are searched in their compressed form first, as CLP and LogGrep do: a line is
a template's pieces with digit runs and hex tokens (whole words of 0-9a-fA-F with a digit) in
its slots, so in a literal string the pattern needs, the characters no slot can supply (see
``piece_runs``) come in runs that each lie inside one piece of the matching line's template.
A block none of whose templates holds them all, and that has no verbatim lines, cannot hold a
match: only its template dictionary is decoded.  A template with string slots (``\x03``:
words or whole tokens, structures 4 and 5) may hold anything but a space there
(``_slotted_run``).  Other
blocks, and other codecs' streams, are decoded and searched line by line.  ``-c`` of a fixed
string (or a regex of plain characters) that is one such run (no slot can supply any of it)
is counted from the template ids alone (``count``): no block is rendered, but for a block
with a template that has a string slot.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterator

from . import api

_WORD = re.compile(rb"[0-9A-Za-z]+")
_NOT_HEX = re.compile(rb"[g-zG-Z]")
_DIGITS = re.compile(rb"[0-9]")
_PLACEHOLDERS = re.compile(rb"[\x00-\x03\n]")  # slot placeholders in a template; \n parts patterns


@dataclass
class Pattern:
    """A compiled search: ``regex`` (bytes, per line) and ``runs``, byte strings that every
    matching line's template must hold (empty: no filter), as ``holds`` says."""

    regex: re.Pattern
    runs: tuple[bytes, ...]
    literal: bytes = b""  # a fixed string whose every character only template text holds
    must: bytes = b""  # a string every matching line holds (the longest literal every match holds)

    def __post_init__(self) -> None:
        self.in_slotted = tuple(map(_slotted_run, self.runs))

    @classmethod
    def of(cls, pattern: str, fixed: bool = False, ignore_case: bool = False) -> Pattern:
        raw = os.fsencode(pattern)
        source = re.escape(raw) if fixed else from_grep(raw)
        try:
            regex = re.compile(source, re.MULTILINE | (re.IGNORECASE if ignore_case else 0))
        except re.error as exc:
            raise ValueError(f"grep: bad pattern {pattern!r}: {exc}") from None
        literals = [] if regex.flags & re.IGNORECASE else ([raw] if fixed else _required_literals(source))
        runs = {r for lit in literals for r in piece_runs(lit)}
        # a regex of plain characters only ("ERROR") is that fixed string
        plain = raw if fixed else _plain_string(source)
        whole = (not regex.flags & re.IGNORECASE and plain is not None and piece_runs(plain) == [plain]
                 and not _PLACEHOLDERS.search(plain))
        return cls(regex, tuple(sorted(runs)), plain if whole else b"", max(literals, key=len, default=b""))

    def keep(self, dictionary: bytes) -> bool:
        """Whether some template of a block (its skeletons joined by newlines) holds every run."""
        if len(self.runs) < 2 and b"\x03" not in dictionary:
            return all(run in dictionary for run in self.runs)
        return any(map(self.holds, dictionary.split(b"\n")))

    def holds(self, template: bytes) -> bool:
        """Whether a line of this template can hold every run: each in the template's text, or,
        in a template with string slots (``\\x03``), as ``_slotted_run`` finds it."""
        if b"\x03" in template:
            return all(r.search(template) for r in self.in_slotted)
        return all(run in template for run in self.runs)

    def lines(self, text: bytes) -> Iterator[tuple[int, int]]:
        """(start, end) of every line of ``text`` the pattern matches, in order; a match the
        whole-text search finds across a line break is checked against its line alone.  With
        ``must``, only the lines that hold it are searched, each alone (as grep's must-strings:
        Python's backtracking search of ``\\S+@`` over a 200,000-byte line without "@" took
        minutes, until 2026-12-07 #23; it is not searched at all now)."""
        if self.must:
            yield from self._lines_holding(text)
            return
        pos, search = 0, self.regex.search
        while pos <= len(text):
            m = search(text, pos)
            if m is None:
                return
            start, end = _line_at(text, m.start())
            if start == len(text):  # the empty "line" after a final newline is not a line
                return
            if m.end() <= end or search(text[start:end]):
                yield start, end
            pos = end + 1

    def _lines_holding(self, text: bytes) -> Iterator[tuple[int, int]]:
        """``lines`` where every match holds ``must``: the lines that hold it, searched alone."""
        at, search = 0, self.regex.search
        while (hit := text.find(self.must, at)) >= 0:
            start, end = _line_at(text, hit)
            if search(text, start, end):
                yield start, end
            at = end + 1


def _line_at(text: bytes, i: int) -> tuple[int, int]:
    """(start, end) of the line of ``text`` that holds position ``i``, without its newline."""
    start = text.rfind(b"\n", 0, i) + 1
    end = text.find(b"\n", start)
    return start, len(text) if end < 0 else end


# grep's character classes in the C locale, as Python's class contents
_CLASSES = {b"alpha": rb"A-Za-z", b"digit": rb"0-9", b"alnum": rb"0-9A-Za-z", b"upper": rb"A-Z",
            b"lower": rb"a-z", b"space": rb" \t\n\v\f\r", b"blank": rb" \t", b"xdigit": rb"0-9A-Fa-f",
            b"punct": rb"!-/:-@\[-`{-~", b"print": rb" -~", b"graph": rb"!-~", b"cntrl": rb"\x00-\x1f\x7f"}
_CLASS = re.compile(rb"\[:([a-z]+):\]")


_EDGES = {b"\\<": rb"\b(?=\w)", b"\\>": rb"\b(?<=\w)"}  # grep's word start and end


def from_grep(source: bytes) -> bytes:
    """``source`` with grep's character classes inside brackets (``[[:digit:]]``, ``[^[:space:]x]``)
    and its word edges ``\\<`` and ``\\>`` written as Python's regexes take them (Python reads
    ``[[:digit:]]`` as a set of ``[:digt`` followed by ``]``, and ``\\<`` as "<": a grep user's
    pattern would silently match other lines); anything else as it was.  An unknown class name
    is an error, as in grep."""
    out, i, n = bytearray(), 0, len(source)
    while i < n:
        c = source[i:i + 1]
        if c == b"\\":
            out += _EDGES.get(source[i:i + 2], source[i:i + 2])
            i += 2
        elif c == b"[":
            j = i + 1 + (source[i + 1:i + 2] == b"^")
            j += source[j:j + 1] == b"]"  # a first "]" is a member
            out += source[i:j]
            while j < n and source[j:j + 1] != b"]":
                m = _CLASS.match(source, j)
                if m:
                    if m[1] not in _CLASSES:
                        raise ValueError(f"grep: unknown character class [:{m[1].decode()}:]")
                    out += _CLASSES[m[1]]
                    j = m.end()
                else:
                    step = 2 if source[j:j + 1] == b"\\" else 1
                    out += source[j:j + step]
                    j += step
            out += source[j:j + 1]
            i = j + 1
        else:
            out += c
            i += 1
    return bytes(out)


def _slotted_run(run: bytes) -> re.Pattern:
    """A run as a regex on templates with string slots (``\\x03``, structures 4 and 5), which
    hold a word or a whole space-separated token: anything without a space.  So the run's
    spaces are template spaces, and each space-separated chunk of it is, in the template, that
    text or a token with a slot (its first chunk the end of one, its last the start of one, an
    inner one all of one); a run without spaces is anywhere, or in a slot."""
    chunks = run.split(b" ")
    if len(chunks) == 1:
        return re.compile(re.escape(run) + b"|\x03")
    return re.compile(b" ".join(b"(?:" + re.escape(c) + b"|[^ \n]*\x03[^ \n]*)" for c in chunks))


def piece_runs(literal: bytes) -> list[bytes]:
    """The runs of ``literal`` (a string a matching line holds) that must lie inside template
    pieces: every character but digits (always slots) and \r (stripped from line ends), except
    letters of a word that could be part of a hex token: a word of hex characters only that has
    a digit or reaches an end of ``literal`` (where the line's word may go on)."""
    piece = bytearray(b"\x01" * len(literal))
    for m in _WORD.finditer(literal):
        word = m.group()
        hexlike = not _NOT_HEX.search(word) and (_DIGITS.search(word) or m.start() == 0 or m.end() == len(literal))
        for i in range(m.start(), m.end()):
            piece[i] = not hexlike and not literal[i:i + 1].isdigit()
    for i, ch in enumerate(literal):
        if ch == 13:
            piece[i] = 0
    runs, start = [], None
    for i, keep in enumerate([*piece, 0]):
        if keep and start is None:
            start = i
        elif not keep and start is not None:
            runs.append(literal[start:i])
            start = None
    return runs


def _parse(source: bytes):
    """(the regex's top-level items as (op, argument), the LITERAL op) by Python's parser."""
    try:
        from re import _parser as parser  # Python >= 3.11
    except ImportError:  # pragma: no cover - older Pythons
        import sre_parse as parser  # type: ignore[no-redef]
    return list(parser.parse(source)), parser.LITERAL


def _required_literals(source: bytes) -> list[bytes]:
    """Literal strings every match of the regex contains: its top-level runs of literal
    characters (nothing is required of alternatives, classes or repeats)."""
    items, literal = _parse(source)
    out, run = [], bytearray()
    for op, arg in items:
        if op is literal:
            run.append(arg)
            continue
        if run:
            out.append(bytes(run))
        run = bytearray()
    if run:
        out.append(bytes(run))
    return out


def _plain_string(source: bytes) -> bytes | None:
    """The one string a regex of nothing but literal characters matches ("ERROR"), else None."""
    items, literal = _parse(source)
    return bytes(arg for _, arg in items) if all(op is literal for op, _ in items) else None


def count(path: str | os.PathLike, pattern: Pattern, start: int = 0, stop: int | None = None) -> int:
    """How many lines from ``start`` to ``stop`` the pattern matches (``grep -c``).  For a
    fixed string that only template text can hold (``Pattern.literal``) in a whole logzip
    file, a line matches exactly when its template does (or, verbatim, it holds the string),
    so the lines are counted from the template ids, nothing rendered; else as ``grep`` finds
    them."""
    if pattern.literal and start == 0 and stop is None:
        lit = pattern.literal
        found = api.count_template_lines(path, lambda t: True if lit in t else None if pattern.holds(t) else False,
                                         lambda line: lit in line)
        if found is not None:
            return found
    return sum(1 for _ in grep(path, pattern, start, stop))


def grep(path: str | os.PathLike, pattern: Pattern, start: int = 0,
         stop: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, 0-based; the line without its newline) of every line of the file's text
    from ``start`` to ``stop`` (half-open) that the pattern matches."""
    for first, rows, text in api.text_blocks(path, start, stop, pattern.keep, pattern.holds if pattern.runs else None):
        if stop is not None and first >= stop:
            return
        line, at = 0, 0
        for s, e in pattern.lines(text):
            line += text.count(b"\n", at, s)
            at = s
            number = first + (line if rows is None else int(rows[line]))
            if number >= start and (stop is None or number < stop):
                yield number, text[s:e]
