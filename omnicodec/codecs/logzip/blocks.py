"""Logzip blocks: one run of whole lines <-> one self-contained block.

    lines ─┬─ CR flags, outliers (verbatim)
           ├─ skeletons ─→ template dictionary + template id per line   (templates.py)
           ├─ digit runs ─→ number columns: metadata, byte planes, pads  (columns.py)
           ├─ hex tokens ─→ grouped by column ─→ as text, or as shapes + nibbles
           └─ variable words or tokens (structures 4, 5, where smaller) ─→ string slots,
              grouped by column
    eight to ten streams ─→ each through its smallest backend            (backends.py)

Block layout 1: magic ``LZB1``, u8 kind (0 structured, 1 generic), u64 line count, u8 final
newline, u8 template id bytes; layout 2 (compact, for small blocks and files): magic ``LZB2``,
u8 kind, the line count in unsigned LEB128, u8 final newline | template id bytes << 1 |
packed hex << 5 | masked words << 6 | word slots << 7, and LEB128 lengths in its stream frames
(backends.py).  A generic block then
holds one backend stream (the bytes as they are), a structured block the eight streams of
:class:`Structured` in field order; with packed hex (layout 2 only), the hex stream holds each
token's *shape* (every hex digit replaced by ``x``, or ``X`` for A-F) and a ninth stream its
digits as nibbles, high nibble first, each token padded to whole bytes (``pack_hex``).  With
masked words (layout 2 only), number and hex columns are keyed by their skeleton prefix with
its variable words left out (``templates.mask_variable_words``).  With word slots (layout 2
only, flag << 7), ``\x03`` in a template is a string slot, and a last stream holds the strings,
grouped by column as the hex tokens are (``templates.word_slots``, ``templates.token_slots``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ...container import uvar
from ...errors import CorruptStreamError
from ...kernels import kernel
from ...kernels.logs import META, column_segments, starts, within
from .backends import MIN_FAST, Numbers, compress_streams, decompress_stream, ppmd, read_uvar, stream_length
from .columns import encode_numbers, planes_cm, planes_uncm
from .templates import Templates, outliers, token_slots, tokenize, word_slots

_MAGICS = {b"LZB1": 1, b"LZB2": 2}
_HEAD = struct.Struct("<4sBQBB")  # layout 1: magic, kind, line count, final newline, id bytes
STRUCTURED, GENERIC = 0, 1

# A structured block this much smaller than zstd -3 of the same bytes is kept without also
# trying the (slow) generic coders; otherwise the smallest of all is kept, so a block is never
# more than a few bytes larger than zstd -19, PPMd or xz of it.
CLEAR_WIN = 0.6


@dataclass
class Structured:
    """A structured block: its line count, whether it ends in a newline, the bytes per template
    id, its eight streams in stored order (``hexes`` as text), and whether its columns are
    keyed with variable words masked."""

    lines: int
    final_nl: bool
    id_bytes: int
    ids: bytes  # template id + 1 of every line (0: outlier), as id_bytes byte planes
    skeletons: bytes  # the template dictionary, joined by \n
    columns: bytes  # number column metadata (columns.META bytes per column)
    planes: bytes  # number byte planes
    pads: bytes  # leading zeros of numbers in columns whose digit width varies
    hexes: bytes  # hex tokens grouped by column, joined by \n
    outliers: bytes  # outlier lines, joined by \n
    cr: bytes  # one bit per line: it ended in \r (empty: none did)
    masked_words: bool = False
    words: bytes | None = None  # with string slots (structures 4, 5): their strings grouped by column, joined by \n

    def pack(self, slack: float = 0.0, layout: int = 1, pack_hexes: bool = False, orders: bool = False,
             min_fast: int = 0, cm: int = 0, numbers: bool = False) -> bytes:
        """The block's bytes; with ``pack_hexes`` (layout 2), hex tokens go as shapes and nibbles
        where that is smaller; ``orders``, ``min_fast``, ``cm``: see ``backends.compress_streams``;
        ``numbers``: the number planes may go to backend 7 (``columns.planes_cm``)."""
        streams = [getattr(self, name) for name in _STREAMS]
        if pack_hexes and layout == 2 and len(self.hexes) > 64:
            packed = pack_hex(self.hexes)
            sizes = [len(compress_streams(form, layout=2, cm=cm)) for form in (list(packed), [self.hexes])]
            if sizes[0] < sizes[1]:
                streams[_HEXES] = packed[0]
                streams.append(packed[1])
        head = _pack_head(layout, STRUCTURED, self.lines, self.final_nl, self.id_bytes,
                          len(streams) > len(_STREAMS), self.masked_words, self.words is not None)
        if self.words is not None:
            streams.append(self.words)
        extra = None
        if numbers and self.planes:
            context = self.number_lines(1 << 62)
            extra = {_PLANES: Numbers(planes_cm(self.planes, self.columns, *context),
                                      lambda stored, raw_len: planes_uncm(stored, raw_len, self.columns, *context))}
        return head + compress_streams(streams, slack, layout, first=_STREAMS.index("skeletons"), orders=orders,
                                       min_fast=min_fast, cm=cm, extra=extra)

    def number_lines(self, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the column and the line (among the templated lines) of each number in text order,
        each templated line's template): what backend 7 codes the numbers with."""
        line_ids, templates = read_line_ids(self.ids, self.lines, self.id_bytes, self.skeletons)
        tpl = Templates.build(self.skeletons, templates, self.masked_words, self.words is not None)
        tids = line_ids[line_ids > 0] - 1
        slots = _slots(tpl, tids, cap)
        return slots.num_cols, np.repeat(np.arange(tids.size), tpl.count[tids])[slots.is_num], tids

    def render(self, cap: int, rows: np.ndarray | None = None) -> bytes:
        """The block's bytes (with ``rows``, a bool per line: only those lines, each with its
        line end); ValueError/IndexError/CorruptStreamError where streams disagree."""
        n = self.lines
        line_ids, templates = read_line_ids(self.ids, n, self.id_bytes, self.skeletons)
        tpl = Templates.build(self.skeletons, templates, self.masked_words, self.words is not None)
        if len(self.columns) != META * tpl.num_cols:
            raise CorruptStreamError("logzip: column metadata has the wrong length")
        normal = line_ids > 0
        tids = line_ids[normal] - 1
        slots = _slots(tpl, tids, cap)
        size = _work(cap)
        values, widths = kernel("logs", "numbers", size=size)(self.columns, self.planes, self.pads,
                                                              slots.num_cols, tpl.num_cols)
        texts, text_at, text_len = _text_slots(self.hexes, self.words or b"", slots, tpl.num_cols)
        cr = np.unpackbits(np.frombuffer(self.cr, np.uint8), count=n).astype(bool) if self.cr else np.zeros(n, bool)
        text = kernel("logs", "render", size=size)(
            (tids, normal, cr, self.final_nl),
            (np.frombuffer(tpl.stream, np.uint8), tpl.piece_start, tpl.piece_len, tpl.first_piece, tpl.count),
            (values, widths, slots.is_num),
            (np.frombuffer(texts, np.uint8), text_at, text_len),
            (np.frombuffer(self.outliers, np.uint8), *_tokens(self.outliers, int((~normal).sum()), "outlier")),
            cap, rows)
        return text.tobytes()


