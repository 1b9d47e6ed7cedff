"""TIFF's LZW as libtiff writes it: ``encode[twin](data, final_step) -> bytes``.

A strip is coded as codes of 9 to 12 bits, most significant bit first: a Clear code (256)
first; then, for each longest prefix already in the table, its code, the prefix extended by
the next byte entering the table (codes from 258); End of Information (257) last, the final
byte padded with zero bits.  The code width grows one code early (when the next free code
exceeds the widest code of the current width, as TIFF 6.0 specifies), and the table starts
afresh with a Clear code (written at the current width, the width back to 9) when it is full
(the next free code would be 4094) or, as libtiff does, when the compression ratio has not
improved since the last check: every 10000 input bytes, the ratio is input bytes * 256 /
output bits since the last reset (input / (output >> 8) past 2^23 input bytes).
``final_step``: whether the last prefix's code, written before End of Information, counts as
a table entry for the width of that code (libtiff 4.0.10 and later; older versions do not).

LZW has no freedom besides these rules, so the output is a function of the input: a TIFF
writer that follows them is remade byte for byte (datasets/recipes.py verifies it, whatever
wrote the file).  Sequential work: NumPy and CPU twins only (the NumPy twin is a plain Python
loop over a dict, the reference; ``cuda`` runs the CPU twin).
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_device

CLEAR, END, FIRST, FULL = 256, 257, 258, 4094
CHECK_GAP = 10000


def _encode_numpy(data: np.ndarray, final_step: bool) -> bytes:
    out = bytearray()
    acc = nacc = 0

    def put(code: int, width: int) -> None:
        nonlocal acc, nacc
        acc, nacc = (acc << width) | code, nacc + width
        while nacc >= 8:
            nacc -= 8
            out.append((acc >> nacc) & 0xFF)
        acc &= (1 << nacc) - 1

    data = bytes(np.asarray(data, np.uint8))
    table: dict[int, int] = {}
    width, free, seen, written, checkpoint, ratio = 9, FIRST, 0, 0, CHECK_GAP, 0
    if data:
        put(CLEAR, 9)
        written, prefix, seen = 9, data[0], 1
        for byte in data[1:]:
            seen += 1
            code = table.get(prefix << 8 | byte)
            if code is not None:
                prefix = code
                continue
            put(prefix, width)
            written += width
            table[prefix << 8 | byte] = free
            prefix, free = byte, free + 1
            reset = free == FULL
            if not reset and free > (1 << width) - 1:
                width += 1
            elif not reset and seen >= checkpoint:
                checkpoint = seen + CHECK_GAP
                now = (seen << 8) // written if seen <= 0x7FFFFF else \
                    (seen // (written >> 8) if written >> 8 else 0x7FFFFFFF)
                reset, ratio = now <= ratio, now
            if reset:
                put(CLEAR, width)
                table.clear()
                width, free, seen, written, ratio = 9, FIRST, 0, width, 0
        put(prefix, width)
        if final_step:
            free += 1
            if free == FULL:
                put(CLEAR, width)
                width = 9
            elif free > (1 << width) - 1:
                width += 1
    put(END, width)
    if nacc:
        out.append((acc << (8 - nacc)) & 0xFF)
    return bytes(out)


def _put(out, pos, acc, nacc, code, width):
    """``code`` in ``width`` bits after the ``nacc`` pending bits of ``acc``, whole bytes to
    ``out`` from ``pos``; returns (pos, acc, nacc), fewer than 8 bits pending."""
    acc = (acc << width) | code
    nacc += width
    while nacc >= 8:
        nacc -= 8
        out[pos] = (acc >> nacc) & 0xFF
        pos += 1
    return pos, acc & ((1 << nacc) - 1), nacc


def _encode_body(data, final_step, out):  # the CPU twin's loop (numba): returns the bytes written
    keys = np.full(8192, -1, np.int64)  # open addressing, linear probing: at most 4094 of 8192 used
    codes = np.zeros(8192, np.int32)
    n = len(data)
    pos = 0
    acc = 0
    nacc = 0
    width = 9
    if n > 0:
        pos, acc, nacc = _put(out, pos, acc, nacc, CLEAR, 9)
        written = 9
        prefix = np.int64(data[0])
        seen = 1
        free = FIRST
        checkpoint = CHECK_GAP
        ratio = 0
        for i in range(1, n):
            byte = np.int64(data[i])
            seen += 1
            key = prefix << 8 | byte
            slot = (key * 2654435761) & 8191
            while keys[slot] != -1 and keys[slot] != key:
                slot = (slot + 1) & 8191
            if keys[slot] == key:
                prefix = np.int64(codes[slot])
                continue
            pos, acc, nacc = _put(out, pos, acc, nacc, prefix, width)
            written += width
            keys[slot] = key
            codes[slot] = free
            prefix = byte
            free += 1
            reset = free == FULL
            if not reset and free > (1 << width) - 1:
                width += 1
            elif not reset and seen >= checkpoint:
                checkpoint = seen + CHECK_GAP
                if seen <= 0x7FFFFF:
                    now = (seen << 8) // written
                elif written >> 8:
                    now = seen // (written >> 8)
                else:
                    now = 0x7FFFFFFF
                reset = now <= ratio
                ratio = now
            if reset:
                pos, acc, nacc = _put(out, pos, acc, nacc, CLEAR, width)
                keys[:] = -1
                written = width
                width = 9
                free = FIRST
                seen = 0
                ratio = 0
        pos, acc, nacc = _put(out, pos, acc, nacc, prefix, width)
        if final_step:
            free += 1
            if free == FULL:
                pos, acc, nacc = _put(out, pos, acc, nacc, CLEAR, width)
                width = 9
            elif free > (1 << width) - 1:
                width += 1
    pos, acc, nacc = _put(out, pos, acc, nacc, END, width)
    if nacc:
        out[pos] = (acc << (8 - nacc)) & 0xFF
        pos += 1
    return pos


def _encode_cpu():
    body = cpu_device(_encode_body, _put=cpu_device(_put))

    def run(data: np.ndarray, final_step: bool) -> bytes:
        data = np.ascontiguousarray(data, np.uint8).reshape(-1)
        out = np.empty(2 * len(data) + 16, np.uint8)  # codes of at most 12 bits a byte, Clears, End
        return out[:body(data, bool(final_step), out)].tobytes()

    return run


encode = Twins(_encode_numpy, _encode_cpu, _encode_cpu)
