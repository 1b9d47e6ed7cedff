"""codec grep prints what grep prints on the decoded text, and its compressed-form filter never
drops a matching line."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import omnicodec
from omnicodec import grep
from omnicodec.cli.main import main
from omnicodec.codecs.logzip import Logzip
from omnicodec.items import Bytes

from .codecs.test_logzip import log_like, names_log, packages_log

GREP = shutil.which("grep")
# fixed strings and regexes: words, numbers (slots), hex (slots or pieces), spans across
# slots and pieces, anchors, classes, alternatives, a pattern that would cross a line break
CASES = [["-F", "Cache: evicted"], ["-F", "user=bob"], ["-F", "10.0.3."], ["-F", "0x"], ["-F", "ms\r"],
         ["-F", "deadbeef"], ["-F", "not in the log"], ["-E", "took [0-9]+ ms$"], ["-E", "^2024-03-0[12] 10:0"],
         ["-E", "ERROR|DEBUG session 1"], ["-E", "size=40[0-9]{2}"], ["-E", "[^a-z]root"], ["-E", "a.b"],
         ["-E", "evicted key=0x[0-9a-f]*ab "], ["-E", "x"], ["-iF", "info [MAIN]"], ["-E", "opened for bob$"],
         ["-F", "deadbeef"], ["-F", "beef01 trace"], ["-F", "trace abc done"], ["-E", "=[a-f]+7 trace"],
         ["-F", "ace d"], ["-E", "[[:digit:]]{2}:[[:digit:]]"], ["-E", "^[[:upper:]]+ "],
         ["-E", "[^[:alnum:][:space:]=.:-]"], ["-iE", "[[:lower:]]+=[[:xdigit:]]+ trace"], ["-E", "[[:punct:]]{2}"],
         ["-E", "\\<id\\>"], ["-E", "\\<ace"], ["-E", "race\\>"]]


def sample(tmp_path, block_mb: float):
    """A log of CRLF and LF lines, verbatim lines and no final newline, in several blocks."""
    rng = np.random.default_rng(7)
    tokens = b"".join(b"req id=%x%02d trace %x done\n" % (rng.integers(1 << 40), i % 100, rng.integers(1 << 24))
                      for i in range(300))  # hex tokens: slots whose letters a pattern may hold
    data = (log_like(1500, seed=7).replace(b"\n", b"\r\n", 300) + tokens + b"id=deadbeef01 trace abc done\n"
            + b"\x01 verbatim ERROR line\n" + b"a\nb tail 0x1F root")
    src = tmp_path / "app.log"
    src.write_bytes(data)
    omc = tmp_path / "app.omc"
    omc.write_bytes(omnicodec.encode(Bytes(data), Logzip(block_mb=block_mb)))
    return src, omc


def run_grep(args, path):
    out = subprocess.run([GREP, *args, str(path)], capture_output=True, env={"LC_ALL": "C"})
    return out.returncode, out.stdout


def assert_greps_alike(cases, extra, src, omc, capfdbinary):
    """``codec grep`` on ``omc`` prints and returns what grep does on ``src``, for each case
    (flags such as -F or -iF, then the pattern) with the ``extra`` flags."""
    for case in cases:
        status, expected = run_grep([*case, *extra], src)
        flags = ["-F"] if "F" in case[0] else []
        flags += ["-i"] if "i" in case[0] else []
        got = main(["grep", *flags, *extra, case[1], str(omc)])
        assert (got, capfdbinary.readouterr().out) == (status, expected), case


@pytest.mark.skipif(GREP is None, reason="needs grep")
@pytest.mark.parametrize("block_mb", [0.01, 4.0])
@pytest.mark.parametrize("extra", [[], ["-n"], ["-c"]])
def test_prints_what_grep_prints(tmp_path, capfdbinary, block_mb, extra):
    src, omc = sample(tmp_path, block_mb)
    assert_greps_alike(CASES, extra, src, omc, capfdbinary)


def test_grep_classes_and_word_edges_are_translated():
    """Python read ``[[:digit:]]`` as a set of ``[:digt`` and a "]", and ``\\<`` as "<": a grep
    user's pattern matched other lines, silently."""
    assert grep.from_grep(rb"\<ab\>|\\<") == rb"\b(?=\w)ab\b(?<=\w)|\\<"
    assert grep.from_grep(rb"[[:digit:]]{4}") == rb"[0-9]{4}"
    assert grep.from_grep(rb"[^[:space:]x]") == rb"[^ \t\n\v\f\r" + b"x]"
    assert grep.from_grep(rb"[]a[:upper:]]") == rb"[]aA-Z]"
    for kept in (rb"\[[:digit:]\]", rb"x[\]]y", rb"[a-z]", rb"[:digit:]"):
        assert grep.from_grep(kept) == kept
    with pytest.raises(ValueError, match="unknown character class"):
        grep.Pattern.of("[[:digits:]]")


@pytest.mark.parametrize("run, holds", [
    (b"user bob from", True), (b"ser bob fr", True), (b"user bob to", False), (b"bob", True),
    (b" from ", True), (b"from user", True), (b"lib-x:amd", True), (b"user  from", True),
    (b"bob from host", True), (b"bob from host ok", False), (b"port user", False), (b"sshd[ user", False)])
def test_a_run_in_a_template_with_string_slots(run, holds):
    """A string slot holds a word or a token, anything without a space (an empty token too): a
    run's spaces are the template's, its inner chunks whole template tokens (or tokens with a
    slot), its ends the end and start of one ("from user": a host slot may start with "user")."""
    template = b"\x01:\x01 sshd[\x01]: user \x03 from \x03.example port \x01"
    assert grep.Pattern(re.compile(re.escape(run)), (run,)).holds(template) is holds


def slot_cases(kind: str) -> tuple[bytes, list[list[str]]]:
    """A log whose blocks have string slots (structure 4's words, 5's tokens), and patterns for
    what they hold: a name, part of one, one with the template text around it."""
    if kind == "words":
        data = names_log(500, seed=4) + log_like(100, seed=3) + names_log(200, seed=5).replace(b"\n", b"\r\n", 30)
        name = data.split(b"publickey for ")[1].split(b" ")[0].decode()  # the first Accepted line's user
        return data, [["-F", name], ["-F", name[:3]], ["-F", name[-3:]], ["-F", f"for {name} from"],
                      ["-F", f"user {name} by"], ["-F", "publickey for"], ["-E", f"for [a-z]+ from {name[:2]}"],
                      ["-F", ".example.org port 3"], ["-iF", name.upper()], ["-F", "Accepted"], ["-F", "WARN"],
                      ["-F", f"{name}.example"], ["-E", f"^Dec 10 06:0[0-3]:.. sshd.*{name[1:]}"]]
    data = packages_log(700, seed=4) + log_like(50, seed=3) + packages_log(300, seed=5).replace(b"\n", b"\r\n", 30)
    package = data.split(b"half-installed ")[1].split(b":")[0].decode()
    return data, [["-F", package], ["-F", package[2:6]], ["-F", f"unpacked {package}:amd64"], ["-F", "+deb1"],
                  ["-F", "status installed"], ["-E", "installed lib[a-z]+:amd64 1"], ["-F", ":amd64 2"],
                  ["-iF", package.upper()], ["-F", "ERROR"], ["-E", f"{package}.* [0-9]+\\.[0-9]$"]]


@pytest.mark.skipif(GREP is None, reason="needs grep")
@pytest.mark.parametrize("kind", ["words", "tokens"])
@pytest.mark.parametrize("extra", [[], ["-n"], ["-c"]])
def test_string_slots_print_what_grep_prints(tmp_path, capfdbinary, kind, extra):
    """String slots (structures 4 and 5) hold text no template shows: their lines are still
    found (a template with a slot may hold any pattern; ``-c`` of a fixed string decodes its
    block)."""
    from omnicodec import container
    from omnicodec.codecs.logzip.blocks import _head

    data, cases = slot_cases(kind)
    src, omc = tmp_path / "app.log", tmp_path / "app.omc"
    src.write_bytes(data)
    omc.write_bytes(omnicodec.encode(Bytes(data), Logzip()))
    assert _head(memoryview(container.unpack(omc.read_bytes()).sections["BLKS"])).words
    assert_greps_alike(cases, extra, src, omc, capfdbinary)


@pytest.mark.skipif(GREP is None, reason="needs grep")
def test_line_ranges_and_several_files(tmp_path, capfdbinary):
    src, omc = sample(tmp_path, 0.01)
    lines = src.read_bytes().split(b"\n")
    part = tmp_path / "part.log"
    part.write_bytes(b"\n".join(lines[199:700]) + b"\n")
    status, expected = run_grep(["-c", "WARN"], part)
    assert main(["grep", "-c", "WARN", "--lines", "200:700", str(omc)]) == status
    assert capfdbinary.readouterr().out == expected
    other = tmp_path / "other.omc"
    other.write_bytes(omnicodec.encode(Bytes(b"WARN here\nnothing\n"), "zstd"))
    assert main(["grep", "-n", "WARN here", str(omc), str(other)]) == 0
    assert capfdbinary.readouterr().out.endswith(str(other).encode() + b":1:WARN here\n")


def test_the_filter_skips_blocks_without_a_candidate_template(tmp_path, monkeypatch):
    """A rare word is found by decoding only the blocks whose templates hold it."""
    from omnicodec.codecs.logzip import blocks

    data = log_like(3000, seed=1) + b"2024-03-09 10:00:00,000 FATAL kernel panic on cpu 3\n" + log_like(3000, seed=2)
    omc = tmp_path / "a.omc"
    omc.write_bytes(omnicodec.encode(Bytes(data), Logzip(block_mb=0.05)))
    decoded, rendered = [], []
    real, render = blocks.read_block, blocks.Structured.render
    monkeypatch.setattr(blocks, "read_block", lambda b, cap: decoded.append(1) or real(b, cap))
    monkeypatch.setattr(blocks.Structured, "render", lambda s, cap, rows=None: rendered.append(rows) or render(s, cap, rows))
    hits = list(grep.grep(omc, grep.Pattern.of("kernel panic", fixed=True)))
    assert [line for _, line in hits] == [b"2024-03-09 10:00:00,000 FATAL kernel panic on cpu 3"]
    assert hits[0][0] == data.count(b"\n", 0, data.index(b"FATAL"))
    assert len(decoded) == 1  # the other blocks (about 20) were not decoded
    assert rendered[0].sum() == 1  # and of that block, only the line of the one candidate template


@pytest.mark.parametrize("pattern, runs", [
    ("Cache: evicted key=0x", (b"Cache: evicted key=", b"x")),  # "0x": a digit, "x": not hex
    ("kernel panic", (b"kernel panic",)), ("deadbeef", ()), ("a deadbeef b", (b" deadbeef ",)),
    ("id=dead12 ok", (b"id=", b" ok")), ("item87 ab", (b"item", b" ")), ("a|b", ()),
    ("took [0-9]+ ms", (b"took ", b" ms")), ("(?i)took", ()), ("ms\r", (b"ms",))])
def test_required_runs(pattern, runs):
    """The filter asks only for runs of characters no slot can supply."""
    assert set(grep.Pattern.of(pattern).runs) == set(runs)


def test_bad_pattern_and_non_text_are_one_line_errors(tmp_path, capsys):
    _, omc = sample(tmp_path, 4.0)
    assert main(["grep", "(", str(omc)]) == 2
    image = tmp_path / "i.omc"
    image.write_bytes(omnicodec.encode(Bytes(b"x"), "zstd"))
    assert main(["grep", "x", str(tmp_path / "missing.omc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "bad pattern" in err and "no such file" in err


def test_damaged_files_are_refused_in_one_line(tmp_path):
    """Bytes changed anywhere in a logzip file: codec grep finds what it finds or refuses the
    file with an omnicodec error, never another exception (the template filter parses block
    frames that decode_block has not checked yet)."""
    from omnicodec.errors import OmnicodecError

    _, omc = sample(tmp_path, 0.01)
    blob = omc.read_bytes()
    rng = np.random.default_rng(0)
    bad = tmp_path / "bad.omc"
    refused = 0
    for _ in range(150):
        b = bytearray(blob)
        for i in rng.integers(len(b) // 4, len(b), rng.integers(1, 4)):
            b[i] = rng.integers(0, 256)
        bad.write_bytes(bytes(b))
        try:
            list(grep.grep(bad, grep.Pattern.of("ERROR", fixed=True)))
        except OmnicodecError:
            refused += 1
    assert refused > 100  # a changed byte fails a CRC, a frame or a block check


def test_the_dictionary_reader_refuses_damaged_blocks():
    """block_dictionary on a block with bytes changed or cut: a dictionary or CorruptStreamError."""
    from omnicodec.codecs.logzip.blocks import block_dictionary, encode_block
    from omnicodec.errors import CorruptStreamError

    data = log_like(300, seed=3)
    rng = np.random.default_rng(1)
    for layout, structure in ((1, 1), (2, 1), (2, 2)):
        block = encode_block(data, 0.02, layout, structure)
        assert block_dictionary(block, len(data))[0].count(b"\n") >= 1
        outcomes = set()
        for trial in range(300):
            b = bytearray(block[:rng.integers(0, len(block))] if trial % 4 == 0 else block)
            for i in rng.integers(0, max(1, len(b)), 2 if b else 0):
                b[i] = rng.integers(0, 256)
            try:
                block_dictionary(bytes(b), len(data))
                outcomes.add("read")
            except CorruptStreamError:
                outcomes.add("refused")
        assert outcomes == {"read", "refused"}


def test_worker_processes_find_the_same_lines(tmp_path, monkeypatch):
    """A large stream is searched by worker processes after a few blocks decoded here."""
    import omnicodec.codecs.logzip as lz

    _, omc = sample(tmp_path, 0.01)
    pattern = grep.Pattern.of("WARN", fixed=True)
    alone = list(grep.grep(omc, pattern))
    monkeypatch.setattr(lz, "PARALLEL_DECODE", 0)
    monkeypatch.setattr(lz, "WARMUP_BLOCKS", 1)
    here, real = [], lz.blocks.read_block
    monkeypatch.setattr(lz.blocks, "read_block", lambda b, cap: here.append(1) or real(b, cap))
    assert list(grep.grep(omc, pattern)) == alone and len(alone) > 100
    assert len(here) == 1  # the warm-up block; the workers decoded the others


@pytest.mark.skipif(GREP is None, reason="needs grep")
def test_counts_from_template_ids_are_greps(tmp_path, capfdbinary, monkeypatch):
    """``-c`` of a fixed string only template text can hold is counted from template ids and
    verbatim lines, nothing rendered (rendering is made to fail here), and is grep's count: in
    templates, verbatim lines, generic blocks (random bytes) and CRLF lines; a string that a
    slot could supply part of, and a line across two blocks, take the decoding path."""
    from omnicodec.codecs.logzip import blocks

    rng = np.random.default_rng(4)
    noise = bytes(rng.integers(32, 127, 30000, dtype=np.uint8)).replace(b"~", b"\n") + b"\n"
    data = (log_like(800, seed=3).replace(b"\n", b"\r\n", 100) + noise + b"\x01 verbatim ERROR line\n"
            + b"ERROR at the end, no newline")
    src, omc = tmp_path / "app.log", tmp_path / "app.omc"
    src.write_bytes(data)
    # structure 4: this log's hex after "key=0x" would be structure 5's token slots, whose
    # blocks are counted by decoding them (test_string_slots_print_what_grep_prints)
    omc.write_bytes(omnicodec.encode(Bytes(data), Logzip(block_mb=0.02, structure=4)))
    render = blocks.Structured.render
    monkeypatch.setattr(blocks.Structured, "render", lambda *a: pytest.fail("rendered a block"))
    for literal in ["ERROR", "Cache: evicted", "INFO [main] Server", "opened for bob", "not in the log", "W"]:
        assert grep.Pattern.of(literal, fixed=True).literal == literal.encode()
        status, expected = run_grep(["-F", "-c", literal], src)
        assert main(["grep", "-F", "-c", literal, str(omc)]) == status
        assert capfdbinary.readouterr().out == expected, literal
    assert grep.Pattern.of("took 9", fixed=True).literal == b""  # a digit: a slot's
    assert grep.Pattern.of("ERROR", fixed=True, ignore_case=True).literal == b""
    assert grep.Pattern.of("(?i)ERROR").literal == b"" and grep.Pattern.of("ERR.R").literal == b""
    for literal in ["ERROR", "opened for bob"]:  # a regex of plain characters is that string
        assert grep.Pattern.of(literal).literal == literal.encode()
        status, expected = run_grep(["-c", literal], src)
        assert main(["grep", "-c", literal, str(omc)]) == status
        assert capfdbinary.readouterr().out == expected, literal
    monkeypatch.setattr(blocks.Structured, "render", render)
    long = tmp_path / "long.omc"  # one line longer than a block: its parts are in two blocks
    long.write_bytes(omnicodec.encode(Bytes(b"x ERROR " * 5000 + b"\nERROR\n"), Logzip(block_mb=0.01)))
    assert grep.count(long, grep.Pattern.of("ERROR", fixed=True)) == 2


def test_a_regex_is_tried_only_on_lines_that_hold_its_required_string():
    """``\\S+@`` over a 200,000-byte line without "@": Python's backtracking search took
    minutes (quadratic in the line), where grep answers at once; a line without the string
    every match holds is not searched now, and the lines found are grep's."""
    import time

    text = b"x" * 200_000 + b"\nuser@host\nno at\n" + b"y" * 50 + b" a@b\n"
    pattern = grep.Pattern.of(r"\S+@")
    start = time.perf_counter()
    found = [text[a:b] for a, b in pattern.lines(text)]
    assert time.perf_counter() - start < 1.0
    assert pattern.must == b"@" and found == [b"user@host", b"y" * 50 + b" a@b"]
