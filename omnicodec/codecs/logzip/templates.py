"""Logzip's templates (Liu et al., ASE 2019, with no log parser): a line's *skeleton* is the
line with its hex tokens replaced by ``\\x02`` and then its digit runs by ``\\x01``; each
distinct skeleton is a template, and its placeholders are the template's *slots*.

    lines ─→ hex tokens (text order) ─→ digit runs (text order) ─→ skeleton per line
    skeletons ─→ template dictionary + one template id per line
    slot j of a template ─→ the column keyed by its skeleton up to slot j, so header fields
                           shared by many templates (timestamps, pids) form one column

Nothing is assumed about the log format; lines that cannot be represented (holding the
placeholder bytes, or longer than ``MAX_LINE``) are outliers, stored verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ...kernels.logs import starts, within

NUM, HEX = b"\x01", b"\x02"  # slot placeholders in a skeleton
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
_SLOT_RE = re.compile(rb"[\x01\x02]")


def outliers(lines: list[bytes], data: bytes) -> np.ndarray:
    """Which of ``lines`` (the lines of ``data``) cannot be templated."""
    has_slot = _SLOT_RE.search(data) is not None
    return np.fromiter((len(ln) > MAX_LINE or (has_slot and _SLOT_RE.search(ln) is not None)
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


class Slots(NamedTuple):
    """The slots of some lines in text order: which are numbers, and the column of each number
    slot and of each hex slot."""

    is_num: np.ndarray
    num_cols: np.ndarray
    hex_cols: np.ndarray


@dataclass
class Templates:
    """Per-template slot layout, derived identically by encoder and decoder."""

    stream: bytes  # the skeletons joined by \n (the block's template dictionary)
    piece_start: np.ndarray  # where each piece (the text around the slots) starts in ``stream``
    piece_len: np.ndarray
    first_piece: np.ndarray  # each template's first piece (a template of k slots has k + 1)
    slot_cols: np.ndarray  # column id of every slot, templates back to back
    slot_num: np.ndarray  # True where that slot is a number (else a hex token)
    start: np.ndarray  # first slot of each template in the two arrays above
    count: np.ndarray  # slots per template
    num_cols: int

    @classmethod
    def build(cls, stream: bytes, templates: int) -> Templates:
        """The layout of ``templates`` skeletons joined by newlines in ``stream`` (a ValueError
        if it holds another number)."""
        buf = np.frombuffer(stream, np.uint8)
        ends = np.flatnonzero(buf == 10)
        if templates != (ends.size + 1 if templates or buf.size else 0):
            raise ValueError("logzip: the template dictionary has the wrong length")
        ends = np.append(ends, buf.size)[:templates]
        line_start = np.concatenate([[0], ends[:-1] + 1])[:templates].astype(np.int64)
        at = np.flatnonzero((buf == NUM[0]) | (buf == HEX[0]))
        owner = np.searchsorted(line_start, at, side="right") - 1
        count = np.bincount(owner, minlength=templates).astype(np.int64)
        cols = _prefix_columns(stream, at, owner, line_start)
        num_cols = int(cols.max()) + 1 if cols.size else 0
        piece_start = np.sort(np.concatenate([line_start, at + 1]))
        piece_len = np.sort(np.concatenate([ends, at])) - piece_start
        return cls(stream, piece_start, piece_len, starts(count + 1), cols, buf[at] == NUM[0],
                   starts(count), count, num_cols)

    @classmethod
    def of_lines(cls, skeletons: list[bytes]) -> tuple[Templates, np.ndarray]:
        """The templates of these line skeletons (in order of first use) and each line's id."""
        ids: dict[bytes, int] = {}
        tids = np.array([ids.setdefault(s, len(ids)) for s in skeletons], dtype=np.int64)
        return cls.build(b"\n".join(ids), len(ids)), tids

    def slots(self, tids: np.ndarray) -> Slots:
        """Every slot of the lines with template ids ``tids``, in text order."""
        counts = self.count[tids]
        slots = np.repeat(self.start[tids], counts) + within(counts)
        is_num = self.slot_num[slots]
        return Slots(is_num, self.slot_cols[slots[is_num]], self.slot_cols[slots[~is_num]])




def _prefix_columns(stream, at, owner, line_start) -> np.ndarray:
    """Column of every slot: the rank of its prefix (its skeleton up to and including the
    slot) in order of first appearance."""
    cols: dict[bytes, int] = {}
    return np.array([cols.setdefault(stream[line_start[t]:p + 1], len(cols))
                     for t, p in zip(owner.tolist(), at.tolist())], dtype=np.int64)
