"""logzip: exact round trips on any bytes, structure, blocks, line ranges, bounded memory."""

import dataclasses
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicodec
from omnicodec.codecs.logzip import Logzip, decode_block, encode_block
from omnicodec.codecs.logzip.backends import compress_streams, decompress_stream
from omnicodec.codecs.logzip.blocks import read_block
from omnicodec.errors import CorruptStreamError
from omnicodec.items import Bytes
from omnicodec.kernels.logs import META, MIXED_COL

from ..common import FIXTURES, VERSIONS, peak_growth
from .checklist import check_fixture, run_checklist

PIECES = [b"\n", b"\r\n", b"\r", b" ", b"\t", b"\x00", b"\x01", b"\x02", b"\xff\xfe", b"0", b"007",
          b"42", b"-17", b"123456789012345678901234567890", b"0x1F", b"deadbeef12", b"DEADBEEF12",
          b"a1b2", b"INFO", b"user=root", b"[", b"]:", b"12:30:45.123", b"10.0.0.1", b"/var/log/x1",
          b"0a1b2c3d-0000-4abc-8def-0123456789ab", b"00:1A:2b:3c:4d:5e", b"Ab", b"user", b"\x03"]


def log_like(lines: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(lines):
        kind = rng.integers(0, 4)
        ts = f"2024-03-{1 + i // 500:02d} 10:{(i // 60) % 60:02d}:{i % 60:02d},{rng.integers(0, 1000):03d}"
        if kind == 0:
            rows.append(f"{ts} INFO [main] Server: request {rng.integers(1, 10**6)} from 10.0.{rng.integers(0, 9)}.{rng.integers(1, 255)} took {rng.integers(1, 900)} ms")
        elif kind == 1:
            rows.append(f"{ts} WARN [pool-{rng.integers(1, 4)}] Cache: evicted key=0x{rng.integers(0, 2**40):x} size={rng.integers(1, 4096)}")
        elif kind == 2:
            rows.append(f"{ts} ERROR [io] Disk /dev/sd{'abc'[rng.integers(0, 3)]} latency {rng.random():.3f}s user={['root', 'bob', 'alice'][rng.integers(0, 3)]}")
        else:
            rows.append(f"{ts} DEBUG session {rng.integers(0, 2**31)} opened for {['root', 'bob'][rng.integers(0, 2)]}")
    return ("\n".join(rows) + "\n").encode()


def test_checklist():
    run_checklist("logzip", Bytes(log_like(300)))


def test_fixture():
    """Frozen file with every stream in use: CRLF, hex ids, repeated ids, outliers, padding."""
    rich = (log_like(150, seed=5).replace(b"\n", b"\r\n", 40) + b"blk_0042 blk_0042 blk_0042\n" * 5
            + b"\x01 outlier line \xff\n" + b"id=deadbeef01 " * 3 + b"tail without newline")
    for version in [*VERSIONS, "v3-fast"]:  # v3-fast: streams may pick zstd (fast_slack)
        check_fixture("logzip", Bytes(rich), version)


def typed_log(lines: int = 120, seed: int = 0) -> bytes:
    """Request lines with UUIDs, MAC addresses and a clock that ticks through minutes."""
    rng = np.random.default_rng(seed)
    rows, t = [], 36000
    for _ in range(lines):
        t += int(rng.integers(0, 25))
        uuid = "-".join(f"{rng.integers(0, 16 ** n):0{n}x}" for n in (8, 4, 4, 4, 12))
        mac = ":".join(f"{rng.integers(0, 256):02x}" for _ in range(6))
        rows.append(f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d} req-{uuid} from {mac} "
                    f"served in {rng.integers(1, 900)} ms")
    return ("\n".join(rows) + "\n").encode()


def users_log(lines: int = 200, seed: int = 0) -> bytes:
    """sshd-like lines: each address tries a few user names in a row, then the next comes."""
    rng = np.random.default_rng(seed)
    users = ["admin", "oracle", "test", "guest", "ubuntu", "pi", "support"]
    rows = []
    for i in range(lines):
        if i % 6 == 0:
            address = f"{rng.integers(1, 224)}.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"
            port = int(rng.integers(30000, 60000))
        rows.append(f"Dec 10 06:{i // 60 % 60:02d}:{i % 60:02d} sshd[{24000 + i}]: Invalid user "
                    f"{users[rng.integers(0, len(users))]} from {address} port {port + i % 6}\n")
    return "".join(rows).encode()


def access_log(lines: int = 1500, seed: int = 0) -> bytes:
    """Access-log lines from a pool of 60 client addresses, each used again and again."""
    rng = np.random.default_rng(seed)
    pool = [".".join(str(int(x)) for x in rng.integers(1, 255, 4)) for _ in range(60)]
    return "".join(f"{pool[rng.integers(0, 60)]} - - [10/Dec/2024:06:{i // 60 % 60:02d}:{i % 60:02d} +0000] "
                   f'"GET /item/{rng.integers(1, 500)} HTTP/1.1" 200 {rng.integers(100, 9000)}\n'
                   for i in range(lines)).encode()


def names_log(lines: int = 400, seed: int = 0) -> bytes:
    """sshd-like lines naming users and hosts from pools of 40 made-up names: many different
    words at a few places of a few templates, combined anew on every line (word slots)."""
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    pool = ["".join(rng.choice(letters, rng.integers(4, 9))) for _ in range(80)]
    users, hosts = pool[:40], pool[40:]
    rows = []
    for i in range(lines):
        user, host = users[rng.integers(0, 40)], hosts[rng.integers(0, 40)]
        stamp = f"Dec 10 06:{i // 60 % 60:02d}:{i % 60:02d} sshd[{24000 + i}]:"
        if i % 3:
            rows.append(f"{stamp} Accepted publickey for {user} from {host}.example.org port {rng.integers(30000, 60000)}\n")
        else:
            rows.append(f"{stamp} session opened for user {user} by (uid={rng.integers(0, 2000)})\n")
    return "".join(rows).encode()