def _slots(tpl: Templates, tids: np.ndarray, cap: int):
    """``tpl.slots(tids)``, refused where there are more slots than ``cap`` (every slot renders
    at least one byte: a crafted dictionary of long templates must not allocate lines x slots)."""
    if int(tpl.count[tids].sum()) > cap:
        raise CorruptStreamError("logzip: the lines hold more slots than the block has bytes")
    return tpl.slots(tids)


def read_line_ids(ids: bytes, n: int, id_bytes: int, skeletons: bytes) -> tuple[np.ndarray, int]:
    """(template id + 1 of each of the ``n`` lines, 0 for a verbatim line; the number of
    templates) from the id stream (``id_bytes`` byte planes) and the template dictionary,
    checked against each other."""
    if len(ids) != n * id_bytes:
        raise CorruptStreamError("logzip: template id stream has the wrong length")
    full = np.zeros((n, 8), dtype=np.uint8)
    full[:, :id_bytes] = np.frombuffer(ids, np.uint8).reshape(id_bytes, n).T
    line_ids = full.view(np.int64).ravel()
    templates = skeletons.count(b"\n") + 1 if skeletons or line_ids.any() else 0
    if line_ids.size and (line_ids.min() < 0 or line_ids.max() > templates):
        raise CorruptStreamError("logzip: template id out of range")
    return line_ids, templates


