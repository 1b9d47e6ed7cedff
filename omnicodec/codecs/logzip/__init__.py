"""Logzip: log-structure compression (Liu et al., ASE 2019), with the numeric-aware, column-wise
encoding of later work (LogReducer FAST'21, LogShrink ICSE'24, Denum ASE'24).

    block of lines ─┬─ hex tokens  ─→ placeholder \\x02, values to string columns (UUIDs and
                    │                 MAC addresses one token each); their digits as nibbles
                    ├─ digit runs  ─→ placeholder \\x01, values to integer columns
                    └─ skeletons   ─→ template dictionary + one template id per line
    columns: one per (skeleton prefix up to the slot, variable words left out), so header
             fields shared by many templates (timestamps, pids) and the fields after a user or
             host name form one column in line order; a column that wraps around when
             the one before it goes up (seconds after minutes) folds into it (mixed radix);
             integers are delta coded where that is smaller and stored as little-endian byte
             planes
    streams ─→ per stream, the smallest of PPMd / xz / zstd / bzip2 / raw, and in a block of
               up to 1 MiB context mixing (ZPAQ) (choice recorded)

Nothing is assumed about the log format: fields are found from where digits and hex identifiers
sit, so any line structure works, and lines that cannot be represented (control bytes we use as
placeholders, very long lines) go verbatim to an outlier stream.  Any byte string round-trips
exactly; a block whose structured form is larger than its plain xz/zstd compression is stored
that way instead.

Input is split into blocks of whole lines (``block_mb``) compressed independently, in parallel
worker processes, with bounded memory; an index of blocks (lines, sizes) lets a line range be
decoded without the rest.

Payload: section ``INDX`` (the block index) and section ``BLKS`` (the blocks back to back).

    stream.py     the input in blocks, encoded in worker processes, written in order
    index.py      the block index (INDX)
    blocks.py     one block <-> its eight streams (block layout)
    templates.py  skeletons, templates and their slots
    columns.py    number columns as byte planes
    backends.py   each stream through its smallest backend, or zstd where it is nearly as small
    cm.py         the context-mixing backend (ZPAQ, two frozen models)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...parallel import in_order
from ..base import Streamed, StreamingCodec, section
from .blocks import block_dictionary, block_lines, decode_block, encode_block
from .index import Entry, pack_index, unpack_index
from .stream import decode_checked, decode_in_order, decode_where, encode_blocks

__all__ = ["Logzip", "decode_block", "encode_block"]

# bytes that text does not hold: C0 controls but tab, line feed, vertical tab, form feed,
# carriage return and escape (ANSI colours), and DEL.  Bytes from 0x80 up are text: UTF-8
# (Cyrillic, CJK: most of a line's bytes) and 8-bit code pages (Latin-1)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\v\f\r\x1b") + b"\x7f"
_UTF16_BOMS = ((b"\xff\xfe", b"\n\x00"), (b"\xfe\xff", b"\x00\n"))
# streams this large are decoded by worker processes (each starts in about a second: it imports
# omnicodec and numba; the 1 GB generated log decodes at 80 MB/s on one core)
PARALLEL_DECODE = 128 << 20
CM_MIN_BLOCK = 256 << 10  # see Logzip._cm_bytes
WARMUP_BLOCKS = 4


@dataclass
class Logzip(StreamingCodec):
    """Log-structure compression; see the module docstring."""

    codec_id: ClassVar[str] = "logzip"
    lossless: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("pyppmd", "zstandard", "zpaq")
    description: ClassVar[str] = "log structure (templates + typed columns), any bytes, lossless"
    stream_section: ClassVar[str] = "BLKS"
    before: ClassVar[dict[str, Any]] = {"fast_slack": 0.0, "block_layout": 1, "structure": 1}
    block_mb: float = 4.0
    # a block may be this much larger for its streams to decode through zstd instead of PPMd
    # or LZMA2 (backends.compress_streams)
    fast_slack: float = 0.02
    block_layout: int = 2  # blocks.py, index.py: 2 has LEB128 lengths
    # what the encoder looks for (blocks.encode_block): 2 adds UUID and MAC tokens, mixed-radix
    # number columns, packed hex digits and columns keyed without variable words, 3 each PPMd
    # stream's model order, 4 variable words as string slots where that is smaller, 5 also
    # variable whole tokens, 6 also number columns joined where their values repeat together
    # (an IPv4 address's octets), 7 spends fast_slack only on streams of 64 KiB or more (and the
    # template dictionary), 8 also codes the streams of blocks of up to 1 MiB by context mixing
    # (ZPAQ), 9 also the number planes of such blocks by context mixing of their values with
    # each line's template as context (columns.planes_cm); any block decodes whatever wrote it
    structure: int = 9
    # structure 8's context mixing is spent on blocks of at most this many MiB (blocks.CM_BLOCK
    # by default: small logs); an archive that is seldom read can ask for every block (-O
    # cm_mb=4) and decode at 1-3 MB/s instead of 20-150; written to the config only when changed
    cm_mb: float = field(default=1.0, metadata={"omit_default": True})

    def encoder_version(self):
        from ... import __version__

        return f"omnicodec {__version__}"

    def suits(self, item):
        """Text with line breaks, in any language and 8-bit encoding (at most 5% control
        bytes), or UTF-16 with its byte-order mark: the default codec for it."""
        head = item.data[: 1 << 16]
        for bom, newline in _UTF16_BOMS:
            if head.startswith(bom):
                return newline in head
        controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
        return b"\n" in head and controls <= 0.05 * len(head)

    def decode_memory(self, meta, item_bytes):
        """The text and its joined copy, one block's columns and templates at work, which
        measured 20-24x the block's text (tests/api/test_memory.py), and numba with its compiled
        kernels (63 MB measured), which blocks of SMALL_JOB bytes or more load, as do number
        planes of backend 7 (structure 9, with their model's tables, ``colcm.MEMORY``), and a
        context-mixing model's tables (``cm.MEMORY``; a file's last block may be small enough
        to use one); from PARALLEL_DECODE bytes on, each worker process holds two blocks and
        its own numba."""
        from ...kernels import SMALL_JOB, colcm
        from .cm import MEMORY

        block = min(item_bytes, self._block_bytes())
        kernels = (80 << 20 if block >= SMALL_JOB or self.structure >= 9 else 0) + (
            colcm.MEMORY + 32 * block if self.structure >= 9 else 0)
        workers = self._workers() if item_bytes >= PARALLEL_DECODE else 0
        return (2 * item_bytes + 26 * block + kernels + workers * (28 * block + (200 << 20))
                + MEMORY + self.decode_slack)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.block_mb, (int, float)) and 0.0009 < self.block_mb <= 1024):
            raise ValueError(f"logzip: block_mb must be in (0.001, 1024], got {self.block_mb!r}")
        if not (isinstance(self.cm_mb, (int, float)) and 0 <= self.cm_mb <= 1024):
            raise ValueError(f"logzip: cm_mb must be in [0, 1024], got {self.cm_mb!r}")
        if not (isinstance(self.fast_slack, (int, float)) and 0 <= self.fast_slack <= 1):
            raise ValueError(f"logzip: fast_slack must be in [0, 1], got {self.fast_slack!r}")
        if self.block_layout not in (1, 2):
            raise ValueError(f"logzip: block_layout must be 1 or 2, got {self.block_layout!r}")
        if self.structure not in range(1, 10) or (self.structure > 1 and self.block_layout < 2):
            raise ValueError(f"logzip: structure must be 1 to 9 (2 and up need block_layout 2), "
                             f"got {self.structure!r}")

    def _block_bytes(self) -> int:
        return int(self.block_mb * (1 << 20))

    def _cm_bytes(self) -> int:
        """The largest block whose streams may go through context mixing: ``cm_mb``; from
        structure 9 none where blocks are smaller than CM_MIN_BLOCK, which a user asks for to
        read line ranges fast (ZPAQ's text model sets up its tables in 70 ms a stream: a 10 KB
        block decoded in 170 ms against 3 ms without)."""
        if self.structure >= 9 and self._block_bytes() < CM_MIN_BLOCK:
            return 0
        return int(self.cm_mb * (1 << 20))

    def encode_to(self, src, spool, progress=None) -> Streamed:
        """Blocks are compressed by ``workers`` processes (default: all cores), with at most two
        blocks per worker in flight, so memory does not grow with the input."""
        entries = encode_blocks(src.read, spool.write, self._block_bytes(), self._workers(), progress,
                                self.fast_slack, self.block_layout, self.structure, self._cm_bytes())
        return Streamed({"INDX": pack_index(entries, self.block_layout)}, {"size": sum(e.raw_size for e in entries)})

    def iter_decode(self, sections, meta):
        """Decoded blocks in order: by ``workers`` processes (default: every core) for streams of
        PARALLEL_DECODE bytes or more, with at most two blocks per worker in flight; else here,
        one block in memory at a time."""
        entries, blocks = self._index(sections, meta)
        jobs = ((blocks[e.offset:e.offset + e.stored], e.raw_size, e.crc) for e in entries)
        yield from decode_in_order(jobs, self._decode_workers(meta, entries))

    def iter_blocks(self, sections, meta, start=0, stop=None, keep=None):
        """Blocks decoded in order from the one holding line ``start``; with ``keep``, a block
        whose template dictionary ``keep`` refuses and that has no outlier lines is left out
        undecoded (its skeletons are the only stream read).  A line cut by a block boundary is
        decoded with both blocks.  Only the blocks that hold lines ``start`` to ``stop`` are
        read (the base ``decode_lines`` reads a line range through this).  Large streams are
        decoded as in ``iter_decode`` once WARMUP_BLOCKS have been decoded here (a search or a
        line range that decodes a few blocks does not wait for worker processes to start)."""
        for first, _, text in self._decoded(sections, meta, start, stop, keep):
            yield first, text

    def iter_where(self, sections, meta, keep, holds):
        """For a search of the whole text: (number of a block's first line; the numbers of the
        lines given, counted from it, or None for all of them; their text, each line with its
        end), block by block as ``iter_blocks(keep=keep)``, except that of a structured block
        only the lines whose template ``holds`` accepts and its verbatim lines are rendered
        (``stream.decode_where``; ``holds`` goes to worker processes, so it must pickle).  Every
        block is read, in order, so the container's checksum covers what the lines came from."""
        return self._decoded(sections, meta, 0, None, keep, holds)

    def _decoded(self, sections, meta, start, stop, keep, holds=None):
        entries, blocks = self._index(sections, meta)
        picked: deque[tuple[int, bool]] = deque()  # (first line of its run, last block of the run)

        def jobs():
            run: list[Entry] = []
            for e in entries:
                if e.first_line + e.newlines < start:
                    continue
                if stop is not None and e.first_line >= stop and not run:
                    return
                run.append(e)
                if not e.ends_nl and e is not entries[-1]:
                    continue  # a line goes on into the next block
                alone = len(run) == 1
                block = blocks[e.offset:e.offset + e.stored] if keep is not None and alone else None
                if block is not None:
                    found = block_dictionary(block, e.raw_size)
                    if found is not None and not found[1] and not keep(found[0]):
                        run = []
                        continue
                for r in run:
                    picked.append((run[0].first_line, r is e))
                    data = block if block is not None else blocks[r.offset:r.offset + r.stored]
                    yield data, r.raw_size, r.crc, holds if alone else None
                run = []

        parts: list[bytes] = []
        workers = self._decode_workers(meta, entries)
        for rows, text in in_order(decode_where, jobs(), workers, WARMUP_BLOCKS):
            first, last = picked.popleft()
            parts.append(text)
            if last:
                yield first, rows, b"".join(parts)
                parts = []

    def count_lines(self, sections, meta, in_template, in_line) -> int | None:
        """How many lines of the text hold a string that only template text can hold (a
        literal no slot can supply part of: ``grep.piece_runs``), counted from each block's
        template ids, template dictionary and verbatim lines (``blocks.block_lines``) without
        decoding its numbers or rendering it: ``in_template(skeleton)`` says whether a
        template's lines hold it (None: only their words can tell), ``in_line(line)`` whether a
        verbatim line (or a line of a generic block or of a block with a template that cannot
        tell, decoded and checked) does.  None where a line crosses a block boundary (then
        only decoding tells which part holds what)."""
        entries, blocks = self._index(sections, meta)
        if any(not e.ends_nl for e in entries[:-1]):
            return None
        total = 0
        for e in entries:
            block = blocks[e.offset:e.offset + e.stored]
            found = block_lines(block, e.raw_size)
            holds = [False, *map(in_template, found[1])] if found is not None else [None]
            if None in holds:  # a generic block, or a template that cannot tell: its lines
                lines = decode_checked(block, e.raw_size, e.crc).split(b"\n")
                total += sum(map(in_line, lines[:-1] if lines[-1] == b"" else lines))
                continue
            total += int(np.array(holds)[found[0]].sum()) + sum(map(in_line, found[2]))
        return total

    def _workers(self) -> int:
        """``workers``, or every core when it is not set."""
        import os

        return self.workers or os.cpu_count() or 1

    def _decode_workers(self, meta, entries) -> int:
        workers = self._workers()
        return workers if int(meta["size"]) >= PARALLEL_DECODE and len(entries) >= 2 * workers else 1

    def _index(self, sections, meta):
        """(index entries, the blocks section) checked against each other and ``meta``."""
        from ... import limits

        size = int(meta["size"])
        limits.check_bytes(size)
        blocks = section(sections, "BLKS", self.codec_id)
        index = section(sections, "INDX", self.codec_id)[:]
        return unpack_index(index, size, len(blocks), self.block_layout), blocks
