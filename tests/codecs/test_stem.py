"""stem: the intra frame is the image codec's, inter frames cost less where the scene repeats,
a GOP decodes alone, the temporal and context nets are exact whatever the tiling, the payload
index is checked against the header, and the colour conversion keeps a clip's whole range.
The learned-codec kit (test_learned.py) runs its checklist, fixture, weights errors and
cross-process decoding."""

import numpy as np
import pytest

import omnicodec
from omnicodec import container
from omnicodec.errors import CorruptStreamError, UnsupportedInputError
from omnicodec.items import Video, rgb_to_yuv, yuv_to_rgb

from .test_vq import _photo

torch = pytest.importorskip("torch")


def _clip(frames: int, h: int = 96, w: int = 128, shift: int = 0, pix_fmt: str = "yuv420p", seed: int = 0) -> Video:
    """A photo-like scene panning ``shift`` pixels a frame."""
    photo = _photo(h, w + shift * frames, seed).pixels
    planes = [rgb_to_yuv(photo[:, t * shift: t * shift + w], pix_fmt) for t in range(frames)]
    return Video(tuple(np.stack(p) for p in zip(*planes)), (25, 1), pix_fmt)


def _frame_bytes(blob: bytes) -> list[int]:
    data = container.unpack(blob).sections["DATA"]
    n = int.from_bytes(data[:4], "little")
    return [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "little") for i in range(n)]


def test_the_intra_frame_is_the_image_codecs():
    """Frame 0 decodes to the hyperprior's decode of the same RGB frame (same weights, level)."""
    from omnicodec.codecs.stem import Stem, frame_rgb

    clip = _clip(2)
    stem = Stem(quality=60)
    decoded = omnicodec.decode(omnicodec.encode(clip, stem))
    rgb = frame_rgb(next(zip(*clip.planes)))
    image = omnicodec.decode(omnicodec.encode(omnicodec.Image(rgb, "RGB"), "hyperprior", 60))
    expected = rgb_to_yuv(image.pixels, "yuv420p")
    for plane, want in zip(decoded.planes, expected):
        assert np.array_equal(plane[0], want)


def test_a_still_scene_costs_less_after_its_first_frame():
    """Inter frames of a repeated frame cost well under the intra frame; with a GOP of 1 every
    frame is intra (and costs about as much as the first)."""
    from omnicodec.codecs.stem import Stem

    clip = _clip(4)
    inter = _frame_bytes(omnicodec.encode(clip, Stem(quality=60)))
    intra = _frame_bytes(omnicodec.encode(clip, Stem(quality=60, gop=1)))
    assert intra[0] == inter[0] and all(b == intra[0] for b in intra)
    assert max(inter[1:]) < 0.7 * inter[0], inter


def test_a_gop_decodes_alone_and_frames_decode_one_at_a_time():
    from omnicodec.codecs.stem import Stem

    clip = _clip(5, shift=3)
    codec = Stem(quality=40, gop=2)
    blob = omnicodec.encode(clip, codec)
    whole = omnicodec.decode(blob)
    box = container.unpack(blob)
    part = list(codec.decode_frames(box.sections, box.header.meta, start=3, count=2))
    for i, frame in enumerate(part):
        for plane, whole_plane in zip(frame, whole.planes):
            assert np.array_equal(plane, whole_plane[3 + i])
    with pytest.raises(ValueError, match="outside"):
        codec.decode_frames(box.sections, box.header.meta, start=4, count=2)
    with pytest.raises(CorruptStreamError, match="index"):  # refused when asked, before any frame
        codec.decode_frames({"DATA": box.sections["DATA"][:-1]}, {**box.header.meta, "frames": 4})


def test_the_inter_model_is_exact_whatever_the_tiling(monkeypatch):
    from omnicodec.codecs.learned import find_weights, load_artefact
    from omnicodec.codecs.stem import Stem
    from omnicodec.models import stem

    model = Stem().model()
    prev = torch.from_numpy(np.random.default_rng(0).integers(-2000, 2000, (1, 128, 9, 11)) / 256.0)
    hyper = torch.from_numpy(np.random.default_rng(1).integers(-900, 900, (1, 256, 9, 11)).astype(np.float64))
    frame = model.inter(prev)
    first = [frame.stage_params(hyper, prev, s) for s in (0, 1)]
    monkeypatch.setattr(stem, "EXACT_TILE", 2)
    frame = model.inter(prev)
    for s, (scales, means) in enumerate(first):
        s2, m2 = frame.stage_params(hyper, prev, s)
        assert torch.equal(scales, s2) and torch.equal(means, m2)
    assert torch.equal(means * 256, torch.round(means * 256))
    assert find_weights("stem", Stem.weights_file)[1] == Stem().weights
    assert load_artefact(*find_weights("stem", Stem.weights_file), "stem")["config"]["base"] == "hyperprior-none-84000.pt"


