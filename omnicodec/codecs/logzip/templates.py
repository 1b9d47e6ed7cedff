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

NUM, HEX = b"\x01", b"\x02"  # slot placeholders in a skeleton
MAX_LINE = 1 << 16
_HEX_RE = re.compile(rb"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]+(?![0-9A-Za-z])")
_NUM_RE = re.compile(rb"[0-9]{1,18}")
_SLOT_RE = re.compile(rb"[\x01\x02]")


def outliers(lines: list[bytes], data: bytes) -> np.ndarray:
    """Which of ``lines`` (the lines of ``data``) cannot be templated."""
    has_slot = _SLOT_RE.search(data) is not None
    return np.fromiter((len(ln) > MAX_LINE or (has_slot and _SLOT_RE.search(ln) is not None)
                        for ln in lines), dtype=bool, count=len(lines))


def tokenize(lines: list[bytes]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(skeleton of each line, hex tokens, digit runs), the tokens in text order."""
    text = b"\n".join(lines)
    hexes = _HEX_RE.findall(text)
    text = _HEX_RE.sub(HEX, text)
    nums = _NUM_RE.findall(text)
    skeletons = _NUM_RE.sub(NUM, text).split(b"\n") if lines else []
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

    skeletons: list[bytes]
    pieces: list[list[bytes]]  # the text around the slots
    slot_cols: np.ndarray  # column id of every slot, templates back to back
    slot_num: np.ndarray  # True where that slot is a number (else a hex token)
    start: np.ndarray  # first slot of each template in the two arrays above
    count: np.ndarray  # slots per template
    num_cols: int

    @classmethod
    def build(cls, skeletons: list[bytes]) -> Templates:
        cols: dict[bytes, int] = {}
        pieces, slot_cols, slot_num, count = [], [], [], []
        for skel in skeletons:
            parts = _SLOT_RE.split(skel)
            pos = 0
            for part in parts[:-1]:
                pos += len(part) + 1
                slot_cols.append(cols.setdefault(skel[:pos], len(cols)))
                slot_num.append(skel[pos - 1] == NUM[0])
            pieces.append(parts)
            count.append(len(parts) - 1)
        count_arr = np.array(count, dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(count_arr)[:-1]]).astype(np.int64)
        return cls(skeletons, pieces, np.array(slot_cols, dtype=np.int64),
                   np.array(slot_num, dtype=bool), start, count_arr, len(cols))

    @classmethod
    def of_lines(cls, skeletons: list[bytes]) -> tuple[Templates, np.ndarray]:
        """The templates of these line skeletons (in order of first use) and each line's id."""
        ids: dict[bytes, int] = {}
        tids = np.array([ids.setdefault(s, len(ids)) for s in skeletons], dtype=np.int64)
        return cls.build(list(ids)), tids

    def slots(self, tids: np.ndarray) -> Slots:
        """Every slot of the lines with template ids ``tids``, in text order."""
        counts = self.count[tids]
        line_start = np.repeat(np.cumsum(counts) - counts, counts)
        slots = np.repeat(self.start[tids], counts) + (np.arange(int(counts.sum())) - line_start)
        is_num = self.slot_num[slots]
        return Slots(is_num, self.slot_cols[slots[is_num]], self.slot_cols[slots[~is_num]])

    def render(self, tids: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """The lines with template ids ``tids`` (an object array of bytes), their slots filled
        from ``cells`` (every slot's bytes, in text order); one Python loop per template."""
        lines = np.empty(tids.size, dtype=object)
        counts = self.count[tids]
        line_slot_start = np.cumsum(counts) - counts
        by_tpl = np.argsort(tids, kind="stable")
        tcount = np.bincount(tids, minlength=len(self.skeletons))
        tend = np.cumsum(tcount)
        for t in np.flatnonzero(tcount).tolist():
            rows = by_tpl[tend[t] - tcount[t]:tend[t]]
            k, pieces = int(self.count[t]), self.pieces[t]
            if k == 0:
                lines[rows] = pieces[0]
                continue
            filled = cells[line_slot_start[rows][:, None] + np.arange(k)]
            parts = [[pieces[0]] * rows.size]
            for j in range(k):
                parts += [filled[:, j].tolist(), [pieces[j + 1]] * rows.size]
            lines[rows] = [b"".join(line) for line in zip(*parts)]
        return lines