def packages_log(lines: int = 600, seed: int = 0) -> bytes:
    """dpkg-like lines: each package of a pool of 60 made-up names with digits goes through a
    few states on consecutive lines, with its version (many differently shaped tokens at two
    places of one statement: token slots)."""
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    packages = [f"lib{''.join(rng.choice(letters, rng.integers(3, 9)))}{rng.integers(0, 4) or ''}"
                f"{'-' + ''.join(rng.choice(letters, 3)) if rng.random() < 0.4 else ''}" for _ in range(60)]
    versions = [f"{rng.integers(0, 300)}.{rng.integers(0, 40)}" + ("-" + str(rng.integers(1, 9)) if rng.random() < 0.7 else "")
                + (f"+deb{rng.integers(10, 13)}u{rng.integers(1, 9)}" if rng.random() < 0.5 else "") for _ in range(60)]
    rows, i = [], 0
    while len(rows) < lines:
        k = int(rng.integers(0, 60))
        for state in ("half-installed", "unpacked", "half-configured", "installed")[:int(rng.integers(2, 5))]:
            rows.append(f"2025-06-24 14:{i // 60 % 60:02d}:{i % 60:02d} status {state} {packages[k]}:amd64 {versions[k]}\n")
            i += 1
    return "".join(rows[:lines]).encode()


def test_token_slots_code_packages_smaller_and_round_trip():
    """Structure 5 makes whole variable tokens (package names and versions, which digit runs
    and words cut into pieces) string slots where its sample says that is smaller, and decodes
    exactly; where no place varies that much, nothing changes."""
    data = packages_log(900) + b"tail without newline"
    four, five = encode_block(data, 0, 2, 4), encode_block(data, 0, 2, 5)
    slotted = read_block(five, len(data))
    assert slotted.words is not None and b"\x03" in slotted.skeletons and len(five) < 0.95 * len(four)
    assert decode_block(five, len(data)) == data
    spaced = dataclasses.replace(slotted, words=slotted.words.replace(b"lib", b"li ", 1))
    with pytest.raises(CorruptStreamError, match="space"):
        spaced.render(len(data))
    plain = b"".join(b"2024-03-09 10:%02d:%02d worker %d done in %d ms\n" % (i // 60, i % 60, i % 7, i * 37 % 1000)
                     for i in range(600))
    assert encode_block(plain, 0, 2, 5) == encode_block(plain, 0, 2, 4)


def test_word_slots_code_names_smaller_and_round_trip():
    """Structure 4 makes the names word slots where that is smaller (here: the combinations
    never repeat, so the dictionary would hold a template per line), and keeps them template
    text where it is not (a few words in repeating combinations); both decode exactly, and a
    line holding the word slot's placeholder byte is kept verbatim."""
    data = names_log(600) + b"a line with \x03 in it\n" + names_log(30, seed=1)
    three, four = encode_block(data, 0, 2, 3), encode_block(data, 0, 2, 4)
    slotted = read_block(four, len(data))
    assert slotted.words is not None and len(four) < 0.9 * len(three)
    assert slotted.outliers == b"a line with \x03 in it" and b"\x03" in slotted.skeletons
    assert decode_block(four, len(data)) == data
    plain = log_like(300, seed=2)
    assert read_block(encode_block(plain, 0, 2, 4), len(plain)).words is None


@pytest.mark.parametrize("version, structure", [("v3-words", 4), ("v3-tokens", 5)])
def test_fixture_string_slots(version, structure):
    """Structures 4 and 5's frozen streams: string slots (words; whole tokens) and their stream."""
    from omnicodec import container
    from omnicodec.codecs.logzip.blocks import _head

    data = (names_log(300, seed=3) + log_like(60, seed=6) if structure == 4
            else packages_log(400, seed=3) + log_like(40, seed=6))
    check_fixture("logzip", Bytes(data), version)
    payload = container.unpack((FIXTURES / "logzip" / version / "sample.omc").read_bytes())
    assert payload.header.config["structure"] == structure
    assert _head(memoryview(payload.sections["BLKS"])).words, "the fixture's block has no string slots"


def test_fixture_typed():
    """Structure 2's frozen stream: UUID and MAC tokens, packed hex digits, mixed-radix clock
    columns, columns keyed without variable words (all in use, checked below)."""
    from omnicodec import container
    from omnicodec.codecs.logzip.blocks import _head, read_block

    data = typed_log() + log_like(60, seed=6) + users_log(40)
    check_fixture("logzip", Bytes(data), "v3-typed")
    payload = container.unpack((FIXTURES / "logzip" / "v3-typed" / "sample.omc").read_bytes())
    block = payload.sections["BLKS"]
    head = _head(memoryview(block))
    assert head.packed and head.masked, "the fixture's block does not use every structure 2 form"
    assert read_block(block, len(data)).columns[::META].count(bytes([MIXED_COL << 4])) >= 2


def test_fixture_joint_columns():
    """Structure 6's frozen stream: an address's four number columns joined into one chain
    where its values repeat together, which a dictionary then codes once per address (a
    quarter smaller than structure 5 here); shifted copies (``b = a + 1`` on every line,
    which PPMd predicts apart) stay apart where PPMd says so."""
    from omnicodec import container
    from omnicodec.codecs.logzip.blocks import read_block

    data = access_log() + log_like(60, seed=6)
    check_fixture("logzip", Bytes(data), "v3-joint")
    payload = container.unpack((FIXTURES / "logzip" / "v3-joint" / "sample.omc").read_bytes())
    assert payload.header.config["structure"] == 6

    def mixed(block: bytes) -> int:
        meta = np.frombuffer(read_block(block, len(data)).columns, np.uint8).reshape(-1, META)
        return int((meta[:, 0] >> 4 == MIXED_COL).sum())
    blocks = {st: Logzip(structure=st).encode(Bytes(data))["BLKS"] for st in (5, 6)}
    assert payload.sections["BLKS"] == blocks[6]
    assert mixed(blocks[6]) >= mixed(blocks[5]) + 2  # the address's last three octets (the first
    assert len(blocks[6]) < 0.85 * len(blocks[5])  # column also holds the other lines' first numbers)
    dump = "".join(" ".join(str(k + j) for j in range(12)) + "\n" for k in range(0, 4000, 128) for _ in range(4))
    shifted = (dump * 3).encode()
    assert len(Logzip(structure=6).encode(Bytes(shifted))["BLKS"]) <= len(Logzip(structure=5).encode(Bytes(shifted))["BLKS"])



@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["0", "7", "007", "10", "255", "65535", "18446744073", "4"]), min_size=2,
                         max_size=5), min_size=2, max_size=6),
       st.lists(st.integers(0, 5), min_size=20, max_size=300))
