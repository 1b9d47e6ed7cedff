"""Logzip's streaming driver: the input read in blocks of whole lines, each block compressed
in a worker process, the blocks written in order with at most two per worker in flight, so
memory is bounded by the block size whatever the input's; and large streams decoded the same
way.

    read(n) ─→ split_blocks ─→ worker processes: encode_block + BlockSummary ─→ write, in order
                                                                          └─→ index entries
    blocks ─→ worker processes of a fork server: decode_checked ─→ texts, in order
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterator

from ...parallel import die_with_parent, in_order
from .blocks import CM_BLOCK, decode_block, encode_block
from .index import BlockSummary, Entry


def encode_blocks(read: Callable[[int], bytes], write: Callable[[bytes], object], block_bytes: int,
                  workers: int, progress: Callable[[int], None] | None = None, slack: float = 0.0,
                  layout: int = 1, structure: int = 1, cm_block: int = CM_BLOCK) -> list[Entry]:
    """Compress everything ``read(n)`` returns into blocks of about ``block_bytes``, written with
    ``write`` in input order by ``workers`` processes (one: in this process); returns the index
    entries.  ``progress(n)`` hears of each block's ``n`` input bytes once it is written;
    ``slack``, ``layout``, ``structure`` and ``cm_block``: see ``blocks.encode_block``."""
    import os
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    chunks = split_blocks(read, block_bytes)
    entries: list[Entry] = []

    def record(result: tuple[bytes, BlockSummary]) -> None:
        stored, summary = result
        entries.append(Entry.after(entries[-1] if entries else None, len(stored), summary))
        write(stored)
        if progress:
            progress(summary.size)

    head = list(itertools.islice(chunks, 2))
    if len(head) < 2 or workers == 1:  # a single block: no process start-up cost
        for chunk in itertools.chain(head, chunks):
            record(_encode_job(chunk, slack, layout, structure, cm_block))
        return entries
    with ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        pending = deque(pool.submit(_encode_job, chunk, slack, layout, structure, cm_block) for chunk in head)
        for chunk in chunks:
            while len(pending) >= 2 * workers:
                record(pending.popleft().result())
            pending.append(pool.submit(_encode_job, chunk, slack, layout, structure, cm_block))
        while pending:
            record(pending.popleft().result())
    return entries


def split_blocks(read: Callable[[int], bytes], block_bytes: int) -> Iterator[bytes]:
    """Chunks of about ``block_bytes`` that end at a newline where one exists; the last chunk
    takes whatever remains (so a short input is always one block)."""
    carry = b""
    while True:
        parts, size = [carry], len(carry)
        while size < block_bytes:
            chunk = read(block_bytes - size)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        data = b"".join(parts)
        if size < block_bytes:  # end of input
            if data:
                yield data
            return
        cut = data.rfind(b"\n") + 1 or len(data)  # no newline: one very long line spans blocks
        carry = data[cut:]
        yield data[:cut]


def decode_in_order(jobs: Iterator[tuple[bytes, int, int]], workers: int, warmup: int = 0) -> Iterator[bytes]:
    """``decode_checked(*job)`` of every job, in order (``parallel.in_order``)."""
    return in_order(decode_checked, jobs, workers, warmup)


def decode_checked(block: bytes, raw_size: int, crc: int) -> bytes:
    """A block's text, checked against its index entry's size and CRC-32."""
    return _checked(decode_block(block, raw_size), raw_size, crc)


def _checked(raw: bytes, raw_size: int, crc: int) -> bytes:
    import zlib

    from ...errors import CorruptStreamError

    if len(raw) != raw_size or zlib.crc32(raw) != crc:
        raise CorruptStreamError("logzip: a block decodes to the wrong content")
    return raw


def decode_where(block: bytes, raw_size: int, crc: int, holds: Callable[[bytes], bool] | None):
    """(which lines, or None for all; their text): for a structured block and ``holds``, the
    lines whose template ``holds`` accepts and the verbatim lines, as their numbers in the
    block and their text (each line with its end), rendering nothing else; otherwise
    ``decode_checked``'s text.  Only a whole text can be checked against its CRC-32: a caller
    that takes lines must read every block in order, so that the container's section
    checksum covers the bytes they came from."""
    import numpy as np

    from .blocks import read_block, read_line_ids, rendered

    if holds is None:
        return None, decode_checked(block, raw_size, crc)
    read = read_block(block, raw_size)
    if isinstance(read, bytes):  # a generic block: its whole text, decoded once
        return None, _checked(read, raw_size, crc)
    ids, templates = read_line_ids(read.ids, read.lines, read.id_bytes, read.skeletons)
    picked = [True, *map(holds, read.skeletons.split(b"\n")[:templates])] if templates else [True]
    rows = np.array(picked)[ids]
    return np.flatnonzero(rows), rendered(read, raw_size, rows)


def _encode_job(data: bytes, slack: float, layout: int, structure: int,
                cm_block: int = CM_BLOCK) -> tuple[bytes, BlockSummary]:
    return encode_block(data, slack, layout, structure, cm_block), BlockSummary.of(data)
