"""Logzip's context-mixing backend: ZPAQ (Mahoney; the ZPAQ level 2 standard, through libzpaq
7.15 in the ``zpaq`` package), with two models frozen here.

A stored stream is a model byte, then the arithmetic-coded bytes of one ZPAQ segment without
the four zero bytes that end them.  The decoder rebuilds the whole ZPAQ block around them
(``_block``): the locator tag, ``zPQ``, level 1, type 1, the header's length (u16), the
header (the model's COMP section as frozen below, then its HCOMP program behind ``_guard``,
then 0), a segment (1, an empty file name, the raw length in decimal as its comment, 0), the
coded bytes, then ``0 0 0 0``, 254 (no SHA-1) and 255 (end of block); any conforming ZPAQ
decoder reads it.  The models are libzpaq method strings, compiled by libzpaq to the COMP and
HCOMP below: frozen here, so that decoding never depends on the library's method compiler;
the encoder uses a model only where this libzpaq writes exactly that header.

    TEXT       libzpaq's level-5 model for text without its periodic contexts: a word model,
               an order 0-6 ICM/ISSE chain, a match model, two mixers and an SSE stage
    BINARY     libzpaq's level-4 model: an order 0-4 ICM/ISSE chain, a match model, a mixer
    LONG_TEXT  (structure 9) TEXT with an order 0-8 chain and three match models (hashes of
               long, medium and short contexts): 1.7% smaller on LogHub's template
               dictionaries, 10% on the string slots of dpkg's logs, never larger on text

each with its tables sized for blocks of 1 MiB (libzpaq's size class "x0", model bytes 0, 1
and 4) or 4 MiB ("x2", model bytes 2, 3 and 6: the same programs, larger tables), the smallest
class that holds the stream; a stream of up to MAX_RAW bytes.

A CM codes a long run in almost nothing (20 MB of zeros in 700 bytes), so a crafted stream
could decode to gigabytes.  ``_guard`` runs before the model's own program, once per decoded
byte: it counts them in register R255 (keeping the byte in R254: the models use no R
register) and executes ZPAQL's ``error`` once the count reaches 2**k, the first power of two
over twice the declared length.  The decoder therefore stops within that bound, in memory and
in time, and libzpaq raises an error.
"""

from __future__ import annotations

import struct

import numpy as np

from ...errors import CorruptStreamError

TEXT, BINARY, LONG_TEXT = 0, 1, 2
SIZE_CLASSES = (0, 2)  # libzpaq's "x0" and "x2": blocks of up to 1 MiB and 4 MiB, less 4 KiB
MAX_RAW = (1 << 22) - 4096
MEMORY = 256 << 20  # LONG_TEXT's tables and buffers (TEXT's: 88 MB of peak RSS measured in size class 0, 130-170 in 2)
_METHODS = (  # after "x<size class>,"
    "0w2c0,1010,255i1c256ci1,1,1,1,1,1,2ac0,2,0,255i1c0,3,0,0,255i1c0,4,0,0,0,255i1mm16ts19t0",
    "0ci1,1,1,1,2am",
    "0w2c0,1010,255i1c256ci1,1,1,1,1,1,1,1,2a24,0,0a12,0,0a6,0,0c0,2,0,255i1c0,3,0,0,255i1c0,4,0,0,0,255i1mm16ts19t0",
)
_COMP = {(model, size_class): bytes.fromhex(h) for model, size_class, h in (
    (TEXT, 0, "0910000019030e080e00030e080e020209ff0305080b05080e06080e07080e08080e09080e0a080e0b0412"
              "14030d080e0e030d080e10030e080e120708001418ff0710001518ff0608151418ff09131620ff0600171618ff00"),
    (BINARY, 0, "09100000080305080b00080e01080e02080e03080e040412140708000718ff00"),
    (TEXT, 2, "0910000019031008100003100810020209ff0305080b0508100608100708100808100908100a08100b0414"
              "16030d08100e030d081010030e0810120708001418ff0710001518ff0608151418ff09131620ff0600171618ff00"),
    (BINARY, 2, "09100000080305080b000810010810020810030810040414160708000718ff00"),
    (LONG_TEXT, 0, "091000001d030e080e00030e080e020209ff0305080b05080e06080e07080e08080e09080e0a080e0b080e0c080e0d"
                   "041214041214041214030d080e12030d080e14030e080e160708001818ff0710001918ff0608191818ff09131a20ff"
                   "06001b1a18ff00"),
    (LONG_TEXT, 2, "091000001d031008100003100810020209ff0305080b0508100608100708100808100908100a08100b08100c08100d"
                   "041416041416041416030d081012030d081014030e0810160708001818ff0710001918ff0608191818ff09131a20ff"
                   "06001b1a18ff00"),
)}
_HCOMP = tuple(bytes.fromhex(h) for h in (
    "126887ff587245afdf8f41afffe71a2f115f00469714850170194697148501703f085f004619705f00345f023447ff87"
    "0a58468aefff2f0247ff5f023c4a443c5f024a46193b705f04345f05345f054a46193b0970193b0970193b0970193b09"
    "70193b0970193b0970193b093b705f0d4697188501705f0e3442af013c4a09443c5f0e4a46193b705f103442a7033c4a"
    "0909443c5f104a46193b705f123442af033c4a090909443c5f124a46193b705f15344a04cf0884cf08705f17344a04cf"
    "088409cf0884d705cf087038",
    "126887ff58725f00345f004a46193b0970193b0970193b0970193b0970193b093b705f0646971885017038",
    "126887ff587245afdf8f41afffe71a2f115f00469714850170194697148501703f085f004619705f00345f023447ff"
    "870a58468aefff2f0247ff5f023c4a443c5f024a46193b705f04345f05345f054a46193b0970193b0970193b0970193b"
    "0970193b0970193b0970193b0970193b0970193b093b705f0f4697188501705f1046970c8501705f114697068501705f"
    "123442af013c4a09443c5f124a46193b705f143442a7033c4a0909443c5f144a46193b705f163442af033c4a09090944"
    "3c5f164a46193b705f19344a04cf0884cf08705f1b344a04cf088409cf0884d705cf087038",
))
_TAG = bytes.fromhex("376b5374a03183d38cb228b0d3")  # ZPAQ's locator tag
_END = b"\0\0\0\0\xfe\xff"  # end of the coded bytes, no SHA-1, end of block
_PRINTABLE = np.zeros(256, bool)
_PRINTABLE[32:127] = _PRINTABLE[9] = _PRINTABLE[10] = True


