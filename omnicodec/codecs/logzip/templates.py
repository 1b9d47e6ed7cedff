"""Logzip's templates (Liu et al., ASE 2019, with no log parser): a line's *skeleton* is the
line with its hex tokens replaced by ``\\x02`` and then its digit runs by ``\\x01``; each
distinct skeleton is a template, and its placeholders are the template's *slots*.  From
structure 4 on, ``\\x03`` is a string slot: a variable word (``word_slots``) or, from
structure 5, a variable whole token (``token_slots``, taken out before the rest).

    lines ─→ hex tokens (text order) ─→ digit runs (text order) ─→ skeleton per line
    skeletons ─→ template dictionary + one template id per line
    slot j of a template ─→ the column keyed by its skeleton up to slot j, so header fields
                           shared by many templates (timestamps, pids) form one column; with
                           variable words masked, by that prefix with the words that vary
                           among templates of one shape left out (``mask_variable_words``)

Nothing is assumed about the log format; lines that cannot be represented (holding the
placeholder bytes, or longer than ``MAX_LINE``) are outliers, stored verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ...kernels.logs import starts, within

NUM, HEX, WORD = b"\x01", b"\x02", b"\x03"  # slot placeholders in a skeleton (WORD: structure 4)
MAX_LINE = 1 << 16
# each pattern is one capturing group, so that ``split`` finds the tokens and what lies between
# them in one scan
_HEX = rb"(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]+"
_HEX_RE = re.compile(rb"(?<![0-9A-Za-z])(" + _HEX + rb")(?![0-9A-Za-z])")
# structure 2: UUIDs (RFC 9562's 8-4-4-4-12 form) and MAC addresses are one token each, whatever
# digits they hold (as hex groups, a group without a letter would be a number and one without a
# digit text: one log statement would make many templates)
_TYPED_RE = re.compile(rb"(?<![0-9A-Za-z])([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
                       rb"|[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5}|"
                       + _HEX + rb")(?![0-9A-Za-z])")
_NUM_RE = re.compile(rb"([0-9]{1,18})")
_WORD_RE = re.compile(rb"([A-Za-z]+)")
_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
VARIABLE_WORD = 3  # distinct words at one place of one shape that make it a variable word
_SLOT_RES = (re.compile(rb"[\x01\x02]"), re.compile(rb"[\x01-\x03]"))


def outliers(lines: list[bytes], data: bytes, words: bool = False) -> np.ndarray:
    """Which of ``lines`` (the lines of ``data``) cannot be templated (``words``: where word
    slots may be made, \x03 is a placeholder too)."""
    slot = _SLOT_RES[words]
    has_slot = slot.search(data) is not None
    return np.fromiter((len(ln) > MAX_LINE or (has_slot and slot.search(ln) is not None)
                        for ln in lines), dtype=bool, count=len(lines))


def tokenize(lines: list[bytes], typed: bool = False) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(skeleton of each line, hex tokens, digit runs), the tokens in text order; ``typed``:
    UUIDs and MAC addresses are hex tokens too."""
    parts = (_TYPED_RE if typed else _HEX_RE).split(b"\n".join(lines))
    hexes = parts[1::2]
    parts = _NUM_RE.split(HEX.join(parts[0::2]))
    nums = parts[1::2]
    skeletons = NUM.join(parts[0::2]).split(b"\n") if lines else []
    return skeletons, hexes, nums