def test_formats_and_sizes_come_back():
    for clip in (_clip(2, 37, 53), _clip(2, 40, 24, pix_fmt="yuv444p"), _clip(1, 2, 2)):
        decoded = omnicodec.decode(omnicodec.encode(clip, "stem", 80))
        assert decoded.pix_fmt == clip.pix_fmt and decoded.fps == clip.fps
        assert all(a.shape == b.shape for a, b in zip(decoded.planes, clip.planes))


def test_ten_bit_is_refused_with_advice():
    ten = Video(tuple(p.astype(np.uint16) << 2 for p in _clip(1).planes), (25, 1), "yuv420p10le")
    with pytest.raises(UnsupportedInputError, match="8-bit"):
        omnicodec.encode(ten, "stem", 50)


def test_a_payload_index_that_disagrees_with_the_header_is_refused():
    blob = omnicodec.encode(_clip(3), "stem", 30)
    box = container.unpack(blob)
    data = box.sections["DATA"]
    lengths = _frame_bytes(blob)
    bad = {
        "count": (4).to_bytes(4, "little") + data[4:],
        "length": data[:4] + (lengths[0] + 1).to_bytes(4, "little") + data[8:],
        "truncated": data[:-1],
        "short": data[:6],
    }
    for name, payload in bad.items():
        with pytest.raises(CorruptStreamError):
            omnicodec.decode(container.pack(box.header, {"DATA": payload}))


