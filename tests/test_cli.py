"""The `codec` command line: round trips, batch mode, and one-line errors that lose nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omnicodec.cli.main import main
from omnicodec.datasets.files import write_item

from .common import make_audio, make_bytes, make_image, make_video


def run(*args):
    return main([str(a) for a in args])


def test_image_encode_info_decode(tmp_path, capsys):
    src = tmp_path / "pic.png"
    write_item(make_image(), src)
    assert run("encode", src) == 0
    omc = tmp_path / "pic.png.omc"
    assert run("info", omc, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["codec"] == "jxl-lossless" and info["meta"]["width"] == 53
    out = tmp_path / "back.png"
    assert run("decode", omc, "-o", out) == 0
    from omnicodec.datasets.files import read_item
    assert read_item(out).digest() == read_item(src).digest()


@pytest.mark.parametrize("name,item,lossy", [
    ("a.wav", make_audio(), "opus"), ("v.y4m", make_video(), "svtav1"), ("log.txt", make_bytes(), None)])
def test_default_codecs_by_modality(tmp_path, capsys, name, item, lossy):
    src = tmp_path / name
    write_item(item, src) if item.modality != "bytes" else src.write_bytes(item.data)
    assert run("encode", src, "-q", "60", "-o", tmp_path / "x.omc") == 0
    run("info", tmp_path / "x.omc", "--json")
    header = json.loads(capsys.readouterr().out)
    assert header["codec"] == (lossy or "logzip") and header["source"]["name"] == name
    # decode restores the original name and extension beside the .omc
    (tmp_path / name).unlink()
    os.rename(tmp_path / "x.omc", tmp_path / f"{name}.omc")
    assert run("decode", tmp_path / f"{name}.omc") == 0
    assert (tmp_path / name).exists()


def test_batch_directory_and_glob(tmp_path):
    for i in range(3):
        (tmp_path / f"f{i}.log").write_bytes(make_bytes(lines=20, seed=i).data)
    outdir = tmp_path / "out"
    outdir.mkdir()
    assert run("encode", tmp_path, "-o", outdir, "-c", "zstd") == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["f0.log.omc", "f1.log.omc", "f2.log.omc"]
    back = tmp_path / "back"
    back.mkdir()
    assert run("decode", str(outdir / "*.omc"), "-o", back) == 0
    assert (back / "f1.log").read_bytes() == (tmp_path / "f1.log").read_bytes()


def _one_line_error(capsys, code):
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("codec: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_errors_are_one_line_and_lose_nothing(tmp_path, capsys):
    src = tmp_path / "data.bin"
    src.write_bytes(b"payload" * 100)
    _one_line_error(capsys, run("encode", tmp_path / "missing.png"))
    assert "unknown codec" in _one_line_error(capsys, run("encode", src, "-c", "nope"))
    assert "cannot read image" in _one_line_error(capsys, run("encode", src, "-c", "jpeg"))
    assert run("encode", src) == 0
    capsys.readouterr()
    omc = tmp_path / "data.bin.omc"
    before = omc.read_bytes()
    assert "exists" in _one_line_error(capsys, run("encode", src))
    assert omc.read_bytes() == before  # never overwritten without --force
    assert "overwrite the input" in _one_line_error(capsys, run("encode", src, "-o", src, "-f"))
    assert src.read_bytes() == b"payload" * 100
    # corrupt, truncated and future-version files: one line, no output file left behind
    bad = tmp_path / "bad.omc"
    for blob in (before[:-3], before[:30], before[:50] + b"\xff" + before[51:],
                 before[:8] + b"\x07" + before[9:], b"not an omc file"):
        bad.write_bytes(blob)
        _one_line_error(capsys, run("decode", bad, "-o", tmp_path / "restored.bin"))
        assert not (tmp_path / "restored.bin").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_encoding_with_decode_only_weights_is_refused_in_one_line(tmp_path, capsys):
    """The hyperprior's old defaults ship without their analysis nets: their streams decode
    (the fixtures), a new encode with them is refused and writes nothing."""
    from omnicodec.codecs.learned import manifest

    src = tmp_path / "a.png"
    write_item(make_image(32, 48), src)
    old = manifest()["hyperprior-none-64000.pt"]
    assert old["dropped"] == ["g_a", "h_a"]
    err = _one_line_error(capsys, run("encode", src, "-c", "hyperprior", "-O", f"weights={old['sha256']}"))
    assert "decode old streams only" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_unwritable_output_format_is_refused(tmp_path, capsys):
    src = tmp_path / "a.png"
    write_item(make_image(), src)
    run("encode", src)
    capsys.readouterr()
    assert "cannot write image as .mp3" in _one_line_error(
        capsys, run("decode", tmp_path / "a.png.omc", "-o", tmp_path / "x.mp3"))
    assert not (tmp_path / "x.mp3").exists()


def test_list_names_every_codec(capsys):
    from omnicodec import registry

    assert run("list") == 0
    out = capsys.readouterr().out
    for cid in registry.codec_ids():
        assert f"\n{cid} " in out


def test_demo_table_is_exact_for_lossless_rows(capsys):
    assert run("demo") == 0
    rows = [r for r in capsys.readouterr().out.splitlines()[2:] if r.strip()]
    assert len(rows) >= 4
    assert "MISMATCH" not in "\n".join(rows)
    # five samples' defaults, the FLAC's samples as FLAC, and pc on the grid of digits
    assert sum("exact" in r for r in rows) == 7
    assert any(r.split()[:2] == ["mnist-test-100.png", "pc"] for r in rows)
    learned = [r.split()[0] for r in rows if r.split()[1] == "walloc"]  # every image and the audio
    assert learned == ["kodim23.png", "mnist-test-100.png", "speech-female-3s.flac"]
    for learned in ("vq", "mcquic"):
        assert [r.split()[0] for r in rows if r.split()[1] == learned] == ["kodim23.png", "mnist-test-100.png"]
    assert [r.split()[0] for r in rows if r.split()[1] == "stem"] == ["CiscoVT2people_160x96_6fps.y4m"]
    opus = next(r.split() for r in rows if "opus 32k" in r)
    assert abs(float(opus[opus.index("kbit/s") - 1]) / 32 - 1) < 0.05  # the whole .omc file's rate


def test_python_dash_m_and_help_are_light():
    """`codec --help` and `import omnicodec` import neither torch, compressai, numba nor dask."""
    code = ("import sys, omnicodec, omnicodec.cli.main as m\n"
            "try:\n    m.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "bad = [k for k in ('torch', 'compressai', 'numba.cuda', 'numba', 'dask', 'distributed') if k in sys.modules]\n"
            "sys.exit(repr(bad) if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "omnicodec", "--version"], capture_output=True, text=True)
    assert proc.stdout.startswith("omnicodec ")


def test_readme_python_example_runs(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)


def test_container_video_input_is_read_through_pyav(tmp_path):
    """An .mkv (any FFmpeg container) is kept as its own bytes by default, and read through
    PyAV (its frames re-encoded) when a video codec is asked for."""
    import omnicodec
    from omnicodec.datasets.files import read_item

    video = make_video(frames=4)
    src = tmp_path / "clip.mkv"
    src.write_bytes(omnicodec.get_codec("ffv1").encode(video)["DATA"])
    assert read_item(src).digest() == video.digest()
    assert run("encode", src) == 0
    assert omnicodec.open(tmp_path / "clip.mkv.omc").modality == "bytes"
    assert run("encode", src, "-c", "ffv1", "-o", tmp_path / "frames.omc") == 0
    assert omnicodec.open(tmp_path / "frames.omc").codec == "ffv1"


def test_line_range_from_a_codec_without_block_index(tmp_path):
    src = tmp_path / "a.txt"
    src.write_bytes(b"one\ntwo\r\nthree\nfour")
    assert run("encode", src, "-c", "zstd") == 0
    out = tmp_path / "part.txt"
    assert run("decode", tmp_path / "a.txt.omc", "--lines", "2:4", "-o", out) == 0
    assert out.read_bytes() == b"two\r\nthree\nfour"


def test_workers_changes_nothing_in_the_output(tmp_path, capsys):
    from omnicodec import api

    src = tmp_path / "app.log"
    src.write_bytes(make_bytes(lines=3000).data)
    outs = []
    for n in ("1", "2"):
        outs.append(tmp_path / f"w{n}.omc")
        assert run("encode", src, "-c", "logzip", "--workers", n, "-o", outs[-1]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    path, header = api.encode_file(src, tmp_path / "api.omc", codec="logzip", workers=1)
    assert header.config == {"block_mb": 4.0, "block_layout": 2, "fast_slack": 0.02, "structure": 9}
    assert path.read_bytes() == outs[0].read_bytes()
    with pytest.raises(SystemExit):
        run("encode", src, "--workers", "0")
    assert "positive integer" in capsys.readouterr().err


def test_dash_is_stdin_and_stdout(tmp_path):
    """`codec encode - < x > x.omc`, `codec decode - -o -` and `-o -` from a file, as zstd and
    xz take them; stdout carries only the data (reports go to stderr); `-o -` never writes a
    file named '-'."""
    write_item(make_image(20, 30), tmp_path / "a.png")
    src = (tmp_path / "a.png").read_bytes()

    def codec(*argv, data=b""):
        out = subprocess.run([sys.executable, "-m", "omnicodec", *argv], input=data, capture_output=True,
                             cwd=tmp_path, timeout=120)
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout

    omc = codec("encode", "-", data=src)
    assert omc[:4] == b"\x89OMC"
    assert codec("decode", "-", data=omc) == src
    assert codec("decode", "-", "-o", "-", data=codec("encode", "a.png", "-o", "-")) == src
    codec("decode", "-", "-o", "b.png", data=omc)
    assert (tmp_path / "b.png").read_bytes() == src
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    refused = subprocess.run([sys.executable, "-m", "omnicodec", "encode", "-", "a.png"], input=b"x",
                             capture_output=True, cwd=tmp_path, timeout=60)
    assert refused.returncode == 1 and b"one input" in refused.stderr


def test_info_shows_rates_and_ratios_for_several_files_and_fails_on_truncation(tmp_path, capsys):
    write_item(make_audio(frames=16000, rate=16000, channels=2), tmp_path / "a.wav")
    write_item(make_image(32, 48), tmp_path / "p.png")
    assert run("encode", tmp_path / "a.wav", "-c", "flac") == 0
    assert run("encode", tmp_path / "p.png", "-c", "webp", "-q", "50") == 0
    a, p = tmp_path / "a.wav.omc", tmp_path / "p.png.omc"
    capsys.readouterr()
    assert run("info", a, p, "--json") == 0
    audio, image = json.loads(capsys.readouterr().out)
    assert audio["duration_s"] == 1.0 and audio["raw_bytes"] == 16000 * 2 * 2 and audio["lossless"] is True
    assert audio["kbit_s"] == pytest.approx(8 * a.stat().st_size / 1000)
    assert image["bpp"] == pytest.approx(8 * p.stat().st_size / (32 * 48)) and image["ratio"] == pytest.approx(
        32 * 48 * 3 / p.stat().st_size) and image["lossless"] is False
    assert audio["encoder"].startswith("libsndfile 1.") and image["encoder"].startswith("libwebp 1.")
    assert run("info", a, p) == 0
    text = capsys.readouterr().out
    assert "duration_s" in text and "bpp" in text and text.count("\nfile ") == 1 and text.startswith("file ")
    cut = tmp_path / "cut.omc"
    cut.write_bytes(a.read_bytes()[:-10])
    assert run("info", a, cut) == 1
    out = capsys.readouterr()
    assert "truncated" in out.err and str(cut) in out.err and str(a) in out.out


def test_codec_test_catches_every_truncation_and_bit_flip_of_the_fixtures(tmp_path, capsys):
    """Every frozen fixture passes; each cut at every section boundary and at a few more
    places, and each with a bit flipped in every section and a few more places, fails."""
    from omnicodec import api, container

    fixtures = sorted((Path(__file__).parent / "fixtures").rglob("*.omc"))
    assert len(fixtures) > 40
    assert run("test", *fixtures) == 0
    rng = np.random.default_rng(0)
    for fixture in fixtures:
        data = fixture.read_bytes()
        spans = container.spans(data)
        cuts = {end for _, end in spans[:-1]} | {start + 1 for start, _ in spans} | set(rng.integers(1, len(data), 4))
        flips = {(start + end) // 2 for start, end in spans} | {start for start, _ in spans} | set(
            rng.integers(0, len(data), 4))
        bad = tmp_path / "bad.omc"
        for n in sorted(cuts):
            bad.write_bytes(data[:n])
            with pytest.raises((ValueError, OSError)):
                api.test_file(bad)
        for at in sorted(flips):
            broken = bytearray(data)
            broken[at] ^= 1 << int(rng.integers(0, 8))
            bad.write_bytes(bytes(broken))
            with pytest.raises((ValueError, OSError)):
                api.test_file(bad)
    bad.write_bytes(fixtures[0].read_bytes()[:-1])
    capsys.readouterr()
    assert run("test", fixtures[0], bad) == 1
    assert str(bad) in capsys.readouterr().err


def test_codec_options_from_the_command_line(tmp_path, capsys):
    from omnicodec import api

    src = tmp_path / "x.log"
    src.write_bytes(make_bytes(lines=200).data)
    assert run("encode", src, "-c", "zstd", "-O", "level=3", "-O", "long=false", "-T", "1") == 0
    assert api.open(tmp_path / "x.log.omc").config == {"level": 3, "long": False}
    capsys.readouterr()
    assert run("encode", src, "-o", tmp_path / "y.omc", "-c", "zstd", "-O", "speed=3") == 1
    assert "zstd has no option 'speed'" in capsys.readouterr().err and not (tmp_path / "y.omc").exists()
    assert run("encode", src, "-o", tmp_path / "y.omc", "-O", "level=3") == 1
    assert "name the codec" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(tmp_path):
    omc = tmp_path / "x.omc"
    (tmp_path / "x").write_bytes(b"x" * 100)
    assert run("encode", tmp_path / "x", "-o", omc) == 0
    code = "import sys; from omnicodec.cli.main import main; sys.exit(main(['info'] + sys.argv[1:] * 3000))"
    proc = subprocess.run(f"{sys.executable} -c \"{code}\" {omc} | head -1", shell=True, capture_output=True,
                          text=True)
    assert proc.stdout.startswith("file") and proc.stderr == ""


def test_an_unknown_codec_is_named_before_the_output_is_looked_at(tmp_path, capsys):
    src = tmp_path / "x.log"
    src.write_bytes(b"hello\n")
    (tmp_path / "x.log.omc").write_bytes(b"mine")
    assert run("encode", src, "-c", "nosuch") == 1
    err = capsys.readouterr().err
    assert "unknown codec 'nosuch'" in err and str(src) in err
    assert (tmp_path / "x.log.omc").read_bytes() == b"mine"


def test_list_options_shows_what_minus_o_takes(capsys):
    assert run("list", "--options") == 0
    out = capsys.readouterr().out
    assert "-O level=19 (-131072..22)" in out and "-O preset=medium (ultrafast|" in out and "-O speed=6 (0..10)" in out


def test_zstd_and_xz_habits_work_or_fail_harmlessly(tmp_path, capsys):
    src = tmp_path / "a.log"
    src.write_bytes(b"hello\n" * 100)
    assert run("encode", src, "-k") == 0 and src.exists()  # -k: inputs are always kept
    omc = tmp_path / "a.log.omc"
    assert run("-t", omc) == 0 and run("-l", omc) == 0
    assert run("-d", omc, "-n") == 1 and "output exists" in capsys.readouterr().err  # -n: never overwrite
    assert run("-d", omc, "-f") == 0 and src.read_bytes() == b"hello\n" * 100
    for argv in (["encode", str(src), "-c"], ["encode", str(src), "-q", "high"], ["encode", str(src), "-f", "-n"]):
        with pytest.raises(SystemExit) as stop:  # a usage error: nothing written, nothing removed
            main(argv)
        assert stop.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "a.log.omc"]


def test_info_shows_the_encoder_settings_a_quality_stands_for(tmp_path, capsys):
    write_item(make_video(frames=2, h=32, w=32), tmp_path / "v.y4m")
    assert run("encode", tmp_path / "v.y4m", "-c", "svtav1", "-q", "60") == 0
    capsys.readouterr()
    assert run("info", tmp_path / "v.y4m.omc", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["quality"] == 60.0 and info["effective"] == {"crf": 25.0}  # round(63 * 0.4)


def test_bitrate_flag_reaches_the_codec(tmp_path, capsys):
    from omnicodec import api

    write_item(make_audio(frames=48000, rate=48000), tmp_path / "a.wav")
    assert run("encode", tmp_path / "a.wav", "-c", "opus", "-b", "24k") == 0
    assert api.open(tmp_path / "a.wav.omc").config["bitrate"] == 24000
    # vorbis has no rate control of its own: -b searches its quality, and refuses a rate below its floor
    assert run("encode", tmp_path / "a.wav", "-c", "vorbis", "-b", "24k", "-o", tmp_path / "v.omc") == 1
    assert "vorbis cannot make it as small as 3000 bytes" in capsys.readouterr().err
    assert not (tmp_path / "v.omc").exists()
    assert run("encode", tmp_path / "a.wav", "-c", "vorbis", "-b", "160k", "-o", tmp_path / "v.omc") == 0
    assert 0.95 * 20000 <= (tmp_path / "v.omc").stat().st_size <= 20000


def test_quiet_verbose_and_a_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    import io

    for n in range(3):
        write_item(make_image(64 + n, 96), tmp_path / f"p{n}.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    files = [tmp_path / f"p{n}.png" for n in range(3)]
    assert run("encode", *files, "-o", tmp_path / "q", "--quiet") == 0
    assert capsys.readouterr().err == ""  # nothing but errors
    assert run("encode", *files, tmp_path / "bad.png", "-o", tmp_path / "r", "--quiet", "-c", "png") == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "bad.png" in err[0] and "1 of 4 files failed" in err[1]
    assert run("encode", files[0], "-o", tmp_path / "v.omc", "-v") == 0
    assert " bpp " in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert run("encode", *files, "-o", tmp_path / "t") == 0
    shown = sys.stderr.getvalue()
    assert "files: 100%" in shown and "[3/3]" in shown  # the bar over the files' bytes, and the lines


def test_info_lists_the_side_data_kept(tmp_path, capsys):
    from PIL import Image as PILImage
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "x" * 100)
    yy, xx = np.mgrid[0:96, 0:128]
    noise = np.random.default_rng(0).integers(0, 4, (96, 128, 1))
    PILImage.fromarray((np.stack([xx, yy, xx + yy], -1) + noise).astype(np.uint8)).save(tmp_path / "p.png", pnginfo=text)
    assert run("encode", tmp_path / "p.png") == 0
    capsys.readouterr()
    assert run("info", tmp_path / "p.png.omc", "--json") == 0
    side = json.loads(capsys.readouterr().out)["side_data"]
    assert sorted(side) == ["pngc", "pngz"] and side["pngc"] > 100  # the text chunk, kept; the IDAT's recipe


def test_force_never_lets_one_run_overwrite_its_own_output(tmp_path, capsys):
    """d1/a.txt and d2/a.txt encoded into one folder with --force: the second overwrote the
    first's output, and the run said nothing (exit 0) until 2026-12-07 #23; so did two .omc
    files that decode to the same name.  The second is refused; the first output stays."""
    for d, text in (("d1", b"one\n"), ("d2", b"two\n")):
        (tmp_path / d).mkdir()
        (tmp_path / d / "a.txt").write_bytes(text * 50)
    out = tmp_path / "out"
    assert main(["encode", "-f", str(tmp_path / "d1" / "a.txt"), str(tmp_path / "d2" / "a.txt"),
                 "-o", str(out) + "/"]) == 1
    assert "another input of this run" in capsys.readouterr().err
    (tmp_path / "x").mkdir()
    (out / "a.txt.omc").rename(tmp_path / "x" / "a.txt.omc")
    assert main(["encode", str(tmp_path / "d2" / "a.txt")]) == 0
    assert main(["decode", "-f", str(tmp_path / "x" / "a.txt.omc"), str(tmp_path / "d2" / "a.txt.omc"),
                 "-o", str(tmp_path / "dec") + "/"]) == 1
    assert (tmp_path / "dec" / "a.txt").read_bytes() == b"one\n" * 50