def test_joint_columns_come_back(pool, picks):
    """Whatever chains the joint fold builds (leading zeros, wide values, a chain up to its
    value limit), the number kernel splits them back to the same digits."""
    from omnicodec.codecs.logzip.columns import encode_numbers
    from omnicodec.kernels import kernel

    def mixed_count(meta: bytes, planes: bytes) -> int:  # a cost that prefers the joint fold
        return -int((np.frombuffer(meta, np.uint8)[::META] >> 4 == MIXED_COL).sum())

    groups = [pool[k % len(pool)] for k in picks]
    width = max(len(g) for g in groups)
    nums = [g[j] if j < len(g) else "1" for g in groups for j in range(width)]
    cols = np.tile(np.arange(width), len(groups))
    values = np.array(nums, dtype=np.bytes_)
    ints, widths = values.astype(np.int64), np.char.str_len(values).astype(np.int64)
    meta, planes, pads = encode_numbers(ints, widths, cols, width, mixed=True, joint=mixed_count)
    got, got_widths = kernel("logs", "numbers", size=0)(meta, planes, pads, cols, width)
    assert got.tolist() == ints.tolist() and got_widths.tolist() == widths.tolist()


def _backends(block: bytes) -> list[int]:
    """The backend of each stream of a block."""
    from omnicodec.codecs.logzip.backends import _frame
    from omnicodec.codecs.logzip.blocks import _head

    buf = memoryview(block)
    head = _head(buf)
    kinds, pos = [], head.pos
    while pos < len(buf):
        kind, _, stored, at = _frame(buf, pos, head.layout)
        kinds.append(kind)
        pos = at + stored
    return kinds


@pytest.mark.parametrize("version, structure, backend, lines", [
    ("v3-orders", 3, 5, (60, 40)),  # PPMd streams at the model order their sample prefers
    ("v3-zpaq", 8, 6, (150, 60)),  # a small log's streams through context mixing (ZPAQ)
    ("v3-colcm", 9, 7, (150, 60)),  # its number planes by context mixing of their values
])
def test_fixture_of_a_backend(version, structure, backend, lines):
    """Frozen streams of the structure that brought a backend, which holds a stream of it."""
    from omnicodec import container
    from omnicodec.codecs.logzip import backends

    data = typed_log() + log_like(lines[0], seed=6) + users_log(lines[1])
    check_fixture("logzip", Bytes(data), version)
    payload = container.unpack((FIXTURES / "logzip" / version / "sample.omc").read_bytes())
    assert payload.header.config["structure"] == structure and backend in (backends.PPMD_K, backends.CM,
                                                                           backends.NUMBERS)
    assert backend in _backends(payload.sections["BLKS"]), f"the fixture's block has no stream of backend {backend}"


def test_small_streams_keep_their_smallest_backend_from_structure_7():
    """fast_slack buys decode speed with bytes; a stream under MIN_FAST decodes in a few
    milliseconds whatever its backend, so from structure 7 it keeps its smallest one (the
    template dictionary, read by every grep, aside): the block is smaller, decodes the same."""
    from omnicodec import container
    from omnicodec.codecs.logzip.backends import MIN_FAST, ZSTD
    from omnicodec.codecs.logzip.blocks import _STREAMS

    data = typed_log(250) + log_like(250, seed=6) + users_log(150)
    six, seven, smallest = encode_block(data, 0.02, 2, 6), encode_block(data, 0.02, 2, 7), encode_block(data, 0, 2, 7)
    skeletons = _STREAMS.index("skeletons")

    def others(block: bytes) -> list[int]:
        return [k for i, k in enumerate(_backends(block)) if i != skeletons]
    assert len(data) < MIN_FAST and len(seven) < len(six)
    assert ZSTD in others(six) and others(seven) == others(smallest) != others(six)
    assert decode_block(seven, len(data)) == data
    big = log_like(6000, seed=8)  # streams past MIN_FAST still go to zstd where the slack allows
    assert len(big) > 4 * MIN_FAST and ZSTD in _backends(encode_block(big, 0.02, 2, 7))
    check_fixture("logzip", Bytes(data), "v3-minfast")
    payload = container.unpack((FIXTURES / "logzip" / "v3-minfast" / "sample.omc").read_bytes())
    assert payload.header.config["structure"] == 7


def test_ppmd_orders_pick_the_smaller_model_and_round_trip():
    """Independent small values (a byte plane of noise): longer contexts only dilute their
    statistics, so an order below 8 codes them in fewer bytes (about 7% here); with ``orders``
    the stream is backend 5 (its order byte first), smaller, exact."""
    from omnicodec.codecs.logzip import backends

    data = np.random.default_rng(3).integers(0, 6, 20000).astype(np.uint8).tobytes()
    plain, ordered = (compress_streams([data], layout=2, orders=o) for o in (False, True))
    assert ordered[0] == backends.PPMD_K and len(ordered) < len(plain)
    out, end = decompress_stream(memoryview(ordered), 0, len(data), 2)
    assert out == data and end == len(ordered)


@pytest.mark.parametrize("order", [0, 1, 65, 255])
def test_a_ppmd_stream_with_a_bad_order_is_refused(order):
    from omnicodec.codecs.logzip import backends

    data = log_like(50)
    stored = bytes([order]) + backends.ppmd(data, 4)
    frame = memoryview(backends.frame(backends.PPMD_K, len(data), stored, 2))
    with pytest.raises(CorruptStreamError, match="model order"):
        decompress_stream(frame, 0, 1 << 20, 2)


