"""Standard files on request: `-o NAME.EXT` writes the codec's own stream as a real .webp,
.png, .jpg, .opus, .mkv or .mp4 (opened here by Pillow and PyAV), and decoding to the stored
stream's own format copies it instead of decoding and re-encoding."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

import omnicodec
from omnicodec import container
from omnicodec.cli.main import main
from omnicodec.datasets.files import read_item, write_item

from ..common import make_audio, make_image, make_video


def stored(blob: bytes) -> bytes:
    return container.unpack(blob).sections["DATA"]


@pytest.fixture
def photo(tmp_path):
    """A PNG with a text chunk (side data a WebP cannot carry)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "kept")
    path = tmp_path / "photo.png"
    PILImage.fromarray(make_image(40, 56).pixels).save(path, pnginfo=info)
    return path


def test_encode_writes_real_image_files(tmp_path, photo, capsys):
    item = read_item(photo)
    assert main(["encode", str(photo), "-q", "50", "-o", str(tmp_path / "a.webp")]) == 0
    assert (tmp_path / "a.webp").read_bytes() == stored(omnicodec.encode(item, "webp", 50))  # encoded once
    assert PILImage.open(tmp_path / "a.webp").format == "WEBP"
    # lossless to a PNG keeps the pixels and the text chunk
    assert main(["encode", str(photo), "-o", str(tmp_path / "b.png")]) == 0
    back = PILImage.open(tmp_path / "b.png")
    assert back.format == "PNG" and back.text == {"Comment": "kept"}
    assert np.array_equal(np.asarray(back), item.pixels)
    # lossless to a WebP would drop the text chunk: refused unless asked
    assert main(["encode", str(photo), "-o", str(tmp_path / "c.webp")]) == 1
    assert "cannot carry the side data of photo.png (pngc)" in capsys.readouterr().err
    assert main(["encode", str(photo), "-o", str(tmp_path / "c.webp"), "--allow-loss"]) == 0
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "c.webp")), item.pixels)  # WebP lossless
    assert main(["encode", str(photo), "-q", "40", "-o", str(tmp_path / "d.jpg")]) == 0
    assert PILImage.open(tmp_path / "d.jpg").format == "JPEG"


