"""``codec`` / ``python -m omnicodec``: encode, decode, info, test, archive, verify, restore, list,
demo.

Errors print one line on stderr and exit 1 (2 for usage errors); ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import re
import sys
import time
import warnings
from pathlib import Path

from .. import __version__
from . import progress

QUALITY_HELP = ("lossy quality 0..100 (higher is better, like cjpeg/cwebp); alone, picks the "
                "best lossy codec for the input")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codec", description="Neural and classical compression "
                                "into self-describing .omc files.", epilog="As zstd and xz take them: "
                                "codec -d FILE.omc decodes, -t tests, -l shows the header; -c is the codec "
                                "and -q the quality (as in ffmpeg; -o - writes to stdout).")
    p.add_argument("--version", action="version", version=f"omnicodec {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    talk = argparse.ArgumentParser(add_help=False)  # what the file commands show
    shown = talk.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="show nothing but errors (no per-file lines, "
                       "no progress bar)")
    shown.add_argument("-v", "--verbose", action="store_true", help="each file's line also gives the "
                       "rate (bpp or kbit/s) and the ratio")

    e = sub.add_parser("encode", help="compress files to .omc", parents=[talk])
    e.add_argument("inputs", nargs="+", metavar="IN", help="files, directories or globs; - reads "
                   "stdin (and writes stdout unless -o is given)")
    e.add_argument("-o", "--output", help="output file (one input) or directory (several); - is stdout")
    e.add_argument("-c", "--codec", help="codec id (see `codec list`); default: best lossless")
    e.add_argument("-q", "--quality", type=float, help=QUALITY_HELP)
    _overwrite_args(e)
    e.add_argument("--allow-loss", action="store_true", help="let an explicit codec drop what it "
                   "cannot keep (frames, tracks, bit depth, palette) instead of refusing")
    e.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip decoding each output to check it before writing it")
    e.add_argument("-O", "--option", action="append", default=[], metavar="NAME=VALUE", help="a setting of "
                   "the codec given with -c, checked against what it takes (e.g. -O level=3 for zstd, -O "
                   "preset=slow for x265, -O speed=4 for avif; `codec list --options` shows them); repeatable")
    e.add_argument("-b", "--bitrate", type=bit_rate, metavar="RATE", help="bits per second for the codec "
                   "given with -c, e.g. 32k: opus's own rate control, a search of the quality for the others "
                   "(sound and video); it overrides -q")
    e.add_argument("--bpp", type=float, help="bits per pixel for the lossy codec given with -c (images; video: "
                   "per pixel of every frame): the highest quality whose file is within it (about 8 encodes)")
    e.add_argument("--size", type=byte_size, metavar="SIZE", help="the most bytes each output may take "
                   "(e.g. 20K), for the lossy codec given with -c: the highest quality within it")
    e.add_argument("--crf", type=float, help="the CRF of x264, x265 (0..51) or svtav1 (0..63), as "
                   "ffmpeg takes it: sets the quality that maps to it (instead of -q)")
    e.add_argument("-T", "--threads", "--workers", dest="workers", type=positive_int, metavar="N",
                   help="processes that encode a streaming codec's blocks (logzip); default: every core; "
                   "same output for any N")

    d = sub.add_parser("decode", help="restore .omc files", parents=[talk])
    d.add_argument("inputs", nargs="+", metavar="IN", help=".omc files or directories; - reads stdin "
                   "(and writes stdout unless -o is given)")
    d.add_argument("-o", "--output", help="output file (its extension picks the format) or directory; "
                   "- is stdout (in the original format)")
    _overwrite_args(d)
    d.add_argument("--allow-loss", action="store_true", help="with -o NAME.EXT in the stored stream's own "
                   "format (.webp, .opus, .mkv, .mp4...), write it even if side data (PNG chunks, the WAV "
                   "wrapper) is left out")
    d.add_argument("--lines", metavar="A:B", help="restore only lines A to B (1-based, inclusive, "
                   "like sed -n A,Bp) of a text/log stream; logzip decodes only the blocks needed")
    d.add_argument("--frames", metavar="A:B", help="decode only frames A to B (1-based, inclusive) of a "
                   "video stream that seeks (stem: from the intra frame before A) to .y4m")
    d.add_argument("--repair", action="store_true", help="restore damaged payload sections where the "
                   "codec can (vq: from the intact tiles around them), with a warning, instead of failing")
    d.add_argument("--max-memory", type=byte_size, metavar="SIZE", help="refuse a file whose decode "
                   "would need more memory than SIZE (e.g. 2G, 512M; default 16G), before allocating; "
                   "streamed decodes (logs, stored bytes) hold one block at a time and always run, as do copies "
                   "of a stored stream to its own format; stem video to .y4m is checked for one frame")

    g = sub.add_parser("grep", help="print the lines of .omc text and log files that match a pattern, as grep "
                       "would on the decoded text (logzip files are filtered in compressed form)")
    g.add_argument("pattern", help="a regular expression (Python's syntax, like grep -E; grep's [[:digit:]] "
                   "classes and \\< \\> too) or, with -F, a string")
    g.add_argument("inputs", nargs="+", metavar="FILE.omc")
    g.add_argument("-F", "--fixed-strings", action="store_true", help="the pattern is a plain string")
    g.add_argument("-i", "--ignore-case", action="store_true", help="ignore case")
    g.add_argument("-c", "--count", action="store_true", help="print only the number of matching lines")
    g.add_argument("-n", "--line-number", action="store_true", help="prefix each line with its number (1-based)")
    g.add_argument("--lines", metavar="A:B", help="search only lines A to B (1-based, inclusive)")
    i = sub.add_parser("info", help="show .omc headers, with rate, duration and ratio")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--json", action="store_true", help="machine-readable output (an object for one "
                   "file, a list for several)")

    c = sub.add_parser("test", parents=[talk], help="check .omc files without writing anything (checksums, a full "
                       "decode, lossless digests); exit 1 on any problem, like xz -t")
    c.add_argument("inputs", nargs="+", metavar="FILE", help=".omc files or directories")

    a = sub.add_parser("archive", parents=[talk], help="compress a directory tree into .omc files and a manifest, "
                       "on a Dask cluster (resumable)", description="Compress every file under SRC into "
                       "DEST/PATH.omc on a dask.distributed cluster (a local one by default), with a manifest "
                       "(DEST/omnicodec-manifest.sqlite); run it again to finish an interrupted archive.")
    a.add_argument("src", help="the directory tree to archive")
    a.add_argument("dest", help="the archive directory (created if needed)")
    a.add_argument("-c", "--codec", help="codec id for the files of its modality (the others are coded "
                   "losslessly); default: best lossless for each file")
    a.add_argument("-q", "--quality", type=float, help=QUALITY_HELP)
    a.add_argument("-O", "--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting of the codec given with -c (see encode -O); repeatable")
    a.add_argument("-b", "--bitrate", type=bit_rate, metavar="RATE", help="bits per second for the codec "
                   "given with -c (see encode -b)")
    a.add_argument("--crf", type=float, help="the CRF of the video codec given with -c (see encode --crf)")
    _cluster_args(a)
    v = sub.add_parser("verify", parents=[talk], help="check every file of an archive (digests and a full decode)")
    v.add_argument("dest", help="the archive directory")
    _cluster_args(v)
    r = sub.add_parser("restore", parents=[talk], help="write the files of an archive back, each checked")
    r.add_argument("dest", help="the archive directory")
    r.add_argument("out", help="where the tree is restored (created if needed)")
    r.add_argument("-f", "--force", action="store_true", help="overwrite existing files under OUT")
    _cluster_args(r)

    t = sub.add_parser("train", help="train a learned codec's model (resumable) and export its weights",
                       description="Train any learned codec's model; see docs/training.md for the queue.")
    t.add_argument("model", help="learned codec id, e.g. hyperprior")
    t.add_argument("--data", required=True, help="training folder (never a test set); every 20th file, "
                   "or a val/ subfolder, is held out for validation")
    t.add_argument("--steps", type=int, required=True, help="total steps, counting resumed ones")
    t.add_argument("--out", help="checkpoint folder (default runs/MODEL)")
    t.add_argument("--resume", help="checkpoint to continue exactly (its settings hold unless given here)")
    t.add_argument("--init", help="start a new run from a weights file or checkpoint (weights and step "
                   "count only; modules it lacks keep their init)")
    t.add_argument("--config", default="", help="model config of a new run, KEY=VALUE,... "
                   "(e.g. M=192,context=checkerboard)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--minutes", type=float, default=0.0, help="stop (with a checkpoint) after this "
                   "much wall time")
    for flag, kind, what in (("lr", float, "peak learning rate (default 1e-4)"),
                             ("final-lr", float, "lr at the last step, as a fraction of --lr (default 0.1)"),
                             ("warmup", int, "warm-up steps at the run's start (default 0)"),
                             ("decay-from", int, "step where the cosine decay starts (default: halfway)"),
                             ("batch", int, "batch size (default 8)"),
                             ("size", int, "crop side or audio chunk length (default 128)"),
                             ("ema", float, "EMA decay of the exported weights, e.g. 0.999 (default off)"),
                             ("checkpoint-minutes", float, "checkpoint interval (default 5)"),
                             ("val-every", int, "steps between validations (default 200)"),
                             ("seed", int, "seed of a new run (default 0)")):
        t.add_argument(f"--{flag}", type=kind, help=what)
    t.add_argument("--export", metavar="DIR", help="afterwards, write the weights + MANIFEST "
                   "entry to DIR (omnicodec/weights to ship them)")
    t.add_argument("--name", default="", help="weights file name (default MODEL-...-STEP.pt; "
                   "never reuse a shipped name: old streams need the old file)")

    k = sub.add_parser("pack-data", help="pack an image training set into a small folder "
                       "(re-encoded crops) for the GPU machine")
    k.add_argument("src")
    k.add_argument("dst")
    k.add_argument("--mib", type=float, default=24, help="byte budget in MiB (default 24)")
    k.add_argument("--tile", type=int, default=320, help="crop side in pixels (default 320)")

    b = sub.add_parser("bench", parents=[talk], help="rate-distortion of codecs on your own files: a table, BD-rates "
                       "and a plot", description="Encode each file with each codec at each quality, decode it, "
                       "and report bytes, rate (bpp or kbit/s of the whole .omc), PSNR (SNR for sound), "
                       "MS-SSIM for images, encode and decode times, the BD-rate of each codec against the "
                       "reference, and an RD plot.")
    b.add_argument("files", nargs="+", metavar="FILE", help="images, sounds or videos")
    b.add_argument("--codecs", help="comma-separated codec ids (default: jpeg,webp,avif for images, "
                   "mp3,vorbis,opus for sound, x264,x265,svtav1 for video)")
    b.add_argument("--qualities", default="10,30,50,70,90", help="comma-separated qualities 0..100 "
                   "(4 or more for a BD-rate; default 10,30,50,70,90)")
    b.add_argument("--reference", help="the codec the BD-rates are against (default: the first)")
    b.add_argument("--plot", default="codec-bench.png", metavar="PNG", help="where the RD plot goes "
                   "(default codec-bench.png; - for none)")
    b.add_argument("--json", metavar="OUT", help="also write every point and the BD-rates as JSON")

    li = sub.add_parser("list", help="list codecs and whether they are available here")
    li.add_argument("--options", action="store_true", help="also each codec's options (-O NAME=VALUE)")
    sub.add_parser("demo", help="encode and decode the bundled samples and print a table")
    return p


def _overwrite_args(p: argparse.ArgumentParser) -> None:
    """-f, and the flags zstd/xz/gzip users type out of habit: -k and -n ask for what codec
    always does (inputs are never deleted, outputs never overwritten without -f)."""
    clobber = p.add_mutually_exclusive_group()
    clobber.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    clobber.add_argument("-n", "--no-clobber", action="store_true", help="never overwrite an output (the default)")
    p.add_argument("-k", "--keep", action="store_true", help="keep the inputs (always: codec never deletes one)")


ALIASES = {"-d": "decode", "--decompress": "decode", "-t": "test", "--test": "test", "-l": "info",
           "--list": "info"}  # zstd/xz habits as the first argument: codec -d FILE.omc, codec -t FILE.omc


def _cluster_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, metavar="N", help="processes of the local cluster "
                       "(default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running dask scheduler, e.g. "
                       "tcp://10.0.0.5:8786 (its workers must see the same paths)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ALIASES:
        argv[0] = ALIASES[argv[0]]
    args = build_parser().parse_args(argv)
    progress.QUIET = getattr(args, "quiet", False)
    warnings.showwarning = _one_line_warning
    _names_as_bytes()
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("codec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `codec info ... | head`: the reader left; so do we, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # one line for users; the traceback with --debug
        if args.debug:
            raise
        from ..errors import OmnicodecError

        expected = isinstance(exc, (OmnicodecError, OSError, ValueError))
        msg = str(exc) if expected else f"internal error: {type(exc).__name__}: {exc}"
        print(f"codec: error: {msg}".splitlines()[0], file=sys.stderr)
        return 2 if args.command == "grep" else 1  # grep's status for an error


def _names_as_bytes() -> None:
    """File names that are not UTF-8 (Python holds their odd bytes as surrogates) print as
    their bytes on stdout, as ls prints them, and escaped on stderr, whatever the locale (a
    UTF-8 locale's strict stdout raised on them)."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors=errors)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (a repaired stream, a deprecation) as one line on stderr, like an error."""
    print(f"codec: warning: {message}".splitlines()[0], file=sys.stderr)


# ------------------------------------------------------------------------------- commands
def expand(inputs: list[str], skip_suffix: str | None = None, only_suffix: str | None = None
           ) -> list[tuple[Path, Path | None]]:
    """(file, the directory it was found under or None): files named directly, every file
    under directories (hidden ones too; never our temporary files), and glob matches."""
    from ..api import TMP_MARK

    def keep(q: Path) -> bool:
        return (q.is_file() and TMP_MARK not in q.name and not (skip_suffix and q.name.endswith(skip_suffix))
                and (only_suffix is None or q.name.endswith(only_suffix)))

    out: list[tuple[Path, Path | None]] = []
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            out += [(q, p) for q in sorted(p.rglob("*")) if keep(q)]
        elif any(ch in name for ch in "*?[") and not p.exists():
            matches = sorted(Path(m) for m in glob.glob(name, recursive=True))
            if not matches:
                raise FileNotFoundError(f"{name}: no files match")
            out += [(m, None) for m in matches if keep(m)]
        else:
            out.append((p, None))
    return out


def _out_dir(args, files: list[tuple[Path, Path | None]]) -> Path | None:
    """The directory outputs mirror their inputs under, or None for a single named output."""
    if args.output is None:
        return None
    out = Path(args.output)
    if len(files) == 1 and files[0][1] is None and not out.is_dir() and not args.output.endswith(("/", os.sep)):
        return None  # (-o NAME/ names a folder, made if missing)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _claimed_once():
    """A check that no output path is written twice in one run: with --force, a second input
    of the same name (d1/a.txt and d2/a.txt into one folder) overwrote the first's output,
    silently (until 2026-12-07 #23)."""
    claimed: set[Path] = set()

    def claim(dst: Path) -> None:
        key = Path(os.path.realpath(dst))
        if key in claimed:
            raise FileExistsError(f"{dst}: another input of this run was written there")
        claimed.add(key)
    return claim


def _place(out: Path, src: Path, base: Path | None) -> Path:
    """The folder under ``out`` that mirrors ``src``'s place under ``base`` (made if needed)."""
    folder = out / src.parent.relative_to(base) if base is not None else out
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _each(files, work) -> int:
    """Run ``work(src, base)`` on every file; a failure is reported with its path and the
    batch goes on (exit status 1 at the end, as xz and zstd do)."""
    shown, failed = progress.Files([src for src, _ in files]), 0
    try:
        for src, base in files:
            try:
                shown.step(src, work(src, base))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - reported per file, the batch goes on
                if len(files) == 1:
                    raise
                failed += 1
                shown.fail(src, exc)
    finally:
        shown.close()
    if failed:
        print(f"codec: {failed} of {len(files)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _through_pipes(args, command) -> int | None:
    """``-`` as the one input (stdin) or as ``-o -`` (stdout), as zstd and xz take them: the
    work runs on files in a private temporary folder (the file layer identifies, streams and
    verifies files), which are copied from stdin and to stdout.  None when no pipe is asked."""
    import shutil
    import tempfile

    if "-" not in args.inputs and args.output != "-":
        return None
    if len(args.inputs) != 1:
        raise ValueError("- (stdin, or -o - for stdout) works with one input at a time")
    with tempfile.TemporaryDirectory(prefix="omc-pipe-") as tmp:
        folder = Path(tmp)
        if args.inputs == ["-"]:
            src = folder / ("stdin.omc" if command is cmd_decode else "stdin")
            with src.open("wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        else:
            src = Path(args.inputs[0])
        to_stdout = args.output in (None, "-")
        (folder / "out").mkdir()
        piped = argparse.Namespace(**{**vars(args), "inputs": [str(src)],
                                      "output": str(folder / "out") if to_stdout else args.output})
        status = command(piped)
        if to_stdout and status == 0:
            (result,) = (folder / "out").iterdir()
            with result.open("rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
        return status


def cmd_encode(args) -> int:
    from .. import api

    piped = _through_pipes(args, cmd_encode)
    if piped is not None:
        return piped
    codec, target = _configured(args), _target(args)
    files = expand(args.inputs, skip_suffix=api.OMC_EXT)
    out = _out_dir(args, files)

    claim = _claimed_once()

    def work(src: Path, base: Path | None) -> str:
        t = time.perf_counter()
        if out is None:
            dst = Path(args.output) if args.output else src.with_name(src.name + api.OMC_EXT)
        else:
            dst = _place(out, src, base) / (src.name + api.OMC_EXT)
        claim(dst)
        path, header = api.encode_file(src, dst, codec=codec, quality=args.quality, force=args.force,
                                       progress=progress.Throughput(src), allow_loss=args.allow_loss,
                                       verify=args.verify, workers=args.workers, target=target)
        size, done = src.stat().st_size, path.stat().st_size
        line = (f"{src} -> {path}  [{header.codec}] {size} -> {done} bytes "
                f"({size / max(done, 1):.2f}x, {time.perf_counter() - t:.2f}s)")
        if args.verbose:
            from ..items import stream_facts

            facts = stream_facts(header.modality, header.meta, done)
            line += "".join(f"  {k} {facts[k]:.4g}" for k in ("bpp", "kbit_s", "duration_s", "bits_per_byte")
                            if facts.get(k) is not None)
        return line

    return _each(files, work)


def cmd_decode(args) -> int:
    from .. import api, limits

    if args.max_memory is not None:
        limits.MAX_MEMORY = args.max_memory
    piped = _through_pipes(args, cmd_decode)
    if piped is not None:
        return piped
    files = expand(args.inputs, only_suffix=api.OMC_EXT)
    lines = parse_lines(args.lines) if args.lines else None
    frames = parse_lines(args.frames, "--frames") if args.frames else None
    out = _out_dir(args, files)

    claim = _claimed_once()

    def work(src: Path, base: Path | None) -> str:
        t = time.perf_counter()
        named = out is None and args.output
        if named:
            dst = Path(args.output)
        else:  # the original file, under the name it restores to (beside the .omc or in the folder)
            dst = (src.parent if out is None else _place(out, src, base)) / api.restored_name(src)
        claim(dst)
        path, _ = api.decode_file(src, dst, force=args.force, lines=lines, allow_loss=args.allow_loss,
                                  repair=args.repair, frames=frames, original=not named)
        return f"{src} -> {path}  ({time.perf_counter() - t:.2f}s)"

    return _each(files, work)


def _configured(args):
    """The codec asked for: its id, or a configured codec when -O options are given (``--crf``
    becomes the quality that maps to it)."""
    from .. import api, registry

    if args.crf is not None:
        quality_for_crf = getattr(registry.get_codec_class(args.codec), "quality_for_crf", None) if args.codec else None
        if quality_for_crf is None:
            raise ValueError("--crf is for the CRF video codecs: name one with -c (x264, x265, svtav1)")
        if args.quality is not None:
            raise ValueError("--crf and -q both set the quality: give one of them")
        args.quality = quality_for_crf(args.crf)

    if (args.option or args.bitrate is not None) and not args.codec:
        raise ValueError(f"{'-O' if args.option else '-b'} sets an option of the codec given with -c; "
                         "name the codec (e.g. -c opus -b 32k)")
    native = args.bitrate is not None and _takes_bitrate(args.codec)
    if not args.option and not native:
        return args.codec
    options = api.parse_options(args.codec, args.option)
    if native:
        options["bitrate"] = args.bitrate
    return api.get_codec(args.codec, args.quality, **options)


def _takes_bitrate(codec_id: str) -> bool:
    """Whether the codec (named: ``_configured`` has checked) has its own rate control (a
    ``bitrate`` option: opus)."""
    import dataclasses

    from .. import registry

    return any(f.name == "bitrate" for f in dataclasses.fields(registry.get_codec_class(codec_id)))


def _target(args):
    """The size target of --bpp, --size or a -b for a codec without its own rate control."""
    from .. import api

    asked = {k: v for k, v in (("bpp", args.bpp), ("size", args.size)) if v is not None}
    if args.bitrate is not None and not _takes_bitrate(args.codec):
        asked["bitrate"] = args.bitrate
    if not asked:
        return None
    if len(asked) > 1 or args.quality is not None:
        raise ValueError(f"{', '.join(asked)}{' and -q' if args.quality is not None else ''} all set the "
                         "quality: give one of them")
    if not args.codec:
        raise ValueError("a size target is met by searching a lossy codec's quality: name the codec with -c")
    return api.Target(**asked)


def cmd_grep(args) -> int:
    """grep's output and exit status: 0 if a line matched, 1 if none (2 for an error)."""
    from .. import grep

    pattern = grep.Pattern.of(args.pattern, args.fixed_strings, args.ignore_case)
    start, stop = parse_lines(args.lines) if args.lines else (0, None)
    out, matched = sys.stdout.buffer, False
    for path in args.inputs:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
        prefix = os.fsencode(path) + b":" if len(args.inputs) > 1 else b""
        if args.count:
            count = grep.count(path, pattern, start, stop)
            out.write(prefix + b"%d\n" % count)
        else:
            count, lines = 0, []
            try:
                for number, line in grep.grep(path, pattern, start, stop):
                    count += 1
                    lines.append(prefix + (b"%d:" % (number + 1) if args.line_number else b"") + line + b"\n")
                    if len(lines) >= 1024:  # one write a batch, whatever stdout's buffering
                        out.write(b"".join(lines))
                        lines.clear()
            finally:  # the lines found before an error are printed, as grep does
                out.write(b"".join(lines))
        matched = matched or count > 0
    out.flush()
    return 0 if matched else 1


def cmd_info(args) -> int:
    from .. import api

    infos, failed = [], 0
    for name in args.files:
        try:
            header = api.open(name)
        except (OSError, ValueError) as exc:  # the file is named in the message
            failed += 1
            print(f"codec: error: {str(exc).splitlines()[0]}", file=sys.stderr)
            continue
        infos.append(api.describe(name, header))
    if args.json:
        print(json.dumps(infos[0] if len(args.files) == 1 and infos else infos, indent=2, sort_keys=True))
    for n, info in enumerate(infos if not args.json else ()):
        if n:
            print()
        width = max(len(k) for k in info)
        for key, value in info.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
            elif isinstance(value, float):
                value = f"{value:.4g}"
            print(f"{key:<{width}}  {value if value not in (None, '') else '-'}")
    return 1 if failed else 0


def cmd_test(args) -> int:
    from .. import api

    files = expand(args.inputs, only_suffix=api.OMC_EXT)

    def work(src: Path, base: Path | None) -> str:
        header = api.test_file(src)
        return f"{src}: OK [{header.codec}]"

    return _each(files, work)


def cmd_archive(args) -> int:
    from .. import archive

    codec = _configured(args)
    if args.bitrate is not None and not _takes_bitrate(args.codec):
        raise ValueError(f"archive takes -b for codecs with their own rate control (opus), not {args.codec}: "
                         "use -q or --crf")
    report = archive.archive(args.src, args.dest, codec=codec, quality=args.quality, workers=args.workers,
                             scheduler=args.scheduler, progress=progress.Tree("archived"))
    return _summary(report, f"{report.done} archived, {report.skipped} already done and unchanged, "
                    f"{report.failed} failed, {report.links} links; "
                    f"{report.bytes_in / 2**20:.1f} MB -> {report.bytes_out / 2**20:.1f} MB")


def cmd_verify(args) -> int:
    from .. import archive

    report = archive.verify(args.dest, workers=args.workers, scheduler=args.scheduler,
                            progress=progress.Tree("verified"))
    return _summary(report, f"{report.done} of {report.files} files verified ({report.links} links), "
                    f"{report.failed} problems")


def cmd_restore(args) -> int:
    from .. import archive

    report = archive.restore(args.dest, args.out, force=args.force, workers=args.workers,
                             scheduler=args.scheduler, progress=progress.Tree("restored"))
    return _summary(report, f"{report.done} of {report.files} files and {report.links} links restored to "
                    f"{args.out}, {report.failed} problems")


def _summary(report, line: str) -> int:
    """Problems one per line (the first 20), then the totals; 1 if there was any problem."""
    for path, problem in report.problems[:20]:
        print(f"codec: error: {path}: {problem}", file=sys.stderr)
    if len(report.problems) > 20:
        print(f"codec: ... and {len(report.problems) - 20} more problems", file=sys.stderr)
    print(f"{line} ({report.seconds:.1f}s on {report.workers} workers)", file=sys.stderr)
    return 1 if report.problems else 0


def cmd_list(args) -> int:
    from .. import api

    rows = [("codec", "modality", "lossless", "available", "description")]
    for c in api.list_codecs():
        avail = "yes" if c.available else f"no: needs {', '.join(c.missing)}" + (
            f" (pip install 'omnicodec[{c.extra}]')" if c.extra else "")
        rows.append((c.codec_id, c.modality, "yes" if c.lossless else "no", avail, c.description))
        if args.options:
            rows += [("", "", "", "", f"-O {o}") for o in c.options]
    print_table(rows)
    return 0


def cmd_train(args) -> int:
    from ..errors import MissingDependencyError

    try:
        from ..models.train import TrainConfig, export, parse_config, train
    except ImportError as exc:
        raise MissingDependencyError(f"training needs the neural extra ({exc.name}): "
                                     "pip install 'omnicodec[neural]'") from None
    names = ("lr", "final_lr", "warmup", "decay_from", "batch", "size", "ema", "checkpoint_minutes",
             "val_every", "seed")
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    ckpt = train(args.model, Path(args.data), Path(args.out or f"runs/{args.model}"),
                 TrainConfig(steps=args.steps, **given), resume=Path(args.resume) if args.resume else None,
                 init=Path(args.init) if args.init else None, model_config=parse_config(args.config),
                 device=args.device, minutes=args.minutes, overrides={"steps": args.steps, **given},
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"checkpoint: {ckpt}")
    if args.export:
        name, entry = export(ckpt, Path(args.export), args.name)
        print(f"exported {args.export}/{name}.omw sha256={entry['sha256']} steps={entry['steps']}")
    return 0


def cmd_pack_data(args) -> int:
    from ..datasets.training import pack_images

    info = pack_images(Path(args.src), Path(args.dst), int(args.mib * 2**20), args.tile)
    print(f"{args.dst}: {info['train_tiles']} training crops of {info['of_tiles']} "
          f"({info['tile']} px), {info['val_crops']} validation crops, {info['bytes'] / 2**20:.1f} MiB")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    print_table(run_demo())
    return 0


def cmd_bench(args) -> int:
    from .. import api, bench

    items = []
    for name in args.files:
        with api.naming(name):
            items.append((name, api.read(name, allow_loss=True)))  # measured, never written
    modalities = {item.modality for _, item in items}
    if args.codecs:
        codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    elif len(modalities) == 1 and next(iter(modalities)) in bench.DEFAULT_CODECS:
        codecs = list(bench.DEFAULT_CODECS[next(iter(modalities))])
    else:
        raise ValueError("these files are of several kinds (or bytes): name the codecs with --codecs")
    for codec_id in codecs:
        api.get_codec(codec_id)  # an unknown codec fails before any work
    try:
        qualities = [float(q) for q in args.qualities.split(",")]
    except ValueError:
        raise ValueError(f"--qualities takes numbers separated by commas, got {args.qualities!r}") from None
    reference = args.reference or codecs[0]
    if reference not in codecs:
        raise ValueError(f"the reference {reference} is not one of --codecs")
    rows = []
    print("\n".join(bench.table([])), flush=True)
    shown = progress.bar(len(items) * len(codecs) * len(qualities), "point", "bench")
    for name, item in items:
        for codec_id in codecs:
            for q in qualities:
                rows.append(bench.measure(name, item, codec_id, q))
                progress.say(bench.table(rows[-1:])[1], shown, sys.stdout)
                if shown is not None:
                    shown.update(1)
    if shown is not None:
        shown.close()
    bds = bench.bd_rates(rows, reference)
    for name, per_codec in bds.items():
        print(f"BD-rate against {reference} on {name}: " + ", ".join(
            f"{c} {v:+.1f}%" if isinstance(v, float) else f"{c} {v}" for c, v in per_codec.items()))
    if args.plot != "-":
        bench.plot(rows, Path(args.plot))
        print(f"plot: {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "bd_rate": bds, "reference": reference},
                                              indent=1, default=str) + "\n")
    return 1 if any("error" in r for r in rows) else 0


COMMANDS = {"encode": cmd_encode, "decode": cmd_decode, "grep": cmd_grep, "info": cmd_info, "test": cmd_test,
            "archive": cmd_archive,
            "verify": cmd_verify, "restore": cmd_restore, "list": cmd_list,
            "demo": cmd_demo, "train": cmd_train, "pack-data": cmd_pack_data, "bench": cmd_bench}


# -------------------------------------------------------------------------------- helpers
def print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def parse_lines(spec: str, flag: str = "--lines") -> tuple[int, int]:
    """'A:B' (1-based, inclusive; 'A:' to the end, ':B' from the start) -> 0-based [start, stop)."""
    try:
        a, b = spec.split(":")
        start = int(a) - 1 if a else 0
        stop = int(b) if b else 2**62
    except ValueError:
        raise ValueError(f"{flag} expects A:B, e.g. 100:200, got {spec!r}") from None
    if start < 0 or stop <= start:
        raise ValueError(f"{flag} {spec}: need 1 <= A <= B")
    return start, stop


def byte_size(text: str) -> int:
    """argparse type: a byte count, with an optional K, M, G or T suffix (powers of 1024)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not match or float(match[1]) * units[match[2]] < 1:
        raise argparse.ArgumentTypeError(f"expected a size such as 2G, 512M or 1048576, got {text!r}")
    return int(float(match[1]) * units[match[2]])


def bit_rate(text: str) -> int:
    """argparse type: bits per second, with an optional k or M suffix (powers of 1000, as
    ffmpeg's -b:a 32k)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*(?:b(?:it)?(?:/s|ps)?)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a bitrate such as 32k, 1.5M or 64000, got {text!r}")
    return int(round(float(match[1]) * {"": 1, "k": 1000, "m": 1_000_000}[match[2].lower()]))


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