def test_context_mixing_codes_small_blocks_smaller_and_large_ones_not_at_all():
    """A block of up to CM_BLOCK bytes: its streams through ZPAQ where smaller (both models
    in use here), the block smaller than structure 7's and exact; a larger block keeps the
    fast backends (context mixing decodes at 1-3 MB/s)."""
    from omnicodec.codecs.logzip.backends import CM
    from omnicodec.codecs.logzip.blocks import CM_BLOCK

    data = typed_log(400) + log_like(1500, seed=6) + users_log(300)
    seven, eight = encode_block(data, 0.02, 2, 7), encode_block(data, 0.02, 2, 8)
    assert len(eight) < 0.99 * len(seven) and decode_block(eight, len(data)) == data
    models = {read[0] for read in _stored(eight, CM)}
    assert models == {0, 1}, "expected the text model and the binary one"
    big = log_like(20000, seed=9)
    assert len(big) > CM_BLOCK and CM not in _backends(encode_block(big, 0.02, 2, 8))


def burst_log(lines: int = 1500, seed: int = 0) -> bytes:
    """A daemon's lines: each request's lines come in the same second, the same worker pid on
    each of its templates, and the seconds step only between requests."""
    rng = np.random.default_rng(seed)
    rows, clock = [], 0
    for i in range(lines // 3):
        clock += int(rng.integers(1, 40))
        stamp = f"10:{clock // 60 % 60:02d}:{clock % 60:02d}"
        pid, took = 4000 + int(rng.integers(0, 3)), int(rng.integers(1, 500))
        rows += [f"{stamp} worker[{pid}]: accepted request {i}\n",
                 f"{stamp} worker[{pid}]: read {int(rng.integers(100, 9000))} bytes\n",
                 f"{stamp} worker[{pid}]: done in {took} ms\n"]
    return "".join(rows).encode()


def test_number_planes_take_the_line_as_context_from_structure_9():
    """Structure 9 codes a small block's number planes by their values with each line's
    template as context (backend 7, ``kernels.colcm``): the planes of a log whose numbers
    follow its templates come out smaller than ZPAQ's, the block exact; a block too large for
    context mixing keeps structure 8's backends."""
    from omnicodec.codecs.logzip.backends import CM, NUMBERS
    from omnicodec.codecs.logzip.blocks import _STREAMS

    data = burst_log()
    eight, nine = encode_block(data, 0.02, 2, 8), encode_block(data, 0.02, 2, 9)
    assert _backends(nine)[_STREAMS.index("planes")] == NUMBERS and NUMBERS not in _backends(eight)
    assert {read[0] for read in _stored(nine, CM)} == {4}, "text streams take the long text model"
    assert {read[0] for read in _stored(eight, CM)} <= {0, 1}
    assert len(nine) < 0.96 * len(eight) and decode_block(nine, len(data)) == data
    big = log_like(20000, seed=9)
    assert NUMBERS not in _backends(encode_block(big, 0.02, 2, 9))


def test_small_blocks_keep_fast_backends_from_structure_9():
    """A user who asks for blocks under 256 KiB asks for fast line ranges: no stream of such
    a file goes through context mixing (ZPAQ's text model takes 70 ms to set up a stream),
    where the default blocks of the same log use it."""
    from omnicodec.codecs.logzip.backends import CM, NUMBERS
    from omnicodec.codecs.logzip.index import unpack_index

    data = burst_log(3000)
    kinds = {}
    for mb in (0.05, 4.0):
        codec = Logzip(block_mb=mb)
        sections = codec.encode(Bytes(data))
        entries = unpack_index(sections["INDX"], len(data), len(sections["BLKS"]), 2)
        kinds[mb] = {k for e in entries for k in _backends(sections["BLKS"][e.offset:e.offset + e.stored])}
        assert codec.decode(sections, {"size": len(data)}).data == data
    assert len(entries) == 1 and not {CM, NUMBERS} & kinds[0.05] and {CM, NUMBERS} <= kinds[4.0]


def test_backend_7_is_refused_outside_the_number_planes():
    from omnicodec.codecs.logzip import backends

    frame = memoryview(backends.frame(backends.NUMBERS, 10, b"\x00" * 8, 2))
    with pytest.raises(CorruptStreamError, match="only the number planes"):
        decompress_stream(frame, 0, 1 << 20, 2)


def test_damaged_number_planes_of_backend_7_are_refused_or_decode():
    """Any byte of a backend 7 stream changed: the block decodes (to bytes the container's
    checksum then judges) or raises CorruptStreamError, nothing else."""
    from omnicodec.codecs.logzip.backends import _frame
    from omnicodec.codecs.logzip.blocks import _STREAMS, _head

    data = burst_log(300)
    block = bytearray(encode_block(data, 0.02, 2, 9))
    pos = _head(memoryview(block)).pos
    for _ in range(_STREAMS.index("planes")):
        _, _, stored, at = _frame(memoryview(block), pos, 2)
        pos = at + stored
    _, _, stored, at = _frame(memoryview(block), pos, 2)
    rng = np.random.default_rng(0)
    for k in rng.integers(at, at + stored, 25).tolist():
        bad = block.copy()
        bad[k] ^= 1 << int(rng.integers(8))
        try:
            decode_block(bytes(bad), len(data))
        except CorruptStreamError:
            pass


def test_more_slots_than_the_block_has_bytes_is_refused():
    """A crafted dictionary: a template of 50,000 number slots on 1,000 lines would be 50
    million slots; refused before they are laid out."""
    from omnicodec.codecs.logzip.blocks import Structured

    lines = 1000
    crafted = Structured(lines, True, 1, ids=bytes([1]) * lines, skeletons=b"\x01" * 50000, columns=bytes(META * 50000),
                         planes=b"", pads=b"", hexes=b"", outliers=b"", cr=b"", masked_words=True).pack(layout=2)
    with pytest.raises(CorruptStreamError, match="more slots"):
        decode_block(crafted, 1 << 20)


def test_an_archive_can_spend_context_mixing_on_larger_blocks():
    """``cm_mb`` raises the block size up to which streams may take context mixing (default
    1 MiB): smaller, exact, written to the config only when it departs from the default."""
    from omnicodec.codecs.logzip.backends import CM

    data = log_like(20000, seed=9)
    plain, spent = Logzip(), Logzip(cm_mb=4)
    assert "cm_mb" not in plain.get_config() and spent.get_config()["cm_mb"] == 4
    blocks = [c.encode(Bytes(data))["BLKS"] for c in (plain, spent)]
    assert CM not in _backends(blocks[0]) and CM in _backends(blocks[1]) and len(blocks[1]) < len(blocks[0])
    assert decode_block(blocks[1], len(data)) == data
    with pytest.raises(ValueError, match="cm_mb"):
        Logzip(cm_mb=-1)


def _stored(block: bytes, kind: int) -> list[bytes]:
    """The stored bytes of a block's streams of backend ``kind``."""
    from omnicodec.codecs.logzip.backends import _frame
    from omnicodec.codecs.logzip.blocks import _head

    buf = memoryview(block)
    pos, found = _head(buf).pos, []
    while pos < len(buf):
        k, _, stored, at = _frame(buf, pos, 2)
        if k == kind:
            found.append(bytes(buf[at:at + stored]))
        pos = at + stored
    return found


def test_a_crafted_context_mixing_stream_stops_within_its_bound():
    """A CM codes a megabyte of zeros in a few hundred bytes; declared as 1,000 bytes, the
    stream must stop near that (the guard before the model's program), not inflate."""
    import time

    from omnicodec.codecs.logzip import cm

    zeros = bytes(1_000_000)
    for model in (cm.TEXT, cm.BINARY, cm.LONG_TEXT):
        stored = cm.compress(zeros, model)
        assert stored is not None and len(stored) < 2000
        assert cm.decompress(stored, len(zeros)) == zeros
        start = time.perf_counter()
        with pytest.raises(CorruptStreamError, match="ZPAQ"):
            cm.decompress(stored, 1000)
        assert time.perf_counter() - start < 0.5


def test_the_frozen_models_are_what_libzpaq_writes_and_leave_room_for_the_guard():
    """The encoder uses a model only where libzpaq compiles its method to the frozen header
    (else it falls back to PPMd: a change of libzpaq would show here first); the guard keeps
    the byte and its count in R254 and R255 and sits in front of the program, so the models
    must use no R register and no absolute jump."""
    from omnicodec.codecs.logzip import cm

    text = log_like(40)
    for model in (cm.TEXT, cm.BINARY, cm.LONG_TEXT):
        stored = cm.compress(text, model)
        assert stored is not None and cm.decompress(stored, len(text)) == text
        code, i, ops = cm._HCOMP[model], 0, []
        while i < len(code):
            ops.append(code[i])
            i += 3 if code[i] == 255 else 2 if code[i] % 8 == 7 else 1
        assert i == len(code) and not {7, 15, 23, 31, 55, 255} & set(ops)
    assert cm.model_for(text) == cm.TEXT and cm.model_for(bytes(range(256)) * 4) == cm.BINARY
    assert cm.model_for("служба \x01 запущена, пользователь \x01\n".encode() * 50) == cm.TEXT  # UTF-8 text
    big = log_like(14000, seed=4)  # past 1 MiB: the larger size class, model bytes 2, 3 and 6
    assert 1 << 20 < len(big) < cm.MAX_RAW
    for model, kind in ((cm.TEXT, 2), (cm.BINARY, 3), (cm.LONG_TEXT, 6)):
        stored = cm.compress(big, model)
        assert stored[0] == kind and cm.decompress(stored, len(big)) == big
    with pytest.raises(CorruptStreamError, match="model or length"):
        cm.decompress(bytes([0]) + stored[1:], len(big))  # a stream of class 2 claimed as class 0


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_damaged_context_mixing_streams_are_refused(data):
    """Any change to a stored ZPAQ stream (its model byte, cuts, flipped bits) is refused or
    decodes to other bytes of the declared length, which the block's CRC then catches."""
    from omnicodec.codecs.logzip import backends, cm

    text = log_like(60, seed=data.draw(st.integers(0, 5)))
    stored = bytearray(cm.compress(text, cm.TEXT))
    cut = data.draw(st.integers(1, len(stored)))
    flips = data.draw(st.lists(st.integers(0, len(stored) * 8 - 1), max_size=4))
    for f in flips:
        stored[f // 8] ^= 1 << f % 8
    stored = bytes(stored[:cut] if data.draw(st.booleans()) else stored)
    if stored == cm.compress(text, cm.TEXT):
        return
    frame = memoryview(backends.frame(backends.CM, len(text), stored, 2))
    try:
        out, _ = decompress_stream(frame, 0, 1 << 20, 2)
    except CorruptStreamError:
        return
    assert len(out) == len(text)


def test_columns_are_keyed_without_variable_words():
    """With variable words masked, the addresses and ports after every user name are the same
    five columns; keyed by the whole prefix they are five columns per user, and their byte
    planes are larger."""
    from omnicodec.codecs.logzip.columns import encode_numbers
    from omnicodec.codecs.logzip.templates import Templates, tokenize

    data = users_log(3000)
    skeletons, _, nums = tokenize(data.splitlines(), typed=True)
    values = np.array(nums, dtype=np.bytes_)
    planes = {}
    for masked in (True, False):
        tpl, tids = Templates.of_lines(skeletons, masked)
        assert tpl.num_cols == (5 + 5 if masked else 5 + 7 * 5)
        cols = tpl.slots(tids).num_cols
        planes[masked] = encode_numbers(values.astype(np.int64), np.char.str_len(values), cols, tpl.num_cols, True)[1]
    assert len(compress_streams([planes[True]])) < 0.95 * len(compress_streams([planes[False]]))
    assert decode_block(encode_block(data, 0.02, 2, 2), len(data)) == data


def test_uuids_and_mac_addresses_are_one_token_each():
    """Structure 2 keeps one template for lines that differ only in their UUIDs and MACs, even
    where a group of hex digits has no letter (a number) or no digit (a word); structure 1
    makes a template of each such shape."""
    from omnicodec.codecs.logzip.blocks import _structure

    data = typed_log(300)
    one, two = (_structure(data, s) for s in (1, 2))
    assert two.skeletons.count(b"\n") == 0 and one.skeletons.count(b"\n") > 5
    assert decode_block(encode_block(data, 0.02, 2, 2), len(data)) == data


def test_a_clock_folds_into_mixed_radix_columns():
    """Hours, minutes and seconds fold into one column (minutes and seconds stored as radix
    60 digits of it), which is smaller than three columns; a column that does not wrap around
    when the one before it goes up (the request time) stays its own."""
    from omnicodec.codecs.logzip.blocks import _structure

    data = typed_log(2000, seed=3)
    block = _structure(data, 2)
    meta = np.frombuffer(block.columns, np.uint8).reshape(-1, META)
    mixed = np.flatnonzero(meta[:, 0] >> 4 == MIXED_COL)
    assert mixed.tolist() == [1, 2]
    assert [(int(meta[c, 2]) + 1) << int(meta[c, 0] & 15) for c in mixed] == [60, 60]
    plain = _structure(data, 1)
    assert len(compress_streams([block.planes])) < 0.8 * len(compress_streams([plain.planes]))


@given(st.lists(st.text("0123456789abcdefABCDEF-:", max_size=40), max_size=30))
def test_packed_hex_digits_come_back(tokens):
    from omnicodec.codecs.logzip.blocks import pack_hex, unpack_hex

    stream = "\n".join(tokens).encode()
    shapes, nibbles = pack_hex(stream)
    assert unpack_hex(shapes, nibbles) == stream
    assert len(nibbles) == sum((len(t) - t.count("-") - t.count(":") + 1) // 2 for t in tokens)
    with pytest.raises(CorruptStreamError, match="nibble"):
        unpack_hex(shapes, nibbles + b"\0")


def test_beats_xz_on_structured_logs():
    import lzma

    data = log_like(3000)
    ours = len(omnicodec.encode(data, "logzip"))
    assert ours < 0.8 * len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))



def test_text_in_any_language_or_encoding_is_a_log_by_default():
    """Cyrillic and CJK text is mostly bytes above 0x7f, as is Latin-1 in places: the default
    codec is logzip for them (xz was chosen, and coded the Cyrillic log 1.3x larger); binary
    (control bytes, noise) is not text."""
    import lzma

    rows = [f"2024-03-0{1 + i % 9} 10:{i % 60:02d} [ИНФО] пользователь {['Иван', '张三'][i % 2]} вошёл, "
            f"сеанс {i * 7919 % 10007}, {i % 97} мс" for i in range(3000)]
    russian = "\n".join(rows).encode()
    coloured = "\n".join(f"\x1b[32mINFO\x1b[0m job {i} ok" for i in range(2000)).encode()
    for data in (russian, "\n".join(rows).encode("utf-16"), "\n".join(f"café {i} résumé" for i in range(3000)).encode("latin-1"),
                 coloured):
        assert omnicodec.choose_codec(Bytes(data)).codec_id == "logzip"
    assert len(omnicodec.encode(russian)) < 0.8 * len(lzma.compress(russian, preset=9 | lzma.PRESET_EXTREME))
    noise = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    for data in (noise + b"\n", b"\x00\x01\n" * 5000, np.arange(5000, dtype=np.int32).tobytes() + b"\n"):
        assert omnicodec.choose_codec(Bytes(data)).codec_id != "logzip"

@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=80))
def test_adversarial_pieces_roundtrip(parts):
    data = b"".join(parts)
    for layout, structure in ((1, 1), (2, 2), (2, 3)):
        assert decode_block(encode_block(data, 0.02, layout, structure), len(data)) == data


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_roundtrip(data):
    for layout, structure in ((1, 1), (2, 2), (2, 3)):
        assert decode_block(encode_block(data, 0.02, layout, structure), len(data)) == data


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=400), st.integers(1, 5))
def test_many_blocks_roundtrip(parts, kb):
    data = b"".join(parts)
    codec = Logzip(block_mb=kb / 1024)
    assert codec.decode(codec.encode(Bytes(data)), {"size": len(data)}).data == data


