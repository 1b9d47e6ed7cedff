"""Deflate streams taken apart and put back together bit for bit, whatever wrote them.

Five jobs, for ``datasets/recipes.py`` (deflate_recipe and deflate_rebuild keep what they
return):

``parse[twin](stream, nbits, cap) -> (raw, lengths, distances, blocks, end, ok)``: inflate (RFC
1951) into its tokens (``uint16`` arrays): a literal (length 0, the byte as distance) or a
match (length 3-258, distance 1-32768), and its blocks as rows (type, first bit, first bit after the header, first
token, tokens); ``end`` is the bit after the last block.  Stored blocks' bytes are literals.
``ok`` is False for a stream this reader refuses (truncated, a bad code, more than ``cap``
bytes out): callers first let zlib inflate it.

``write[twin](raw, lengths, distances, blocks, headers, hbits, tail, tail_bits) -> (stream,
ok)``: the
inverse: each block's header bits copied from ``headers`` (the original stream's, block after
block), its tokens written with the Huffman codes that header defines (the fixed ones for
type 1), then the end-of-block code; ``tail`` bits pad the last byte.  Given a parse's pieces
it writes the parsed stream again, byte for byte (``ok`` False where the pieces disagree: a
token its header has no code for, tokens past the data).

``code_lengths[twin](stream, rows) -> (blocks, 320) or None``: each block's Huffman code
lengths (literal/length codes, then distance codes from 288), from its header, the fixed codes
for type 1; what the cost classes below are reckoned with.

``diff[twin](raw, lengths, distances, stored, chain[, costs, firsts, deep]) -> layouts`` and
``undiff[twin](raw, stored runs, sizes, data, chain[, costs, firsts, deep]) -> (lengths,
distances, ok)``: a parse as its differences from
what a plain matcher predicts at each token: the longest match of at least 3 bytes found along
a hash chain of the 3 bytes there (at most ``chain`` candidates back, within 32 KiB), the
nearest of those that long, looked at with zlib's eyes (is the match one byte on longer: a
lazy matcher's literal; is it 3 bytes from more than 4 KiB back: zlib's TOO_FAR).  Encoders
that chose that token cost a byte that repeats (kind 1); a literal where a match was
available, or a shorter or farther match, costs its length's shortfall and its distance as a
rank among the candidates at least as long (among the chain's, or with ``deep`` the whole
window's: ``_reach``).  zlib and gzip take the longest match nearly
always; optimal parsers (zopfli, 7-Zip) take shorter ones more often.  The two walk the data
identically, so ``undiff(raw, diff(raw, parse)) == parse``; ``stored`` marks tokens of
stored blocks (literals, not predicted).

Corrections are STREAMS byte streams, so that each holds bytes of one distribution: kinds (0
literal, 1 as predicted, 2 otherwise) by the matcher's context (found nothing; or lazy,
too-far and the predicted length up to 17), lengths ((predicted - length) mod 256) by the
predicted length, ranks (LEB128: 0 when an explicit distance follows, else rank + 1) and
explicit distances (u16); ``diff`` returns the bytes per stream and the streams one after
another.  With ``costs`` (each block's code lengths) and ``firsts`` (each block's first token),
the kinds are split further by cost class (``COST_EDGES``: the predicted match's bits under
its block's codes minus those of the literals it covers), and ``diff`` returns that layout and
the one without classes.  The matcher's work is bounded (``budget``).  Sequential bit work: the NumPy twin
runs the same Python source uncompiled (slow; zlib is the independent yardstick in the tests).
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_device

CHAINS = (128, 4096)  # hash chain candidates tried per token: zlib's level 6 and its level 9
WINDOW = 32768
LONG, LONG_HEADS = 8, 1 << 17  # deep ranks' second chains: of LONG-byte hashes (``_first``)
_LBASE = np.array([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
                   163, 195, 227, 258], np.int64)
_LEXT = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0], np.int64)
_DBASE = np.array([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                   2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577], np.int64)
_DEXT = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13],
                 np.int64)
_ORDER = np.array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15], np.int64)
_FIXED = np.array([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8 + [5] * 30, np.int64)


# ------------------------------------------------------------------------------- bits in
def _get(d, nbits, p, k):
    """k bits (LSB first) at bit p of d, or -1 past nbits."""
    if p + k > nbits:
        return -1
    v = 0
    for i in range(k):
        q = p + i
        v |= ((np.int64(d[q >> 3]) >> (q & 7)) & 1) << i
    return v


def _table(lengths, n, count, first, symbols):
    """Canonical Huffman decoding tables of code ``lengths[:n]``: codes per length, the first
    index per length, symbols in code order; False where the code is over-subscribed."""
    count[:] = 0
    for i in range(n):
        count[lengths[i]] += 1
    count[0] = 0
    left = 1
    for bits in range(1, 16):
        left = (left << 1) - count[bits]
        if left < 0:
            return False
    first[0] = 0
    for bits in range(1, 16):
        first[bits] = first[bits - 1] + count[bits - 1]
    at = first.copy()
    for i in range(n):
        if lengths[i]:
            symbols[at[lengths[i]]] = i
            at[lengths[i]] += 1
    return True


def _symbol(d, nbits, p, count, first, symbols):
    """(symbol, bit after it), or (-1, p) for bits no code has."""
    code = 0
    start = 0
    index = 0
    for bits in range(1, 16):
        if p >= nbits:
            return -1, p
        code |= (np.int64(d[p >> 3]) >> (p & 7)) & 1
        p += 1
        c = count[bits]
        if code - c < start:
            return symbols[index + code - start], p
        index += c
        start = (start + c) << 1
        code <<= 1
    return -1, p


def _header(d, nbits, p, lengths):
    """A dynamic block's code lengths into ``lengths`` (literal/length codes, then distance
    codes); returns (bit after the header, literal/length code count, distance code count), or
    p = -1 where it is damaged."""
    hlit = _get(d, nbits, p, 5)
    hdist = _get(d, nbits, p + 5, 5)
    hclen = _get(d, nbits, p + 10, 4)
    if hclen < 0:
        return -1, 0, 0
    hlit += 257
    hdist += 1
    hclen += 4
    p += 14
    clen = np.zeros(19, np.int64)
    for i in range(hclen):
        v = _get(d, nbits, p, 3)
        if v < 0:
            return -1, 0, 0
        clen[_ORDER[i]] = v
        p += 3
    count = np.zeros(16, np.int64)
    first = np.zeros(16, np.int64)
    symbols = np.zeros(19, np.int64)
    if not _table(clen, 19, count, first, symbols):
        return -1, 0, 0
    k = 0
    while k < hlit + hdist:
        s, p = _symbol(d, nbits, p, count, first, symbols)
        if s < 0:
            return -1, 0, 0
        if s < 16:
            lengths[k] = s
            k += 1
            continue
        if s == 16:
            if k == 0:
                return -1, 0, 0
            r, value, p = 3 + _get(d, nbits, p, 2), lengths[k - 1], p + 2
        elif s == 17:
            r, value, p = 3 + _get(d, nbits, p, 3), 0, p + 3
        else:
            r, value, p = 11 + _get(d, nbits, p, 7), 0, p + 7
        if r < 3 or k + r > hlit + hdist:
            return -1, 0, 0
        for _ in range(r):
            lengths[k] = value
            k += 1
    return p, hlit, hdist


def _code_lengths(d, nbits, rows, out):
    """Each block's code lengths (``rows``: type, first bit, first bit after its header) into
    ``out`` (blocks, 320): literal/length codes 0-287, distance codes from 288 (the fixed codes
    for type 1, none for stored blocks); False where a header does not decode to its end."""
    tmp = np.zeros(320, np.int64)
    for i in range(len(rows)):
        kind = rows[i, 0]
        if kind == 1:
            for j in range(288):
                out[i, j] = _FIXED[j]
            for j in range(30):
                out[i, 288 + j] = 5
        elif kind == 2:
            p, hlit, hdist = _header(d, nbits, rows[i, 1] + 3, tmp)
            if p != rows[i, 2]:
                return False
            for j in range(hlit):
                out[i, j] = tmp[j]
            for j in range(hdist):
                out[i, 288 + j] = tmp[hlit + j]
    return True


def _lengths_entry(run):
    def code_lengths(stream: bytes, rows) -> np.ndarray | None:
        """``_code_lengths`` of a stream's (or a recipe's concatenated headers') blocks, or None."""
        rows = np.asarray(rows, np.int64).reshape(-1, 3)
        out = np.zeros((len(rows), 320), np.int64)
        return out if run(np.frombuffer(stream, np.uint8), 8 * len(stream), rows, out) else None
    return code_lengths