def model_for(data: bytes) -> int:
    """TEXT where 90% or more of the first 64 KiB are printable ASCII, tabs and newlines, or
    are those and UTF-8 text in any script (the template dictionary, hex tokens, strings,
    whole lines), else BINARY (byte planes, ids).  (Cyrillic or CJK skeletons of a LogHub log
    coded 3-5% smaller by TEXT than by BINARY, which the ASCII test alone gave them.)"""
    head = data[:1 << 16]
    a = np.frombuffer(head, np.uint8)
    if not a.size:
        return BINARY
    if _PRINTABLE[a].mean() >= 0.9:
        return TEXT
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # (not only a character cut at the end of the sample)
            return BINARY
    return TEXT if (_PRINTABLE[a] | (a >= 0x80)).mean() >= 0.9 else BINARY


def compress(data: bytes, model: int) -> bytes | None:
    """The stored stream of ``data`` (1 to MAX_RAW bytes) under ``model``; None where this
    libzpaq does not write the frozen model (another version's method compiler)."""
    import zpaq

    size_class = next((c for c in SIZE_CLASSES if 0 < len(data) <= _limit(c)), None)
    if size_class is None:
        return None
    kind = (model & 1) + size_class + 4 * (model >> 1)  # the model byte
    block = zpaq.compress(data, method=f"x{size_class},{_METHODS[model]}", threads=1, hints=False)
    head = _TAG + _block(kind, len(data), guard=False)
    if not (block.startswith(head) and block.endswith(_END)):
        return None
    return bytes([kind]) + block[len(head):-len(_END)]


def decompress(stored: bytes, raw_len: int) -> bytes:
    """The bytes of a stored stream that declares ``raw_len`` of them (at most about four
    times that come out: see ``_guard``); a CorruptStreamError where it does not decode."""
    import zpaq

    if len(stored) < 2 or stored[0] not in _KINDS or not 0 < raw_len <= _limit(stored[0] & 2):
        raise CorruptStreamError("logzip: ZPAQ stream has no valid model or length")
    try:
        return zpaq.decompress(_TAG + _block(stored[0], raw_len, guard=True) + stored[1:] + _END, threads=1)
    except Exception as exc:  # noqa: BLE001 - zpaq.Error, and whatever the binding raises
        raise CorruptStreamError(f"logzip: ZPAQ stream does not decode: {exc}") from None


def _limit(size_class: int) -> int:
    return (1 << (20 + size_class)) - 4096


_KINDS = (0, 1, 2, 3, 4, 6)  # the model bytes: (model & 1) + size class + 4 * (model >> 1)


def _block(kind: int, raw_len: int, guard: bool) -> bytes:
    """A ZPAQ block up to its coded bytes (after the locator tag), of model byte ``kind``."""
    model = (kind & 1) | (kind >> 2) << 1
    header = _COMP[model, kind & 2] + (_guard(raw_len) if guard else b"") + _HCOMP[model] + b"\0"
    return (b"zPQ\x01\x01" + struct.pack("<H", len(header)) + header
            + b"\x01\x00" + str(raw_len).encode() + b"\x00\x00")


def _guard(raw_len: int) -> bytes:
    """ZPAQL that stops the decoder once it has decoded 2**k bytes, 2**k > 2 * raw_len:
    ``r=a 254  a=r 255  a++  r=a 255  a>>= k  a== 0  jt 1  error  a=r 254``."""
    k = (2 * raw_len).bit_length()
    return bytes([55, 254, 7, 255, 1, 55, 255, 215, k, 223, 0, 39, 1, 0, 7, 254])