@pytest.mark.parametrize("data", [b"", b"\n", b"no newline at end", b"a\r\nb\rc\n\n\nd", b"\x00" * 5000,
                                  b"x" * 3_000_000, b"\x01\x02\n" * 100])
def test_edge_cases(data):
    codec = Logzip(block_mb=1)
    assert omnicodec.decode(omnicodec.encode(Bytes(data), codec)).data == data


def test_not_a_log_costs_at_most_a_few_bytes_over_zstd19():
    import zstandard

    rng = np.random.default_rng(0)
    for data in (rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes(),
                 np.sin(np.arange(50_000)).astype(np.float32).tobytes()):
        ours = len(Logzip().encode(Bytes(data))["BLKS"])
        assert ours <= len(zstandard.ZstdCompressor(level=19).compress(data)) + 32


def test_line_ranges_decode_only_what_is_asked():
    data = log_like(2000, seed=3).replace(b"\n", b"\r\n", 7) + b"x" * 5000 + b"\nlast line without newline"
    codec = Logzip(block_mb=0.02)
    sections = codec.encode(Bytes(data))
    lines = data.split(b"\n")
    expect = [x + b"\n" for x in lines[:-1]] + [lines[-1]]
    for a, b in [(0, 1), (5, 50), (999, 1500), (1990, 5000), (2000, 2001), (7, 7), (3000, 3100)]:
        assert codec.decode_lines(sections, {"size": len(data)}, a, b) == b"".join(expect[a:b])