def token_slots(lines: list[bytes], least: int) -> tuple[list[bytes], list[list[bytes]]] | None:
    """Structure 5: the lines with their variable tokens made string slots (``\\x03``), and each
    line's tokens taken out, in order; None where no token is variable.  Lines are grouped as
    Drain does (the same number of space-separated tokens, the same first three once digit
    runs and hex tokens are masked); a token place where ``least`` or more differently shaped
    tokens (so masked) occur in a group is variable (package names and versions, host names
    with digits: things digit runs and words cut into pieces that do not repeat)."""
    masked = _NUM_RE.sub(b"0", _TYPED_RE.sub(b"h", b"\n".join(lines))).split(b"\n")
    shapes = [m.split(b" ") for m in masked]
    groups: dict[tuple, list[int]] = {}
    for i, toks in enumerate(shapes):
        groups.setdefault((len(toks), *toks[:3]), []).append(i)
    places: dict[tuple, list[int]] = {}
    for key, members in groups.items():
        if len(members) >= least:
            found = [p for p in range(3, key[0]) if len({shapes[i][p] for i in members}) >= least]
            if found:
                places[key] = found
    if not places:
        return None
    out, tokens = list(lines), [[] for _ in lines]
    for key, found in places.items():
        for i in groups[key]:
            toks = lines[i].split(b" ")
            tokens[i] = [toks[p] for p in found]
            for p in found:
                toks[p] = WORD
            out[i] = b" ".join(toks)
    return out, tokens


class Slots(NamedTuple):
    """The slots of some lines in text order: which are numbers, the column of each number
    slot, of each hex slot and of each word slot, and which of the other (text) slots are
    words."""

    is_num: np.ndarray
    num_cols: np.ndarray
    hex_cols: np.ndarray
    word_cols: np.ndarray
    text_word: np.ndarray


@dataclass
class Templates:
    """Per-template slot layout, derived identically by encoder and decoder."""

    stream: bytes  # the skeletons joined by \n (the block's template dictionary)
    piece_start: np.ndarray  # where each piece (the text around the slots) starts in ``stream``
    piece_len: np.ndarray
    first_piece: np.ndarray  # each template's first piece (a template of k slots has k + 1)
    slot_cols: np.ndarray  # column id of every slot, templates back to back
    slot_num: np.ndarray  # True where that slot is a number (else a hex token or a word)
    slot_word: np.ndarray  # True where that slot is a word
    start: np.ndarray  # first slot of each template in the two arrays above
    count: np.ndarray  # slots per template
    num_cols: int

    @classmethod
    def build(cls, stream: bytes, templates: int, masked: bool = False, words: bool = False) -> Templates:
        """The layout of ``templates`` skeletons joined by newlines in ``stream`` (a ValueError
        if it holds another number); ``masked``: columns are keyed with variable words left out;
        ``words``: \\x03 is a word slot (else text)."""
        buf = np.frombuffer(stream, np.uint8)
        line_start, ends, at, owner = _layout(buf, templates, words)
        count = np.bincount(owner, minlength=templates).astype(np.int64)
        if masked:  # the same slots, in the same order, in the masked dictionary
            keyed = mask_variable_words(stream, b"\x04" if words else WORD)  # a mask that is no slot
            keyed_start, _, keyed_at, keyed_owner = _layout(np.frombuffer(keyed, np.uint8), templates, words)
            cols = _prefix_columns(keyed, keyed_start, keyed_at, keyed_owner)
        else:
            cols = _prefix_columns(stream, line_start, at, owner)
        num_cols = int(cols.max()) + 1 if cols.size else 0
        piece_start = np.sort(np.concatenate([line_start, at + 1]))
        piece_len = np.sort(np.concatenate([ends, at])) - piece_start
        return cls(stream, piece_start, piece_len, starts(count + 1), cols, buf[at] == NUM[0],
                   buf[at] == WORD[0], starts(count), count, num_cols)

    @classmethod
    def of_lines(cls, skeletons: list[bytes], masked: bool = False,
                 words: bool = False) -> tuple[Templates, np.ndarray]:
        """The templates of these line skeletons (in order of first use) and each line's id."""
        ids: dict[bytes, int] = {}
        tids = np.array([ids.setdefault(s, len(ids)) for s in skeletons], dtype=np.int64)
        return cls.build(b"\n".join(ids), len(ids), masked, words), tids

    def slots(self, tids: np.ndarray) -> Slots:
        """Every slot of the lines with template ids ``tids``, in text order."""
        counts = self.count[tids]
        slots = np.repeat(self.start[tids], counts) + within(counts)
        is_num, is_word = self.slot_num[slots], self.slot_word[slots]
        text = slots[~is_num]
        text_word = is_word[~is_num]
        return Slots(is_num, self.slot_cols[slots[is_num]], self.slot_cols[text[~text_word]],
                     self.slot_cols[text[text_word]], text_word)