# ------------------------------------------------------------------------------- parse
def _parse(d, nbits, cap, raw, lengths_out, dists_out, blocks):
    """Fill raw, tokens and block rows; returns (bytes, tokens, blocks, end bit, ok)."""
    p = 0
    o = 0
    nt = 0
    nb = 0
    lengths = np.zeros(320, np.int64)
    lc, lf, ls = np.zeros(16, np.int64), np.zeros(16, np.int64), np.zeros(288, np.int64)
    dc, df, ds = np.zeros(16, np.int64), np.zeros(16, np.int64), np.zeros(32, np.int64)
    while True:
        if nb >= len(blocks):
            return o, nt, nb, p, False
        final = _get(d, nbits, p, 1)
        kind = _get(d, nbits, p + 1, 2)
        if kind < 0 or kind == 3:
            return o, nt, nb, p, False
        blocks[nb, 0] = kind
        blocks[nb, 1] = p
        blocks[nb, 3] = nt
        p += 3
        if kind == 0:
            p = (p + 7) // 8 * 8
            size = _get(d, nbits, p, 16)
            check = _get(d, nbits, p + 16, 16)
            p += 32
            if check < 0 or size != (~check & 0xFFFF) or p + 8 * size > nbits or o + size > cap:
                return o, nt, nb, p, False
            blocks[nb, 2] = p
            for i in range(size):
                raw[o] = d[(p >> 3) + i]
                lengths_out[nt] = 0
                dists_out[nt] = raw[o]
                o += 1
                nt += 1
            p += 8 * size
        else:
            if kind == 1:
                lengths[:318] = _FIXED
                hlit, hdist = 288, 30
            else:
                p, hlit, hdist = _header(d, nbits, p, lengths)
                if p < 0:
                    return o, nt, nb, 0, False
            blocks[nb, 2] = p
            if not _table(lengths[:hlit], hlit, lc, lf, ls) or \
                    not _table(lengths[hlit:hlit + hdist], hdist, dc, df, ds):
                return o, nt, nb, p, False
            while True:
                s, p = _symbol(d, nbits, p, lc, lf, ls)
                if s < 0 or s > 285:
                    return o, nt, nb, p, False
                if s < 256:
                    if o >= cap:
                        return o, nt, nb, p, False
                    raw[o] = s
                    lengths_out[nt] = 0
                    dists_out[nt] = s
                    o += 1
                    nt += 1
                    continue
                if s == 256:
                    break
                extra = _get(d, nbits, p, _LEXT[s - 257])
                size = _LBASE[s - 257] + extra
                p += _LEXT[s - 257]
                t, p = _symbol(d, nbits, p, dc, df, ds)
                if extra < 0 or t < 0 or t > 29:
                    return o, nt, nb, p, False
                extra = _get(d, nbits, p, _DEXT[t])
                dist = _DBASE[t] + extra
                p += _DEXT[t]
                if extra < 0 or dist > o or o + size > cap:
                    return o, nt, nb, p, False
                for i in range(size):
                    raw[o] = raw[o - dist]
                    o += 1
                lengths_out[nt] = size
                dists_out[nt] = dist
                nt += 1
        blocks[nb, 4] = nt - blocks[nb, 3]
        nb += 1
        if final:
            return o, nt, nb, p, True