def test_cli_line_range(tmp_path):
    from omnicodec.cli.main import main

    src = tmp_path / "app.log"
    src.write_bytes(log_like(500))
    assert main(["encode", str(src)]) == 0
    assert omnicodec.open(tmp_path / "app.log.omc").codec == "logzip"
    out = tmp_path / "part.log"
    assert main(["decode", str(tmp_path / "app.log.omc"), "--lines", "10:12", "-o", str(out)]) == 0
    assert out.read_bytes() == b"".join(x + b"\n" for x in src.read_bytes().split(b"\n")[9:12])


def test_corrupt_block_is_caught_by_its_checksum():
    data = log_like(500)
    codec = Logzip()
    sections = codec.encode(Bytes(data))
    blocks = bytearray(sections["BLKS"])
    blocks[len(blocks) // 2] ^= 0x40
    with pytest.raises(CorruptStreamError):
        codec.decode({"INDX": sections["INDX"], "BLKS": bytes(blocks)}, {"size": len(data)})


_RSS_CHILD = """
import resource, sys, os
from omnicodec.codecs.logzip import Logzip
size_mb = int(sys.argv[1])
line = b"2024-01-01 12:00:%02d INFO worker[%d]: request %d took %d ms from 10.0.%d.%d\\n"
def gen():
    i = 0
    while True:
        yield b"".join(line % (k % 60, k % 97, k, k % 1000, k % 256, k % 199) for k in range(i, i + 20000))
        i += 20000
class Source:
    def __init__(self):
        self.stream, self.left, self.buf = gen(), size_mb << 20, bytearray()
    def read(self, n):
        while len(self.buf) < n and self.left > 0:
            self.buf += next(self.stream)
        out = bytes(self.buf[:min(n, self.left)]); del self.buf[:len(out)]; self.left -= len(out)
        return out
class Spool:
    size = 0
    def write(self, b):
        self.size += len(b)
spool = Spool()
Logzip(block_mb=2, workers=2).encode_to(Source(), spool)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, spool.size)
"""


def _peak_kb(size_mb):
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(size_mb)], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0])