@pytest.mark.parametrize("argv, message", [
    (["-o", "{tmp}/x.jpg"], "a .jpg file cannot hold it exactly: ask for a quality (-q)"),
    (["-c", "png", "-o", "{tmp}/x.webp"], "png writes .omc files or .png, not .webp"),
    (["-c", "hyperprior", "-q", "50", "-o", "{tmp}/x.webp"], "hyperprior writes .omc files, not .webp"),
])
def test_a_standard_extension_the_codec_does_not_write_is_refused(tmp_path, photo, capsys, argv, message):
    assert main(["encode", str(photo)] + [a.format(tmp=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_file_that_is_no_media_is_not_written_as_one(tmp_path, capsys):
    (tmp_path / "a.log").write_bytes(b"GET / 200\n" * 50)
    assert main(["encode", str(tmp_path / "a.log"), "-o", str(tmp_path / "a.webp")]) == 1
    assert "is not an image, sound or video" in capsys.readouterr().err


def test_encode_writes_real_audio_and_video_files(tmp_path):
    write_item(make_audio(frames=16000, rate=16000, channels=2), tmp_path / "a.wav")
    assert main(["encode", str(tmp_path / "a.wav"), "-c", "opus", "-q", "30", "-o", str(tmp_path / "a.opus")]) == 0
    with av.open(str(tmp_path / "a.opus")) as box:
        assert box.streams.audio[0].codec_context.name == "opus" and box.streams.audio[0].channels == 2
        assert abs(box.duration / 1e6 - 1.0) < 0.05
    write_item(make_video(frames=6), tmp_path / "v.y4m")
    assert main(["encode", str(tmp_path / "v.y4m"), "-c", "x264", "-q", "50", "-o", str(tmp_path / "v.mp4")]) == 0
    with av.open(str(tmp_path / "v.mp4")) as box:
        assert box.format.name.startswith("mov") and box.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in box.decode(video=0)) == 6
    # lossless: FFV1, whose Matroska file cannot carry the y4m's header lines unless asked
    assert main(["encode", str(tmp_path / "v.y4m"), "-o", str(tmp_path / "v.mkv")]) == 1
    assert main(["encode", str(tmp_path / "v.y4m"), "-o", str(tmp_path / "v.mkv"), "--allow-loss"]) == 0
    with av.open(str(tmp_path / "v.mkv")) as box:
        assert box.streams.video[0].codec_context.name == "ffv1"


def test_decode_to_the_stored_format_copies_the_stored_stream(tmp_path):
    image_blob = omnicodec.encode(make_image(30, 44), "webp", 60)
    (tmp_path / "i.omc").write_bytes(image_blob)
    omnicodec.decode_file(tmp_path / "i.omc", tmp_path / "i.webp")
    assert (tmp_path / "i.webp").read_bytes() == stored(image_blob)
    video_blob = omnicodec.encode(make_video(frames=5), "x265", 40)
    (tmp_path / "v.omc").write_bytes(video_blob)
    omnicodec.decode_file(tmp_path / "v.omc", tmp_path / "v.265")  # the elementary stream, as stored
    assert (tmp_path / "v.265").read_bytes() == stored(video_blob)
    frames = [f.to_ndarray().tobytes() for f in av.open(io.BytesIO(stored(video_blob)), format="hevc").decode(video=0)]
    for ext in (".mkv", ".mp4"):  # the packets copied into a container
        omnicodec.decode_file(tmp_path / "v.omc", tmp_path / f"v{ext}")
        with av.open(str(tmp_path / f"v{ext}")) as box:
            assert [f.to_ndarray().tobytes() for f in box.decode(video=0)] == frames


@pytest.mark.parametrize("codec_id", ["x264", "x265", "svtav1"])
def test_every_container_offered_plays_every_frame(tmp_path, codec_id):
    """Each container a video codec offers (MP4 too for AV1, whose hidden frames once cost the
    last frame: MP4's edit list ended at the last packet's start) decodes to the stored frames."""
    blob = omnicodec.encode(make_video(frames=8, h=64, w=64), codec_id, 50)
    (tmp_path / "v.omc").write_bytes(blob)
    frames = omnicodec.decode(blob).planes[0]
    for ext in (e for e in omnicodec.get_codec(codec_id).standard if e in (".mkv", ".mp4", ".webm")):
        omnicodec.decode_file(tmp_path / "v.omc", tmp_path / f"v{ext}")
        with av.open(str(tmp_path / f"v{ext}")) as box:
            shown = [f.to_ndarray(format="yuv420p")[:64] for f in box.decode(video=0)]
        assert len(shown) == 8 and all(np.array_equal(a, b) for a, b in zip(shown, frames)), ext


def test_decode_never_drops_side_data_silently(tmp_path, photo, capsys):
    assert main(["encode", str(photo), "-c", "webp", "-q", "50", "-o", str(tmp_path / "p.omc")]) == 0
    assert main(["decode", str(tmp_path / "p.omc"), "-o", str(tmp_path / "p.webp")]) == 1
    assert "side data (pngc) that a .webp file cannot carry" in capsys.readouterr().err
    assert not (tmp_path / "p.webp").exists()
    assert main(["decode", str(tmp_path / "p.omc"), "-o", str(tmp_path / "p.webp"), "--allow-loss"]) == 0
    assert (tmp_path / "p.webp").read_bytes() == stored((tmp_path / "p.omc").read_bytes())
    assert main(["decode", str(tmp_path / "p.omc"), "-o", str(tmp_path / "p.png")]) == 0  # the chunk kept
    assert PILImage.open(tmp_path / "p.png").text == {"Comment": "kept"}


def test_a_render_to_another_format_never_drops_side_data_silently(tmp_path, photo, capsys):
    """A PNG's text chunk cannot go into a BMP or a WebP rendered from the pixels: refused in
    one line unless --allow-loss; decoded to its own name or to .png, it is kept."""
    assert main(["encode", str(photo), "-c", "png", "-o", str(tmp_path / "p.omc")]) == 0
    for ext in (".bmp", ".webp", ".npy"):
        assert main(["decode", str(tmp_path / "p.omc"), "-o", str(tmp_path / f"p{ext}")]) == 1
        assert "side data (pngc)" in capsys.readouterr().err and not (tmp_path / f"p{ext}").exists()
    assert main(["decode", str(tmp_path / "p.omc"), "-o", str(tmp_path / "p.bmp"), "--allow-loss"]) == 0
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "p.bmp")), read_item(photo).pixels)
    assert main(["decode", str(tmp_path / "p.omc"), "-o", str(tmp_path / "q.png")]) == 0
    assert PILImage.open(tmp_path / "q.png").text == {"Comment": "kept"}


def test_a_plain_wav_wrapper_is_no_loss_but_its_tags_are(tmp_path, capsys):
    """A WAV of only fmt and data chunks loses nothing in a FLAC or Opus file; one with a LIST
    chunk does, and is refused unless --allow-loss."""
    import soundfile as sf

    audio = make_audio(frames=8000, rate=16000)
    sf.write(tmp_path / "plain.wav", audio.samples, 16000, subtype="PCM_16")
    plain = (tmp_path / "plain.wav").read_bytes()
    info = b"INFOISFT\\x04\\x00\\x00\\x00abc\\x00"
    tagged = b"RIFF" + (len(plain) - 8 + 8 + len(info)).to_bytes(4, "little") + plain[8:] + b"LIST" + len(
        info).to_bytes(4, "little") + info
    (tmp_path / "tagged.wav").write_bytes(tagged)
    for name in ("plain", "tagged"):
        assert main(["encode", str(tmp_path / f"{name}.wav"), "-c", "flac"]) == 0
    assert main(["encode", str(tmp_path / "plain.wav"), "-o", str(tmp_path / "p.flac")]) == 0  # a real FLAC
    assert main(["decode", str(tmp_path / "plain.wav.omc"), "-o", str(tmp_path / "p2.flac")]) == 0
    assert main(["decode", str(tmp_path / "tagged.wav.omc"), "-o", str(tmp_path / "t.flac")]) == 1
    assert "side data (wave)" in capsys.readouterr().err
    assert main(["decode", str(tmp_path / "tagged.wav.omc"), "-o", str(tmp_path / "t.flac"), "--allow-loss"]) == 0
    assert main(["decode", str(tmp_path / "tagged.wav.omc"), "-o", str(tmp_path / "t.wav")]) == 0
    assert (tmp_path / "t.wav").read_bytes() == tagged  # its own format: byte for byte, the tag kept