def _layout(buf: np.ndarray, templates: int, words: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(where each template starts, where it ends, where each slot is, its template) in a
    dictionary of ``templates`` skeletons joined by newlines (``words``: with word slots)."""
    ends = np.flatnonzero(buf == 10)
    if templates != (ends.size + 1 if templates or buf.size else 0):
        raise ValueError("logzip: the template dictionary has the wrong length")
    ends = np.append(ends, buf.size)[:templates]
    line_start = np.concatenate([[0], ends[:-1] + 1])[:templates].astype(np.int64)
    at = np.flatnonzero((buf == NUM[0]) | (buf == HEX[0]) | ((buf == WORD[0]) & words))
    return line_start, ends, at, np.searchsorted(line_start, at, side="right") - 1


def _prefix_columns(stream, line_start, at, owner) -> np.ndarray:
    """Column of every slot: the rank of its prefix (its skeleton up to and including the
    slot) in order of first appearance."""
    cols: dict[bytes, int] = {}
    return np.array([cols.setdefault(stream[line_start[t]:p + 1], len(cols))
                     for t, p in zip(owner.tolist(), at.tolist())], dtype=np.int64)


def mask_variable_words(stream: bytes, mask: bytes = WORD) -> bytes:
    """The template dictionary with its variable words (``variable_words``) replaced by
    ``mask``: the columns after a variable word are keyed without it, so the address after
    every user name is one column."""
    templates = stream.split(b"\n")
    for i, (parts, places) in variable_words(templates).items():
        templates[i] = b"".join(mask if j in places else part for j, part in enumerate(parts))
    return b"\n".join(templates)


def word_slots(templates: list[bytes], least: int) -> tuple[list[bytes], list[list[bytes]]]:
    """Each template with its variable words of ``least`` or more different words made word
    slots (``\\x03``, as in ``mask_variable_words``), and the words it had there, in order
    (structure 4)."""
    out, words = list(templates), [[] for _ in templates]
    for i, (parts, places) in variable_words(templates, least).items():
        out[i] = b"".join(WORD if j in places else part for j, part in enumerate(parts))
        words[i] = [parts[j] for j in sorted(places)]
    return out, words


def variable_words(templates: list[bytes], least: int = VARIABLE_WORD) -> dict[int, tuple[list[bytes], set[int]]]:
    """The templates that have variable words: by index, the template's parts (text, word,
    text, ..., text; words are runs of ASCII letters) and which parts are variable words.
    Templates of one *shape* (the same text once their words are taken out) differ only in
    words; where ``least`` or more of them have different words at one place (the user of
    "Invalid user admin from \\x01...", a host name), that word is variable."""
    near: dict[bytes, list[int]] = {}  # the same text without its letters
    for i, text in enumerate(t.translate(None, _LETTERS) for t in templates):
        near.setdefault(text, []).append(i)
    found = {}
    for members in near.values():
        if len(members) < VARIABLE_WORD:
            continue
        shapes: dict[tuple[bytes, ...], list[int]] = {}
        split = {i: _WORD_RE.split(templates[i]) for i in members}
        for i, parts in split.items():
            shapes.setdefault(tuple(parts[0::2]), []).append(i)
        for group in shapes.values():
            if len(group) < least:
                continue
            places = {2 * j + 1 for j, words in enumerate(zip(*(split[i][1::2] for i in group)))
                      if len(set(words)) >= least}
            found.update({i: (split[i], places) for i in group} if places else {})
    return found