def test_memory_does_not_grow_with_input():
    small, large = _peak_kb(8), _peak_kb(32)
    assert large < 1.25 * small + 30_000, (small, large)


@pytest.mark.slow
def test_memory_bounded_on_a_gigabyte():
    small, large = _peak_kb(64), _peak_kb(1024)
    assert large < 2 * small, (small, large)  # measured: 300 MB vs 456 MB peak (16x the input)


@pytest.mark.parametrize("layout", [1, 2])
def test_block_crc_matches_content(layout):
    data = log_like(100)
    sections = Logzip(block_layout=layout, structure=layout).encode(Bytes(data))
    from omnicodec.codecs.logzip.index import unpack_index

    (block,) = unpack_index(sections["INDX"], len(data), len(sections["BLKS"]), layout)
    assert block.crc == zlib.crc32(data) and block.newlines == data.count(b"\n")
    assert sections["BLKS"][:4] == b"LZB%d" % layout


def test_the_compact_layout_is_smaller_and_reads_the_same():
    """Layout 2 (LEB128 lengths) saves about 130 bytes a block on small logs; both decode."""
    data = log_like(200, seed=9)
    one, two = (Logzip(block_layout=n, structure=n) for n in (1, 2))
    a, b = one.encode(Bytes(data)), two.encode(Bytes(data))
    assert sum(map(len, a.values())) - sum(map(len, b.values())) > 100
    assert one.decode(a, {"size": len(data)}).data == two.decode(b, {"size": len(data)}).data == data


@pytest.mark.slow
def test_single_50mb_line():
    data = (b"0123456789abcdef" * (50 << 16)) + b"\n"
    codec = Logzip()
    sections = codec.encode(Bytes(data))
    assert codec.decode(sections, {"size": len(data)}).data == data
    assert codec.decode_lines(sections, {"size": len(data)}, 0, 1) == data


def test_keeps_only_backend_streams_it_can_decode():
    """pyppmd 1.3.1's PPMd8 writes an undecodable stream for these 193 kB of ids (found by a
    random search); it is the smallest candidate, so an encoder that trusts it loses the file."""
    import random

    rnd = random.Random(362)
    rnd.choice(range(6))
    data = "\n".join(f"id={rnd.getrandbits(64):016x} t={rnd.randrange(10**6)}" for _ in range(6666)).encode()
    assert omnicodec.decode(omnicodec.encode(data, "logzip")).data == data
    packed = memoryview(compress_streams([data]))
    assert decompress_stream(packed, 0, len(data))[0] == data



def test_a_line_range_reads_a_small_part_of_the_file(tmp_path, monkeypatch):
    """decode --lines reads the header, the index and the blocks that hold the lines: under a
    tenth of a file of ~70 blocks (bytes counted under the container's file reads)."""
    from omnicodec import api

    from ..test_container import counting_open

    data = log_like(40000, seed=11)
    path = tmp_path / "app.log.omc"
    path.write_bytes(omnicodec.encode(Bytes(data), Logzip(block_mb=0.04)))
    read = counting_open(monkeypatch)
    out, _ = api.decode_file(path, tmp_path / "part.log", lines=(23456, 23460))
    assert out.read_bytes() == b"".join(x + b"\n" for x in data.split(b"\n")[23456:23460])
    assert 0 < read() < path.stat().st_size / 10, (read(), path.stat().st_size)
    out, _ = api.decode_file(path, tmp_path / "all.log")  # the whole stream, block by block
    assert out.read_bytes() == data and read() > path.stat().st_size


def test_the_stream_does_not_depend_on_the_worker_count():
    from omnicodec.codecs.logzip.index import unpack_index

    data = log_like(3000, seed=4)
    one, two = (Logzip(block_mb=0.05, workers=n).encode(Bytes(data)) for n in (1, 2))
    assert one == two
    assert len(unpack_index(one["INDX"], len(data), len(one["BLKS"]), Logzip.block_layout)) > 2


@pytest.mark.parametrize("change", [{"digest": None}, {"meta": {}}, {"meta": {"size": "many"}},
                                    {"meta": {"size": 1 << 64}}])
def test_a_damaged_header_is_a_corrupt_stream_in_every_decode(tmp_path, change):
    """The streaming decode of a file (whole or a line range) refuses what the bytes-level
    decode refuses: a lossless stream without its digest, metadata that is not what it needs."""
    import dataclasses

    from omnicodec import api, container

    src = tmp_path / "app.log"
    src.write_bytes(log_like(200))
    path, _ = api.encode_file(src, codec="logzip")
    box = container.unpack(path.read_bytes())
    path.write_bytes(container.pack(dataclasses.replace(box.header, **change), box.sections))
    for lines in (None, (2, 5)):
        with pytest.raises(CorruptStreamError):
            api.decode_file(path, tmp_path / "out.log", force=True, lines=lines)
    with pytest.raises(CorruptStreamError):
        omnicodec.decode(path.read_bytes())
    assert not (tmp_path / "out.log").exists()