def _parse_entry(run):
    def parse(stream: bytes, nbits: int, cap: int):
        d = np.frombuffer(stream, np.uint8)
        raw = np.zeros(cap, np.uint8)
        lengths = np.zeros(cap, np.uint16)  # (a token: length 0-258, distance or byte up to 32768)
        dists = np.zeros(cap, np.uint16)
        blocks = np.zeros((nbits // 10 + 2, 5), np.int64)  # a block is 10 bits or more
        o, nt, nb, end, ok = run(d, nbits, cap, raw, lengths, dists, blocks)
        return raw[:o], lengths[:nt], dists[:nt], blocks[:nb], end, bool(ok)
    return parse


# ------------------------------------------------------------------------------- write
def _put(out, at, value, k):
    """k bits of value, LSB first, at bit ``at`` of out (zeroed); returns the bit after."""
    for i in range(k):
        if (value >> i) & 1:
            out[(at + i) >> 3] |= np.uint8(1 << ((at + i) & 7))
    return at + k


def _codes(lengths, n, codes):
    """Canonical codes of ``lengths[:n]``, bit-reversed for writing LSB first (0 length: none)."""
    count = np.zeros(16, np.int64)
    for i in range(n):
        count[lengths[i]] += 1
    count[0] = 0
    start = np.zeros(16, np.int64)
    code = 0
    for bits in range(1, 16):
        code = (code + count[bits - 1]) << 1
        start[bits] = code
    for i in range(n):
        bits = lengths[i]
        if bits:
            c = start[bits]
            start[bits] += 1
            r = 0
            for j in range(bits):
                r |= ((c >> j) & 1) << (bits - 1 - j)
            codes[i] = r


def _write(raw, lengths_in, dists_in, blocks, headers, hbits, tail, tail_bits, out):
    """The stream into out (zeroed, big enough); returns (bytes, ok)."""
    at = 0
    hp = 0
    o = 0
    lengths = np.zeros(320, np.int64)
    lcode, dcode = np.zeros(288, np.int64), np.zeros(32, np.int64)
    for b in range(len(blocks)):
        kind, start, stop, first, count = blocks[b, 0], blocks[b, 1], blocks[b, 2], blocks[b, 3], blocks[b, 4]
        size = stop - start
        if size < 3 or hp + size > hbits or first < 0 or first + count > len(lengths_in) or at + size > 8 * len(out):
            return 0, False
        for i in range(size):  # the header, verbatim
            q = hp + i
            if (headers[q >> 3] >> (q & 7)) & 1:
                out[(at + i) >> 3] |= np.uint8(1 << ((at + i) & 7))
        hp += size
        at += size
        if kind == 0:
            stated = _get(headers, hbits, hp - 32, 16)
            if at & 7 or stated != count or o + count > len(raw) or (at >> 3) + count > len(out):
                return 0, False
            for i in range(count):
                out[(at >> 3) + i] = raw[o + i]
            o += count
            at += 8 * count
            continue
        if kind == 1:
            lengths[:318] = _FIXED
            hlit, hdist = 288, 30
        else:
            end, hlit, hdist = _header(headers, hbits, hp - size + 3, lengths)
            if end != hp:
                return 0, False
        lcode[:] = 0
        dcode[:] = 0
        _codes(lengths[:hlit], hlit, lcode)
        _codes(lengths[hlit:hlit + hdist], hdist, dcode)
        for t in range(first, first + count):
            size, dist = np.int64(lengths_in[t]), np.int64(dists_in[t])
            if 8 * len(out) - at < 64:
                return 0, False
            if size == 0:
                if dist < 0 or dist > 255 or lengths[dist] == 0:
                    return 0, False
                at = _put(out, at, lcode[dist], lengths[dist])
                o += 1
                continue
            if size < 3 or size > 258 or dist < 1 or dist > WINDOW or dist > o:
                return 0, False
            s = 0
            while s < 28 and _LBASE[s + 1] <= size:
                s += 1
            if size == 258:
                s = 28
            t2 = 0
            while t2 < 29 and _DBASE[t2 + 1] <= dist:
                t2 += 1
            if 257 + s >= hlit or lengths[257 + s] == 0 or t2 >= hdist or lengths[hlit + t2] == 0:
                return 0, False
            at = _put(out, at, lcode[257 + s], lengths[257 + s])
            at = _put(out, at, size - _LBASE[s], _LEXT[s])
            at = _put(out, at, dcode[t2], lengths[hlit + t2])
            at = _put(out, at, dist - _DBASE[t2], _DEXT[t2])
            o += size
        if lengths[256] == 0 or 8 * len(out) - at < 16:
            return 0, False
        at = _put(out, at, lcode[256], lengths[256])
    if hp != hbits or o != len(raw) or tail_bits < 0 or tail_bits > 7 or at + tail_bits > 8 * len(out):
        return 0, False
    at = _put(out, at, tail, tail_bits)
    if at & 7:
        return 0, False
    return at >> 3, True


def _write_entry(run):
    def write(raw, lengths, dists, blocks, headers: bytes, hbits: int, tail: int, tail_bits: int):
        out = np.zeros(2 * len(raw) + len(headers) + 8 * len(blocks) + 64, np.uint8)
        n, ok = run(np.asarray(raw, np.uint8), np.asarray(lengths, np.uint16), np.asarray(dists, np.uint16),
                    np.asarray(blocks, np.int64), np.frombuffer(headers, np.uint8), hbits, tail, tail_bits, out)
        return out[:n].tobytes(), bool(ok)
    return write


# ------------------------------------------------------------------------------- predict
def _hash(raw, p):
    return ((np.int64(raw[p]) << 10) ^ (np.int64(raw[p + 1]) << 5) ^ np.int64(raw[p + 2])) & 32767


def _insert(raw, n, head, prev, upto, done):
    """Hash positions [done, upto) into the chains; returns upto."""
    for q in range(done, upto):
        if q + 2 < n:
            h = _hash(raw, q)
            prev[q] = head[h]
            head[h] = q
    return upto


def _match(raw, n, p, c):
    m = 0
    top = min(258, n - p)
    while m < top and raw[c + m] == raw[p + m]:
        m += 1
    return m


def _longest(raw, n, p, head, prev, chain, work, beat):
    """The longest match at p (0 below 3) along its chain, the nearest of that length (or, with
    ``beat`` >= 3, the first longer than that); the candidates tried are added to work[0]."""
    if p + 2 >= n:
        return 0, 0
    c = head[_hash(raw, p)]
    best = 0
    dist = 0
    steps = 0
    top = min(258, n - p)
    while c >= 0 and p - c <= WINDOW and steps < chain:
        if best < 3 or (best < top and raw[c + best] == raw[p + best]):  # (else it cannot be longer)
            m = _match(raw, n, p, c)
            if m > best:
                best = m
                dist = p - c
                if m == top or (beat >= 3 and m > beat):
                    break
        c = prev[c]
        steps += 1
    work[0] += steps
    return (best, dist) if best >= 3 else (0, 0)


def _as_long(raw, p, c, size):
    """Whether the bytes at c match the ``size`` bytes at p (their last byte looked at first:
    on long chains of look-alike data most candidates differ there)."""
    if raw[c + size - 1] != raw[p + size - 1]:
        return False
    for i in range(size - 1):
        if raw[c + i] != raw[p + i]:
            return False
    return True


def _hash_long(raw, p):
    """The hash of the LONG bytes at p (the deep ranks' second chain)."""
    v = 0
    for i in range(LONG):
        v = (v * 31 + np.int64(raw[p + i])) & 0xFFFFFFF
    return (v ^ (v >> 13)) & (LONG_HEADS - 1)


def _insert_long(raw, n, head, prev, upto, done):
    """Hash positions [done, upto) into the long chains; returns upto."""
    for q in range(done, upto):
        if q + LONG <= n:
            h = _hash_long(raw, q)
            prev[q] = head[h]
            head[h] = q
    return upto


def _first(raw, n, p, head, prev, size, deep, heads, prevs, done):
    """The chain to rank a match of ``size`` at p in: (its first candidate, whether it is the
    long one, the long chains' insertion point).  With ``deep``, a match of LONG bytes or more
    is ranked in the chains of LONG-byte hashes (the candidates that long are in both, in the
    same order, and the long chain has far fewer of the others: a smooth image's 3-byte chains
    run thousands of positions deep)."""
    if p + 2 >= n or size < 3 or p + size > n:
        return -1, False, done
    if deep and size >= LONG:
        done = _insert_long(raw, n, heads, prevs, p + 1, done)
        return heads[_hash_long(raw, p)], True, done
    return head[_hash(raw, p)], False, done


def _rank(raw, p, c, prev, size, dist, reach, tally):
    """The rank of ``dist`` among the first ``reach`` candidates at least ``size`` long of the
    chain that goes on from c through ``prev`` (within the window), or -1; the candidates
    looked at are added to tally[0]."""
    r = 0
    steps = 0
    while c >= 0 and p - c <= WINDOW and steps < reach:
        if _as_long(raw, p, c, size):
            if p - c == dist:
                tally[0] += steps + 1
                return r
            r += 1
        c = prev[c]
        steps += 1
    tally[0] += steps
    return -1


def _nth(raw, p, c, prev, size, r, reach, tally):
    """The distance of the r-th of the first ``reach`` candidates at least ``size`` long of
    the chain that goes on from c (within the window), or 0; the candidates looked at are
    added to tally[0]."""
    steps = 0
    while c >= 0 and p - c <= WINDOW and steps < reach:
        if _as_long(raw, p, c, size):
            if r == 0:
                tally[0] += steps + 1
                return p - c
            r -= 1
        c = prev[c]
        steps += 1
    tally[0] += steps
    return 0


STREAMS = 130  # correction streams of one cost class: kinds by context (0-60), lengths by prediction (64-127),
_RANKS, _FAR = 128, 129  # ranks, distances
# cost classes: the predicted match's bits under its block's Huffman codes minus those of the
# literals it covers, cut at these edges (an optimal parser takes the cheaper); kinds of class
# k are streams 64k + context, and the lengths, ranks and distances follow the last class's
COST_EDGES = np.array([-12, -6, -3, 0, 3, 6, 12], np.int64)


def streams(classes: int) -> int:
    """Correction streams with ``classes`` cost classes (1: none, the first recipes)."""
    return STREAMS + 64 * (classes - 1)


def kinds_streams(count: int) -> int:
    """How many of ``count`` correction streams hold kinds (the first ones)."""
    return count - (STREAMS - 64)


def _bits_of(costs, b, p, raw, best, near):
    """(bits of the match (best, near), bits of the literals raw[p:p + best]) under block b's
    code lengths ``costs[b]`` (literal/length codes 0-287, distance codes from 288; a symbol
    without a code costs 64)."""
    ls = 0
    while ls < 28 and _LBASE[ls + 1] <= best:
        ls += 1
    ds = 0
    while ds < 29 and _DBASE[ds + 1] <= near:
        ds += 1
    a = costs[b, 257 + ls]
    d = costs[b, 288 + ds]
    match = (a if a else 64) + _LEXT[ls] + (d if d else 64) + _DEXT[ds]
    lits = 0
    for i in range(best):
        c = costs[b, raw[p + i]]
        lits += c if c else 64
    return match, lits


def _cost_class(raw, p, best, near, costs, b, edges):
    """The cost class of the predicted match at p (0 without classes, a match or block b)."""
    if len(edges) == 0 or best < 3 or b >= len(costs):
        return 0
    match, lits = _bits_of(costs, b, p, raw, best, near)
    k = 0
    while k < len(edges) and match - lits >= edges[k]:
        k += 1
    return k


def _context(raw, n, p, head, prev, done, chain, work):
    """Insert positions up to p, then the matcher's view at p: (longest, its distance, the
    kinds stream of this context); p itself is inserted (for the lazy look at p + 1)."""
    done = _insert(raw, n, head, prev, p, done)
    best, near = _longest(raw, n, p, head, prev, chain, work, 0)
    done = _insert(raw, n, head, prev, p + 1, done)
    if best < 3:
        return 0, 0, 0, done
    ahead, _ = _longest(raw, n, p + 1, head, prev, chain, work, best) if p + 1 < n else (0, 0)
    lazy = 1 if ahead > best else 0  # zlib and gzip emit a literal here (below their lazy limit)
    far = 1 if best == 3 and near > 4096 else 0  # zlib drops such matches (TOO_FAR)
    return best, near, 1 + (lazy * 2 + far) * 15 + min(best, 17) - 3, done


def _diff(raw, lengths, dists, stored, chain, reach, budget, costs, firsts, edges, sid, sym, counts):
    """Each correction byte and the stream it belongs to; counts[0]: how many (-1 where the
    matcher tried more than ``budget`` candidates in all).  ``reach``: the candidates a rank
    is looked for among (``_reach``); ``costs``: each block's code lengths, ``firsts`` its
    first token, ``edges`` the cost classes' (none: one class)."""
    n = len(raw)
    top = 64 * len(edges)  # where the lengths, ranks and distances streams start, less 64
    b = 0
    work = np.zeros(1, np.int64)
    deep = reach > chain
    tally = work if deep else np.zeros(1, np.int64)  # (deep ranks count as work)
    heads = np.full(LONG_HEADS if deep else 1, -1, np.int32)
    prevs = np.full(max(n, 1) if deep else 1, -1, np.int32)
    done_long = 0
    head = np.full(32768, -1, np.int64)
    prev = np.full(max(n, 1), -1, np.int64)
    done = 0
    p = 0
    k = 0
    for t in range(len(lengths)):
        size = np.int64(lengths[t])
        dist = np.int64(dists[t])
        step = size if size else 1
        if stored[t]:
            p += step
            continue
        while b + 1 < len(firsts) and firsts[b + 1] <= t:
            b += 1
        best, near, ctx, done = _context(raw, n, p, head, prev, done, chain, work)
        if work[0] > budget:
            counts[0] = -1
            return
        kind = 0 if size == 0 else (1 if size == best and dist == near else 2)
        sid[k] = ctx + 64 * _cost_class(raw, p, best, near, costs, b, edges)
        sym[k] = kind
        k += 1
        if kind == 2:
            sid[k] = top + 64 + min(best, 63)
            sym[k] = (best - size) & 255
            k += 1
            c, long, done_long = _first(raw, n, p, head, prev, size, deep, heads, prevs, done_long)
            r = (_rank(raw, p, c, prevs, size, dist, reach, tally) if long
                 else _rank(raw, p, c, prev, size, dist, reach, tally)) + 1  # 0: not among them
            explicit = r == 0
            while True:
                sid[k] = top + _RANKS
                sym[k] = (r & 127) | (128 if r > 127 else 0)
                k += 1
                r >>= 7
                if r == 0:
                    break
            if explicit:
                sid[k] = top + _FAR
                sym[k] = dist & 255
                sid[k + 1] = top + _FAR
                sym[k + 1] = dist >> 8
                k += 2
        p += step
    counts[0] = k


def budget(n: int) -> int:
    """Candidates the matcher may try over n bytes: a recipe that needs more is not written
    (the pathological data of long hash chains and short matches), nor read."""
    return 128 * n + (1 << 25)  # (about 1 s a MB; Kodak's optimal parser needs up to 128 n at chain 4096)


def _reach(chain: int, deep: bool) -> int:
    """The candidates a rank is looked for among: the matcher's ``chain`` (the first recipes),
    or with ``deep`` the whole window's (an optimal parser takes the nearest match of the
    length it chose, often beyond the chain on smooth images: a rank there costs a byte where
    an explicit distance costs two of near-uniform bits); a deep walk counts toward the budget."""
    return WINDOW + 1 if deep else chain


def _classes(costs, firsts, edges):
    """The kernels' cost-class arguments: none (one class) where ``costs`` is None."""
    if costs is None:
        return np.zeros((1, 320), np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64)
    return np.asarray(costs, np.int64), np.asarray(firsts, np.int64), np.asarray(edges, np.int64)


def _diff_entry(run):
    def diff(raw, lengths, dists, stored, chain: int, costs=None, firsts=None, edges=COST_EDGES,
             deep: bool = False) -> tuple[tuple[np.ndarray, bytes], ...] | None:
        """Layouts of the corrections, each (bytes per stream, the streams one after another),
        or None past the budget: with ``costs`` (per block: ``code_lengths``) and ``firsts``
        (each block's first token), the kinds split by cost class too, then the same
        corrections without classes; else only the latter; with ``deep``, ranks among the
        whole window's candidates (``_reach``)."""
        n = len(lengths)
        sid, sym, counts = np.zeros(6 * n + 1, np.uint16), np.zeros(6 * n + 1, np.uint8), np.zeros(1, np.int64)
        costs, firsts, edges = _classes(costs, firsts, edges)
        run(np.asarray(raw, np.uint8), np.asarray(lengths, np.uint16), np.asarray(dists, np.uint16),
            np.asarray(stored, np.bool_), chain, _reach(chain, deep), budget(len(raw)), costs, firsts, edges, sid,
            sym, counts)
        if counts[0] < 0:
            return None
        sid, sym = sid[:counts[0]], sym[:counts[0]]
        top = 64 * len(edges)
        plain = np.where(sid < top + 64, sid % 64, sid - top).astype(np.uint16)  # (uint16: a radix sort)
        ids = [(sid, streams(len(edges) + 1)), (plain, STREAMS)] if len(edges) else [(sid, STREAMS)]
        return tuple((np.bincount(i, minlength=k), sym[np.argsort(i, kind="stable")].tobytes()) for i, k in ids)
    return diff


def _undiff(raw, stored_runs, sizes, data, chain, reach, budget, costs, firsts, edges, lengths, dists):
    """Tokens back from corrections (``sizes`` bytes per stream of ``data``); stored_runs:
    (token index, count) of the stored blocks, in order; costs, firsts, edges: as ``_diff``'s.
    Returns (tokens, ok)."""
    n = len(raw)
    work = np.zeros(1, np.int64)
    deep = reach > chain
    tally = work if deep else np.zeros(1, np.int64)
    heads = np.full(LONG_HEADS if deep else 1, -1, np.int32)
    prevs = np.full(max(n, 1) if deep else 1, -1, np.int32)
    done_long = 0
    head = np.full(32768, -1, np.int64)
    prev = np.full(max(n, 1), -1, np.int64)
    top = 64 * len(edges)
    count = len(sizes)
    at = np.zeros(count, np.int64)  # each stream's next byte
    stop = np.zeros(count, np.int64)
    total = 0
    b = 0
    for i in range(count):
        at[i] = total
        total += sizes[i]
        stop[i] = total
    if total != len(data):
        return 0, False
    done = 0
    p = 0
    t = 0
    run = 0
    while p < n:
        if t >= len(lengths):
            return t, False
        if run < len(stored_runs) and stored_runs[run, 0] == t:  # a stored block's bytes
            for _ in range(stored_runs[run, 1]):
                if p >= n or t >= len(lengths):
                    return t, False
                lengths[t] = 0
                dists[t] = raw[p]
                p += 1
                t += 1
            run += 1
            continue
        while b + 1 < len(firsts) and firsts[b + 1] <= t:
            b += 1
        best, near, ctx, done = _context(raw, n, p, head, prev, done, chain, work)
        ctx += 64 * _cost_class(raw, p, best, near, costs, b, edges)
        if at[ctx] >= stop[ctx] or work[0] > budget:
            return t, False
        kind = data[at[ctx]]
        at[ctx] += 1
        if kind == 0:
            lengths[t] = 0
            dists[t] = raw[p]
            p += 1
        elif kind == 1 and best:
            lengths[t] = best
            dists[t] = near
            p += best
        elif kind == 2:
            s = top + 64 + min(best, 63)
            if at[s] >= stop[s]:
                return t, False
            size = best - np.int64(data[at[s]])
            at[s] += 1
            while size < 3:  # (best - size) mod 256 names one size in 3..258
                size += 256
            r = 0
            shift = 0
            while True:
                if at[top + _RANKS] >= stop[top + _RANKS] or shift > 28:
                    return t, False
                byte = np.int64(data[at[top + _RANKS]])
                at[top + _RANKS] += 1
                r |= (byte & 127) << shift
                shift += 7
                if byte < 128:
                    break
            if r == 0:
                f = top + _FAR
                if at[f] + 2 > stop[f]:
                    return t, False
                dist = np.int64(data[at[f]]) | (np.int64(data[at[f] + 1]) << 8)
                at[f] += 2
            else:
                c, long, done_long = _first(raw, n, p, head, prev, size, deep, heads, prevs, done_long)
                dist = (_nth(raw, p, c, prevs, size, r - 1, reach, tally) if long
                        else _nth(raw, p, c, prev, size, r - 1, reach, tally))
            if size > 258 or dist < 1 or dist > p or p + size > n:
                return t, False
            lengths[t] = size
            dists[t] = dist
            p += size
        else:
            return t, False
        t += 1
    while run < len(stored_runs) and stored_runs[run, 0] == t and stored_runs[run, 1] == 0:
        run += 1  # trailing stored blocks of no bytes
    if run != len(stored_runs):
        return t, False
    for i in range(count):
        if at[i] != stop[i]:  # every correction used
            return t, False
    return t, True


def _undiff_entry(run):
    def undiff(raw, stored_runs, sizes, data: bytes, chain: int, costs=None, firsts=None, edges=COST_EDGES,
               deep: bool = False):
        raw = np.asarray(raw, np.uint8)
        lengths, dists = np.zeros(len(raw) + 1, np.uint16), np.zeros(len(raw) + 1, np.uint16)
        costs, firsts, edges = _classes(costs, firsts, edges)
        if len(sizes) != streams(len(edges) + 1):
            return lengths[:0], dists[:0], False
        t, ok = run(raw, np.asarray(stored_runs, np.int64).reshape(-1, 2), np.asarray(sizes, np.int64),
                    np.frombuffer(data, np.uint8), chain, _reach(chain, deep), budget(len(raw)), costs, firsts, edges,
                    lengths, dists)
        return lengths[:t], dists[:t], bool(ok)
    return undiff


def _cpu(fn, entry, names):
    """A builder of the CPU twin of ``fn``: compiled, with the helpers it calls (``names``, in
    dependency order: each compiled with those before it) compiled in."""
    def build():
        helpers = {}
        for name in names:
            helpers[name] = cpu_device(globals()[name], **helpers)
        return entry(cpu_device(fn, **helpers))
    return build


_BITS = ["_get", "_table", "_symbol", "_header"]
_MATCHER = ["_hash", "_insert", "_match", "_longest", "_as_long", "_hash_long", "_insert_long", "_first", "_rank",
            "_nth", "_context", "_bits_of", "_cost_class"]
code_lengths = Twins(_lengths_entry(_code_lengths), _cpu(_code_lengths, _lengths_entry, _BITS),
                     _cpu(_code_lengths, _lengths_entry, _BITS))
parse = Twins(_parse_entry(_parse), _cpu(_parse, _parse_entry, _BITS), _cpu(_parse, _parse_entry, _BITS))
write = Twins(_write_entry(_write), _cpu(_write, _write_entry, _BITS + ["_put", "_codes"]),
              _cpu(_write, _write_entry, _BITS + ["_put", "_codes"]))
diff = Twins(_diff_entry(_diff), _cpu(_diff, _diff_entry, _MATCHER), _cpu(_diff, _diff_entry, _MATCHER))
undiff = Twins(_undiff_entry(_undiff), _cpu(_undiff, _undiff_entry, _MATCHER),
               _cpu(_undiff, _undiff_entry, _MATCHER))