def test_the_colour_conversion_keeps_the_range_and_inverts():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 256, (6, 8), dtype=np.uint8)
    y[0, 0], y[0, 1] = 0, 255
    u = np.full((6, 8), 128, np.uint8)
    rgb = (yuv_to_rgb(y, u, u).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(rgb[..., 0], y) and np.array_equal(rgb[..., 2], y)  # grey: R = G = B = Y
    back = rgb_to_yuv(_photo(64, 80).pixels, "yuv444p")
    again = rgb_to_yuv((yuv_to_rgb(*back).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8), "yuv444p")
    for a, b in zip(back, again):
        assert np.abs(a.astype(int) - b).max() <= 2


# ------------------------------------------------------------------ files, frame by frame
def _peak(fn) -> int:
    """Peak bytes traced (NumPy's and Python's allocations) while ``fn`` runs."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_clip_file_is_coded_and_decoded_a_frame_at_a_time(tmp_path, monkeypatch):
    """``encode_file``/``decode_file`` stream a clip through stem: the same DATA and the same
    .y4m as the whole clip's encode and decode, and memory that does not grow with the clip's
    length, where reading the clip whole does (the check's own yardstick).  The decode runs in
    this process (worker processes, which hold GOPs, are tested below)."""
    from omnicodec.codecs import stem as stem_module
    from omnicodec.datasets import y4m
    from omnicodec.datasets.files import read_item, render

    monkeypatch.setattr(stem_module, "PARALLEL_GOP_BYTES", 0)

    stem = omnicodec.get_codec("stem", 50)
    paths = {}
    for n in (10, 60):
        paths[n] = tmp_path / f"c{n}.y4m"
        paths[n].write_bytes(y4m.serialize(_clip(n, 64, 64, shift=1)))
    omnicodec.encode_file(paths[10], tmp_path / "warm.omc", codec=stem)  # loads the model
    peaks = {n: _peak(lambda: omnicodec.encode_file(p, tmp_path / f"{p.name}.omc", codec=stem))
             for n, p in paths.items()}
    whole = {n: _peak(lambda: omnicodec.encode(read_item(p, allow_loss=True), stem)) for n, p in paths.items()}
    frame = 64 * 64 * 3 // 2
    assert whole[60] - whole[10] > 50 * frame  # a whole clip holds its frames
    # streamed, what grows is the container's copy of the coded payloads (chunks of <= 4 MiB)
    assert peaks[60] - peaks[10] < (whole[60] - whole[10]) / 4, (peaks, whole)
    streamed = container.unpack((tmp_path / "c60.y4m.omc").read_bytes())
    blob = omnicodec.encode(read_item(paths[60], allow_loss=True), stem)
    assert streamed.sections == container.unpack(blob).sections
    assert streamed.header.meta == container.unpack(blob).header.meta
    decode_peaks = {n: _peak(lambda: omnicodec.decode_file(tmp_path / f"c{n}.y4m.omc", tmp_path / f"d{n}.y4m"))
                    for n in paths}
    whole_decode = {n: _peak(lambda: omnicodec.decode((tmp_path / f"c{n}.y4m.omc").read_bytes())) for n in paths}
    assert whole_decode[60] - whole_decode[10] > 50 * frame
    assert decode_peaks[60] - decode_peaks[10] < (whole_decode[60] - whole_decode[10]) / 4, decode_peaks
    assert (tmp_path / "d60.y4m").read_bytes() == render(omnicodec.decode(blob), ".y4m")


def test_an_mkv_clip_streams_like_its_y4m(tmp_path):
    """The PyAV reader gives the frames of a lossless mkv one at a time: the stream is the
    y4m's."""
    from omnicodec.datasets import y4m
    from omnicodec.datasets.files import render

    clip = _clip(4, 64, 96, shift=2)
    (tmp_path / "c.y4m").write_bytes(y4m.serialize(clip))
    (tmp_path / "c.mkv").write_bytes(render(clip, ".mkv"))
    data = [container.unpack(omnicodec.encode_file(tmp_path / f"c.{ext}", tmp_path / f"{ext}.omc",
                                                   codec="stem", quality=30)[0].read_bytes()).sections["DATA"]
            for ext in ("y4m", "mkv")]
    assert data[0] == data[1]


def test_a_truncated_clip_file_is_refused_and_nothing_is_written(tmp_path):
    from omnicodec.datasets import y4m

    src = tmp_path / "c.y4m"
    src.write_bytes(y4m.serialize(_clip(3, 64, 64))[:-100])
    with pytest.raises(UnsupportedInputError, match="c.y4m: y4m frame 2 is truncated"):
        omnicodec.encode_file(src, tmp_path / "c.omc", codec="stem")
    (tmp_path / "n.mp4").write_bytes(b"\0\0\0\x18ftypisom" + bytes(200))
    with pytest.raises(UnsupportedInputError, match="n.mp4: cannot read as video"):
        omnicodec.encode_file(tmp_path / "n.mp4", tmp_path / "n.omc", codec="stem")
    assert not list(tmp_path.glob("*.omc"))


def test_decode_frames_writes_a_range_of_a_clip_file(tmp_path, capsys):
    """``codec decode --frames A:B`` (and ``decode_file(frames=)``) writes those frames, the
    same as the whole decode's, with the y4m frame lines of the range; a range past the end, a
    log, or another output format is refused in one line and nothing is written."""
    from omnicodec.cli.main import main
    from omnicodec.datasets import y4m

    clip = _clip(7, 64, 64, shift=1)
    src = tmp_path / "c.y4m"
    data = y4m.serialize(clip).replace(b"FRAME\n", b"FRAME Ixyz\n")  # frame lines kept as side data
    src.write_bytes(data)
    omnicodec.encode_file(src, tmp_path / "c.omc", codec=omnicodec.get_codec("stem", 40, gop=3))
    assert main(["decode", str(tmp_path / "c.omc"), "--frames", "5:6", "-o", str(tmp_path / "p.y4m")]) == 0
    whole = omnicodec.decode((tmp_path / "c.omc").read_bytes())
    part = y4m.parse((tmp_path / "p.y4m").read_bytes())
    assert part.planes[0].shape[0] == 2 and part.extra["y4mh"].count(b"FRAME Ixyz\n") == 2
    for got, want in zip(part.planes, whole.planes):
        assert np.array_equal(got, want[4:6])
    for args in (["--frames", "8:9", "-o", str(tmp_path / "q.y4m")], ["--frames", "1:2", "-o", str(tmp_path / "q.mkv")]):
        assert main(["decode", str(tmp_path / "c.omc"), *args]) == 1
        assert "--frames" in capsys.readouterr().err
    assert not list(tmp_path.glob("q.*"))


def test_worker_processes_decode_the_same_frames_a_gop_each():
    """A streamed decode of several GOPs runs a GOP a job in worker processes: the same frames,
    in order, as one process, for the whole clip and for a range that starts inside a GOP."""
    from omnicodec.codecs.stem import Stem

    clip = _clip(7, 64, 64, shift=1)
    box = container.unpack(omnicodec.encode(clip, Stem(quality=40, gop=2)))
    for start, count in ((0, 7), (3, 3)):
        runs = [list(Stem(**box.header.config, workers=workers).decode_frames(
            box.sections, box.header.meta, start, count, streamed=True)) for workers in (1, 2)]
        assert len(runs[1]) == count
        for one, two in zip(*runs):
            assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_a_bitrate_target_streams_too(tmp_path):
    """``encode_file`` with a bitrate searches the quality with streamed encodes: the file the
    in-memory search picks, within the target."""
    from omnicodec.api import Target
    from omnicodec.datasets import y4m
    from omnicodec.datasets.files import read_item

    src = tmp_path / "c.y4m"
    src.write_bytes(y4m.serialize(_clip(4, 64, 64, shift=2)))
    target = Target(bitrate=100_000)
    path, header = omnicodec.encode_file(src, codec="stem", target=target)  # c.y4m.omc: no name kept
    streamed = container.unpack(path.read_bytes())
    whole = container.unpack(omnicodec.encode(read_item(src, allow_loss=True), "stem", target=target))
    assert streamed.header.config == whole.header.config and streamed.sections == whole.sections
    assert 0.9 * target.bytes_of(None, 4 / 25) < path.stat().st_size <= target.bytes_of(None, 4 / 25)


def test_a_streamed_header_is_capped_before_its_index_is_read(monkeypatch, tmp_path):
    """A streamed decode caps one frame's pixels and the frame count, not the clip's bytes, and
    an encode stops at the frame cap, writing nothing."""
    from omnicodec import limits
    from omnicodec.codecs.stem import Stem
    from omnicodec.datasets import y4m

    box = container.unpack(omnicodec.encode(_clip(3, 64, 64), "stem"))
    monkeypatch.setattr(limits, "MAX_VIDEO_BYTES", 64 * 64 * 3 * 2)  # two frames' worth
    with pytest.raises(CorruptStreamError, match="decoded video bytes"):
        list(Stem(**box.header.config).decode_frames(box.sections, box.header.meta))
    assert len(list(Stem(**box.header.config).decode_frames(box.sections, box.header.meta, streamed=True))) == 3
    monkeypatch.setattr(limits, "MAX_FRAMES", 2)
    with pytest.raises(CorruptStreamError, match="frames"):
        list(Stem(**box.header.config).decode_frames(box.sections, box.header.meta, streamed=True))
    (tmp_path / "c.y4m").write_bytes(y4m.serialize(_clip(3, 64, 64)))
    with pytest.raises(UnsupportedInputError, match="more than 2 frames"):
        omnicodec.encode_file(tmp_path / "c.y4m", tmp_path / "c.omc", codec="stem")
    assert not (tmp_path / "c.omc").exists()


def test_the_float32_synthesis_is_the_same_on_any_thread_count():
    """New streams say ``synthesis: float32`` (one torch thread, whatever the caller's count):
    the same pixels with torch on 1 or 2 threads, within 1 of the float64 synthesis in a rare
    pixel; a config without the key (streams written before it) means float64."""
    from omnicodec.codecs.stem import Stem

    clip = _clip(2, 64, 96, shift=3)
    box = container.unpack(omnicodec.encode(clip, Stem(quality=70)))
    assert box.header.config["synthesis"] == "float32"
    threads = torch.get_num_threads()
    decoded = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            decoded.append(omnicodec.decode(container.pack(box.header, box.sections)))
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    assert all(np.array_equal(a, b) for a, b in zip(decoded[0].planes, decoded[1].planes))
    old = {k: v for k, v in box.header.config.items() if k != "synthesis"}
    assert Stem.from_config(old).synthesis == "float64" and "synthesis" not in Stem.from_config(old).get_config()
    f64 = Stem(**old).decode_checked(box.sections, box.header.meta)
    for a, b in zip(decoded[0].planes, f64.planes):
        diff = np.abs(a.astype(int) - b)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