def test_a_stream_never_inflates_past_its_declared_length():
    """99 KB of PPMd claiming a short stream inflated to 256 MiB before the length check."""
    import pyppmd

    from omnicodec.codecs.logzip import backends

    bomb = pyppmd.compress(bytes(64 << 20), max_order=backends.PPMD_ORDER, mem_size=backends._ppmd_mem(1000))
    frame = memoryview(backends._FRAME.pack(backends.PPMD, 1000, len(bomb)) + bomb)

    def attempt():
        with pytest.raises(CorruptStreamError, match="wrong length"):
            decompress_stream(frame, 0, 1 << 20)

    assert peak_growth(attempt) < 16 << 20


def test_a_damaged_ppmd_stream_never_starves_its_decoder():
    """pyppmd decodes in a thread that waits for input when a damaged stream runs out; freeing
    the decoder then corrupted the heap (an abort, seen in this suite).  Streams are followed by
    zeros, so a cut stream is refused (by its length or a symbol it cannot decode) with the
    thread ended; a whole stream decodes exactly."""
    import pyppmd

    from omnicodec.codecs.logzip import backends

    data = log_like(400, seed=8)
    stored = pyppmd.compress(data, max_order=backends.PPMD_ORDER, mem_size=backends._ppmd_mem(len(data)))
    bare = pyppmd.Ppmd8Decoder(backends.PPMD_ORDER, backends._ppmd_mem(len(data)))
    bare.decode(stored[: len(stored) // 3], len(data) + 1)
    assert bare.needs_input  # what the padding prevents: this decoder's thread waits
    backends._STARVED.append(bare)  # so it is never freed
    starved = len(backends._STARVED)
    for cut in range(1, len(stored), max(1, len(stored) // 50)):
        frame = memoryview(backends.frame(backends.PPMD, len(data), stored[:cut], 2))
        with pytest.raises(CorruptStreamError, match="wrong length|does not decode"):
            decompress_stream(frame, 0, 1 << 20, 2)
    assert len(backends._STARVED) == starved
    backends._STARVED.remove(bare)
    assert backends._decompress(backends.PPMD, stored, len(data)) == data


@pytest.mark.slow
def test_damaged_ppmd_streams_never_abort_the_process():
    """Thousands of damaged PPMd frames decoded in a child process: it ends normally (without
    the zeros after each stream, this aborted within seconds: "corrupted size vs. prev_size")."""
    child = (
        "import numpy as np, pyppmd\n"
        "from omnicodec.codecs.logzip import backends\n"
        "rng = np.random.default_rng(0)\n"
        "data = bytes(rng.integers(97, 123, 20000, dtype=np.uint8))\n"
        "good = pyppmd.compress(data, max_order=backends.PPMD_ORDER, mem_size=backends._ppmd_mem(len(data)))\n"
        "for i in range(6000):\n"
        "    bad = bytearray(good[:rng.integers(1, len(good))])\n"
        "    bad[rng.integers(0, len(bad))] = rng.integers(0, 256)\n"
        "    try:\n"
        "        backends._decompress(backends.PPMD, bytes(bad), len(data))\n"
        "    except Exception:\n"
        "        pass\n")
    assert subprocess.run([sys.executable, "-c", child], timeout=900).returncode == 0


@pytest.mark.parametrize("block_mb", [0, -1, 2000, "16", None])
def test_a_stream_config_with_a_bad_block_size_is_refused(block_mb):
    with pytest.raises(CorruptStreamError, match="block_mb"):
        Logzip.from_config({"block_mb": block_mb})


@pytest.mark.parametrize("config", [{"structure": 6}, {"structure": 0}, {"block_layout": 3}, {"fast_slack": 2},
                                    {"structure": 2, "block_layout": 1}, {"structure": 4, "block_layout": 1}])
def test_a_stream_config_with_an_unknown_setting_is_refused(config):
    with pytest.raises(CorruptStreamError, match=next(iter(config))):
        Logzip.from_config(config)


def test_large_streams_decode_in_worker_processes(monkeypatch):
    """From PARALLEL_DECODE bytes on, blocks are decoded by a fork server's workers, in order,
    each checked against its CRC; a damaged block is refused the same way."""
    import omnicodec.codecs.logzip as lz

    data = log_like(3000, seed=11)
    codec = Logzip(block_mb=0.05, workers=2)
    sections = codec.encode(Bytes(data))
    used, real = [], lz.decode_in_order
    monkeypatch.setattr(lz, "decode_in_order", lambda jobs, workers, *warmup: used.append(workers) or real(jobs, workers))
    assert b"".join(codec.iter_decode(sections, {"size": len(data)})) == data and used == [1]
    monkeypatch.setattr(lz, "PARALLEL_DECODE", 0)
    monkeypatch.setattr(lz.stream, "decode_block", None)  # so nothing is decoded in this process
    assert b"".join(codec.iter_decode(sections, {"size": len(data)})) == data and used == [1, 2]
    blocks = bytearray(sections["BLKS"])
    blocks[len(blocks) // 2] ^= 0x40
    with pytest.raises(CorruptStreamError):
        b"".join(codec.iter_decode({**sections, "BLKS": bytes(blocks)}, {"size": len(data)}))


def test_no_worker_pool_when_the_warm_up_takes_every_job(monkeypatch):
    """``parallel.in_order`` keeps the jobs' order, and starts no process (nor multiprocessing's
    resource tracker) when the jobs decoded here were all there were: a line range or a grep
    that reads a few blocks of a large stream."""
    import concurrent.futures

    from omnicodec import parallel

    assert list(parallel.in_order(pow, [(2, k) for k in range(6)], workers=2, warmup=2)) == [2 ** k for k in range(6)]
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", None)  # any pool would fail here
    assert list(parallel.in_order(pow, [(3, k) for k in range(4)], workers=2, warmup=4)) == [1, 3, 9, 27]
    with pytest.raises(TypeError):
        list(parallel.in_order(pow, [(3, k) for k in range(5)], workers=2, warmup=4))