def _text_slots(hexes: bytes, words: bytes, slots, num_cols: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(one stream, start and length of each text slot's token in it, in text order): the hex
    tokens and the strings of string slots, each stream grouped by column.  A string with a
    space is refused: the format forbids it, and ``codec grep``'s filter relies on that."""
    if b" " in words:
        raise CorruptStreamError("logzip: a string slot holds a space")
    at, length = np.empty(slots.text_word.size, np.int64), np.empty(slots.text_word.size, np.int64)
    base = 0
    for stream, cols, mine, what in ((hexes, slots.hex_cols, ~slots.text_word, "hex"),
                                     (words, slots.word_cols, slots.text_word, "word")):
        t_at, t_len = _tokens(stream, cols.size, what)
        order, _, _ = column_segments(cols, num_cols)  # the stored order of the tokens
        text_order = np.empty_like(order)
        text_order[order] = np.arange(order.size)
        at[mine], length[mine] = base + t_at[text_order], t_len[text_order]
        base += len(stream) + 1
    return hexes + b"\n" + words, at, length


LOG_BYTES_PER_ITEM = 4


def _work(cap: int) -> int:
    """The size by which the kernels' twin is chosen (``kernels.kernel``, which loads numba
    once a kernel has been given SMALL_JOB items in a process): a quarter of the block's bytes,
    so that a process switches to the compiled twins after about 16 MiB of log.  A 4 MiB block
    decodes in 0.12 s with the NumPy twins and 0.026 s compiled, and numba's start-up costs
    0.4 s (2026-12-06): renting NumPy until it has cost about what buying numba would is the
    ski-rental rule, and a grep or a line range that decodes a few blocks never pays for numba
    (a rare pattern in the 1 GB generated log: 0.75 s against 0.9 s)."""
    return cap // LOG_BYTES_PER_ITEM


def _tokens(stream: bytes, count: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of the ``count`` tokens of a stream joined by newlines."""
    breaks = np.flatnonzero(np.frombuffer(stream, np.uint8) == 10) if count else np.zeros(0, np.int64)
    if (count and breaks.size != count - 1) or (not count and stream):
        raise CorruptStreamError(f"logzip: {what} stream has the wrong length")
    if not count:
        return breaks, breaks
    start = np.concatenate([[0], breaks + 1])
    return start, np.concatenate([breaks, [len(stream)]]) - start


_STREAMS = ["ids", "skeletons", "columns", "planes", "pads", "hexes", "outliers", "cr"]  # stored order
_HEXES, _PLANES = _STREAMS.index("hexes"), _STREAMS.index("planes")
_DIGITS = np.frombuffer(b"0123456789abcdef0123456789ABCDEF", np.uint8)


def pack_hex(stream: bytes) -> tuple[bytes, bytes]:
    """Hex tokens joined by newlines -> (their shapes, their digits as nibbles); the tokens hold
    only hex digits and separators (``templates.tokenize``)."""
    s = np.frombuffer(stream, np.uint8)
    lower = ((s >= 48) & (s <= 57)) | ((s >= 97) & (s <= 102))
    upper = (s >= 65) & (s <= 70)
    shapes = s.copy()
    shapes[lower], shapes[upper] = ord("x"), ord("X")
    at, byte, odd, size = _nibble_places(shapes)
    nibble = np.where(upper[at], s[at] - 55, np.where(s[at] <= 57, s[at] - 48, s[at] - 87)).astype(np.uint8)
    out = np.zeros(size, np.uint8)
    out[byte[~odd]] = nibble[~odd] << 4
    out[byte[odd]] |= nibble[odd]
    return shapes.tobytes(), out.tobytes()


def unpack_hex(shapes: bytes, nibbles: bytes) -> bytes:
    """The inverse of ``pack_hex``; a CorruptStreamError where the two disagree."""
    s = np.frombuffer(shapes, np.uint8)
    at, byte, odd, size = _nibble_places(s)
    if size != len(nibbles):
        raise CorruptStreamError("logzip: hex nibble stream has the wrong length")
    b = np.frombuffer(nibbles, np.uint8)[byte]
    out = s.copy()
    out[at] = _DIGITS[np.where(odd, b & 15, b >> 4) + np.where(s[at] == ord("X"), 16, 0)]
    return out.tobytes()


def _nibble_places(shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Where the hex digits of these shapes are, and for each its byte in the nibble stream and
    whether it is the low nibble; and the nibble stream's length (each token starts a byte)."""
    at = np.flatnonzero((shapes == ord("x")) | (shapes == ord("X")))
    token = np.cumsum(shapes == 10)[at]
    per = np.bincount(token, minlength=int(token[-1]) + 1 if at.size else 0)
    k = within(per)
    return at, starts((per + 1) // 2)[token] + k // 2, k % 2 == 1, int(((per + 1) // 2).sum())


# context mixing (structure 8) decodes at 1-3 MB/s, where a block of PPMd, LZMA2 and zstd
# streams decodes at 20-150 MB/s: it is spent on blocks this small only, which decode in well
# under a second whatever codes them (a small log, or the last block of a large one); a 4 MB
# block of the generated log was 6% smaller with it but decoded at 4.6 MB/s against 153
CM_BLOCK = 1 << 20


def encode_block(data: bytes, slack: float = 0.0, layout: int = 1, structure: int = 1,
                 cm_block: int = CM_BLOCK) -> bytes:
    """One block of whole lines -> structured block bytes (or generic if that is smaller);
    ``slack``: see ``backends.compress_streams``; ``layout``: 1 or 2 (see above);
    ``structure``: what the encoder looks for, 1 (digit runs, hex tokens), 2 (layout 2 only:
    also UUIDs and MAC addresses as tokens, mixed-radix number columns, packed hex digits and
    columns keyed with variable words masked), 3 (2, and each PPMd stream of a structured
    block at the model order its sample prefers: ``backends.compress_streams``), 4 (3, and
    variable words as string slots where that is smaller: ``_with_word_slots``), 5 (4, or
    variable whole tokens as string slots where that is smaller: ``_structured``), 6 (5, and
    number columns joined where their values repeat together: ``columns.fold``) or 7 (6, and
    ``slack`` spent only on streams of ``backends.MIN_FAST`` bytes or more, the template
    dictionary aside) or 8 (7, and in a block of ``cm_block`` bytes or fewer (CM_BLOCK: small logs),
    its streams also through context mixing: ``backends.compress_streams``) or 9 (8, and in such a
block its number planes also by context mixing of their values, each with its line's template
as context: ``columns.planes_cm``, and streams of up to ``backends.CM_BOTH`` bytes under both
ZPAQ models).  Every block
    decodes the same way whatever ``structure`` wrote it."""
    import zstandard

    if structure > 1 and layout < 2:
        raise ValueError("logzip: structure 2 and up need block layout 2")
    orders = structure >= 3
    fast = MIN_FAST if structure >= 7 else 0
    cm = (2 if structure >= 9 else 1) if structure >= 8 and len(data) <= cm_block else 0
    if not data:
        return _generic(data, slack, layout, fast)
    structured = _structured(data, structure).pack(slack, layout, structure >= 2, orders, fast, cm, cm >= 2)
    if len(structured) < CLEAR_WIN * len(zstandard.ZstdCompressor(level=3).compress(data)):
        return structured
    generic = _generic(data, slack, layout, fast, cm)
    return structured if len(structured) < len(generic) else generic


TOKEN_SAMPLE = 1 << 18


def _structured(data: bytes, structure: int) -> Structured:
    """The block's streams; from structure 5 on, with variable tokens as string slots where
    that codes its first TOKEN_SAMPLE bytes (whole lines) in fewer bytes, by PPMd's size of
    every stream (so the block is packed once; a block up to twice that is its own sample)."""
    if structure < 5:
        return _structure(data, structure)
    # a block up to twice the sample is its own sample: two passes over it cost no more than
    # two over the sample and the pass over the block that follows them
    whole = len(data) <= 2 * TOKEN_SAMPLE
    sample = data if whole else data[:data.rfind(b"\n", 0, TOKEN_SAMPLE) + 1 or len(data)]
    slotted = _structure(sample, structure, tokens=True)
    if slotted is None:
        return _structure(data, structure)
    plain = _structure(sample, structure)

    def cost(s: Structured) -> int:
        return _ppmd_size([*(getattr(s, name) for name in _STREAMS), s.words or b""])
    tokens = cost(slotted) < cost(plain)
    return (slotted if tokens else plain) if whole else _structure(data, structure, tokens)


def _pack_head(layout: int, kind: int, lines: int, final_nl: bool, id_bytes: int, packed: bool = False,
               masked: bool = False, words: bool = False) -> bytes:
    if layout == 1:
        return _HEAD.pack(b"LZB1", kind, lines, final_nl, id_bytes)
    return b"LZB2" + bytes([kind]) + uvar(lines) + bytes([final_nl | id_bytes << 1 | packed << 5 | masked << 6
                                                          | words << 7])


class Head(NamedTuple):
    layout: int
    kind: int
    lines: int
    final_nl: bool
    id_bytes: int
    packed: bool  # hex digits as nibbles (a ninth stream)
    masked: bool  # columns keyed with variable words masked
    words: bool  # string slots (a last stream of their strings)
    pos: int  # where the streams start


def _head(buf: memoryview) -> Head:
    """A block's header, checked."""
    layout = _MAGICS.get(bytes(buf[:4]))
    flags = 0
    if layout == 1 and len(buf) >= _HEAD.size:
        _, kind, n, final_nl, id_bytes = _HEAD.unpack_from(buf, 0)
        pos = _HEAD.size
    elif layout == 2 and len(buf) >= 5:
        kind = buf[4]
        n, pos = read_uvar(buf, 5)
        if pos >= len(buf):
            raise CorruptStreamError("logzip: block is truncated")
        final_nl, id_bytes, flags, pos = buf[pos] & 1, buf[pos] >> 1 & 15, buf[pos] >> 5, pos + 1
    else:
        raise CorruptStreamError("logzip: block is truncated or not a logzip block")
    if (kind not in (STRUCTURED, GENERIC) or (kind == STRUCTURED and not 1 <= id_bytes <= 8) or final_nl > 1
            or flags > (7 if kind == STRUCTURED else 0)):
        raise CorruptStreamError("logzip: bad block header")
    return Head(layout, kind, n, bool(final_nl), id_bytes, bool(flags & 1), bool(flags & 2), bool(flags & 4), pos)


def _some_streams(block: bytes, cap: int, wanted: tuple[str, ...]) -> tuple[Head, dict[str, bytes | int]] | None:
    """A structured block's header and, by stream name, the ``wanted`` streams decoded and the
    others' decoded lengths (read from their frames, not decoded); None for a generic block."""
    buf = memoryview(block)
    head = _head(buf)
    if head.kind == GENERIC:
        return None
    got, pos = {}, head.pos
    for name in _STREAMS:
        if name in wanted:
            got[name], pos = decompress_stream(buf, pos, 9 * cap + 64, head.layout)
        else:
            got[name], pos = stream_length(buf, pos, head.layout)
    return head, got


def block_dictionary(block: bytes, cap: int) -> tuple[bytes, bool] | None:
    """A structured block's template dictionary (its skeletons joined by newlines) and whether
    it holds outlier lines, decoding that one stream only; None for a generic block."""
    found = _some_streams(block, cap, ("skeletons",))
    return None if found is None else (found[1]["skeletons"], found[1]["outliers"] > 0)


def block_lines(block: bytes, cap: int) -> tuple[np.ndarray, list[bytes], list[bytes]] | None:
    """A structured block's template id + 1 of every line (0: a verbatim line), its templates
    and its verbatim lines, checked against each other, decoding those three streams only
    (``codec grep -c`` counts from them); None for a generic block."""
    found = _some_streams(block, cap, ("ids", "skeletons", "outliers"))
    if found is None:
        return None
    head, got = found
    if head.lines > cap + 1:
        raise CorruptStreamError("logzip: line count exceeds the block size")
    line_ids, templates = read_line_ids(got["ids"], head.lines, head.id_bytes, got["skeletons"])
    verbatim = int((line_ids == 0).sum())
    lines = got["outliers"].split(b"\n") if verbatim else []
    if len(lines) != verbatim or (not verbatim and got["outliers"]):
        raise CorruptStreamError("logzip: outlier stream has the wrong length")
    return line_ids, got["skeletons"].split(b"\n") if templates else [], lines


def decode_block(block: bytes, cap: int) -> bytes:
    """Structured or generic block bytes -> the original bytes (at most ``cap`` of them)."""
    read = read_block(block, cap)
    return read if isinstance(read, bytes) else rendered(read, cap)


def rendered(read: Structured, cap: int, rows: np.ndarray | None = None) -> bytes:
    """``read.render(cap, rows)``, its streams' disagreements as a CorruptStreamError."""
    try:
        return read.render(cap, rows)
    except (ValueError, IndexError, TypeError) as exc:
        raise CorruptStreamError(f"logzip: block is inconsistent: {exc}") from None


def read_block(block: bytes, cap: int) -> Structured | bytes:
    """A structured block's streams, or a generic block's bytes (at most ``cap`` of them)."""
    buf = memoryview(block)
    head = _head(buf)
    if head.kind == STRUCTURED and head.lines > cap + 1:
        raise CorruptStreamError("logzip: line count exceeds the block size")
    # a generic block holds the content as one stream; a structured block eight (nine with
    # packed hex), none of which can exceed 8 bytes per input byte
    count, stream_cap = (1, cap) if head.kind == GENERIC else (len(_STREAMS) + head.packed + head.words, 9 * cap + 64)
    streams, pos = [], head.pos
    for i in range(count):
        numbers = None
        if head.kind == STRUCTURED and i == _PLANES:  # backend 7 decodes with the streams before
            def numbers(stored: bytes, raw_len: int, before: list[bytes] = streams) -> bytes:
                partial = Structured(head.lines, head.final_nl, head.id_bytes, *before, b"", b"", b"", b"", b"",
                                     masked_words=head.masked, words=b"" if head.words else None)
                return planes_uncm(stored, raw_len, before[_STREAMS.index("columns")], *partial.number_lines(cap))
        s, pos = decompress_stream(buf, pos, stream_cap, head.layout, numbers)
        streams.append(s)
    if pos != len(block):
        raise CorruptStreamError("logzip: trailing bytes in block")
    if head.kind == GENERIC:
        return streams[0]
    words = streams.pop() if head.words else None
    if head.packed:
        streams[_HEXES] = unpack_hex(streams[_HEXES], streams.pop())
    return Structured(head.lines, head.final_nl, head.id_bytes, *streams, masked_words=head.masked, words=words)


def _generic(data: bytes, slack: float, layout: int, min_fast: int = 0, cm: int = 0) -> bytes:
    return _pack_head(layout, GENERIC, 0, False, 0) + compress_streams([data], slack, layout, zstd_any_size=True,
                                                                     min_fast=min_fast, cm=cm)


def _structure(data: bytes, structure: int = 1, tokens: bool = False) -> Structured | None:
    """The block's streams; with ``tokens`` (structure 5), with variable tokens as string slots
    (``templates.token_slots``), None where there are none."""
    lines = data.split(b"\n")
    final_nl = lines[-1] == b""
    if final_nl:
        lines.pop()
    cr = np.fromiter((ln.endswith(b"\r") for ln in lines), dtype=bool, count=len(lines))
    if cr.any():
        lines = [ln[:-1] if c else ln for ln, c in zip(lines, cr)]
    outlier = outliers(lines, data, words=structure >= 4)
    normal = [ln for ln, o in zip(lines, outlier) if not o]
    if tokens:
        found = token_slots(normal, WORD_SLOT)
        if found is None:
            return None
        normal, line_tokens = found
    skel_lines, hexes, nums = tokenize(normal, typed=structure >= 2)
    tpl, tids = Templates.of_lines(skel_lines, masked=structure >= 2, words=tokens)
    slotted = _with_word_slots(tpl, tids) if structure >= 4 and not tokens else None
    words, word_count = None, 0
    if slotted is not None:
        tpl, tids, words, word_count = slotted
    slots = tpl.slots(tids)
    if tokens:
        texts = [t for toks in line_tokens for t in toks]
        words, word_count = _by_column(texts, slots.word_cols, tpl.num_cols), len(texts)
    if (slots.num_cols.size != len(nums) or slots.hex_cols.size != len(hexes)
            or slots.word_cols.size != word_count):
        raise AssertionError("logzip: slot bookkeeping disagrees with the text")  # a bug, not input
    raw = np.array(nums, dtype=np.bytes_) if nums else np.zeros(0, dtype="S1")
    values = raw.astype(np.int64) if nums else np.zeros(0, np.int64)
    widths = np.char.str_len(raw).astype(np.int64) if nums else np.zeros(0, np.int64)
    joint = (lambda *streams: _ppmd_size(list(streams))) if structure >= 6 else None
    columns, planes, pads = encode_numbers(values, widths, slots.num_cols, tpl.num_cols, structure >= 2, joint)

    line_ids = np.zeros(len(lines), dtype=np.int64)
    line_ids[~outlier] = tids + 1
    id_bytes = max(1, (int(line_ids.max(initial=0)).bit_length() + 7) // 8)
    return Structured(
        len(lines), final_nl, id_bytes,
        ids=_id_planes(line_ids, id_bytes),
        skeletons=tpl.stream,
        columns=columns,
        planes=planes,
        pads=pads,
        hexes=_by_column(hexes, slots.hex_cols, tpl.num_cols),
        outliers=b"\n".join(ln for ln, o in zip(lines, outlier) if o),
        cr=np.packbits(cr).tobytes() if cr.any() else b"",
        masked_words=structure >= 2,
        words=words,
    )


def _by_column(tokens: list[bytes], cols: np.ndarray, num_cols: int) -> bytes:
    """Tokens in text order, of these columns, grouped by column (stably) and joined by \\n: the
    stored order of hex tokens and of string slots' strings (``_text_slots`` reads it back)."""
    order, _, _ = column_segments(cols, num_cols)
    return b"\n".join(tokens[i] for i in order)


def _ppmd_size(streams: list[bytes]) -> int:
    """The bytes PPMd codes these streams in: the encoder's estimate where it chooses a form."""
    return sum(len(ppmd(s)) for s in streams)


def _id_planes(ids: np.ndarray, id_bytes: int) -> bytes:
    return np.ascontiguousarray(ids.view(np.uint8).reshape(-1, 8)[:, :id_bytes].T).tobytes()


# different words at one place that make it a word slot (structure 4): fewer, like a level
# field's, stay template text, so a search for them still filters on templates (and a
# dictionary codes a few repeating combinations better; 2k mean ratio 30.67 against 30.73
# with 3, the least that makes a word variable, one block per file, 2026-12-06)
WORD_SLOT = 16


def _with_word_slots(tpl: Templates, tids: np.ndarray) -> tuple[Templates, np.ndarray, bytes, int] | None:
    """Structure 4: the templates with their variable words as word slots, each line's new
    template id, the words of all lines grouped by column and joined by newlines, and how many
    there are; None where that codes the template
    dictionary, the ids and the words in more bytes than the dictionary and ids as they are
    (a dictionary names a combination of words once, a word slot on every line: it wins where
    the combinations seldom repeat, as with user, host and package names)."""
    if not tids.size:
        return None
    old = tpl.stream.split(b"\n")
    slotted, words_of = word_slots(old, WORD_SLOT)
    if not any(words_of):
        return None
    ids: dict[bytes, int] = {}
    new_id = np.array([ids.setdefault(t, len(ids)) for t in slotted], dtype=np.int64)  # keeps first use
    new_tids = new_id[tids]
    new = Templates.build(b"\n".join(ids), len(ids), masked=True, words=True)

    def id_planes(t: np.ndarray) -> bytes:
        return _id_planes(t + 1, max(1, ((int(t.max()) + 1).bit_length() + 7) // 8))

    words = [w for t in tids.tolist() for w in words_of[t]]
    grouped = _by_column(words, new.slots(new_tids).word_cols, new.num_cols)
    # PPMd alone: these are text, and it wins them
    if _ppmd_size([new.stream, id_planes(new_tids), grouped]) >= _ppmd_size([tpl.stream, id_planes(tids)]):
        return None
    return new, new_tids, grouped, len(words)
