"""Size caps every decoder checks before allocating (like Pillow's MAX_IMAGE_PIXELS).

Raise them for trusted inputs by assigning new values, e.g. ``omnicodec.limits.MAX_PIXELS = 10**9``.

``MAX_MEMORY`` bounds what one in-memory decode may allocate: before a codec decodes, its
estimate for the header's item (``Codec.decode_memory``: the item and its working copies, a
learned codec's networks) is compared with it.  A service lowers it (``codec decode
--max-memory 2G``); streaming decodes to a file (logzip, stored bytes) hold one block at a time
and are not counted against it, and stem's to .y4m are counted for one frame.
"""

from .errors import CorruptStreamError, ResourceLimitError

MAX_PIXELS = 1 << 28            # 268 M pixels per image or frame
MAX_SAMPLES = 1 << 33           # audio samples (frames x channels)
MAX_VIDEO_BYTES = 1 << 34       # decoded raw video size (of a clip decoded whole)
MAX_FRAMES = 1 << 24            # frames of a clip (155 hours at 30 frames/s), whole or streamed
MAX_SECTION_BYTES = 1 << 40     # one container section
MAX_HEADER_BYTES = 1 << 20      # the container's JSON header
MAX_BYTES = 1 << 40             # decoded size of a bytes item
MAX_LEARNED_PIXELS = 1 << 25    # 33.5 M pixels per image for learned codecs (memory grows with it)
MAX_MEMORY = 1 << 34            # bytes one in-memory decode may allocate (its codec's estimate)


def _check(value: int, cap: int, what: str) -> None:
    if value < 0 or value > cap:
        raise CorruptStreamError(f"{what} {value} is outside the allowed range (cap {cap})")


def check_pixels(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise CorruptStreamError(f"image size {width}x{height} is not positive")
    _check(width * height, MAX_PIXELS, "pixel count")


def check_samples(frames: int, channels: int) -> None:
    if channels <= 0 or channels > 256:
        raise CorruptStreamError(f"channel count {channels} is outside 1..256")
    _check(frames * channels, MAX_SAMPLES, "sample count")


def check_video(width: int, height: int, frames: int) -> None:
    check_pixels(width, height)
    _check(frames * width * height * 3, MAX_VIDEO_BYTES, "decoded video bytes")


def check_bytes(size: int) -> None:
    _check(size, MAX_BYTES, "decoded size")


def check_learned_pixels(width: int, height: int) -> None:
    """Learned decoders hold latents and parameters for the whole image: cap them lower."""
    check_pixels(width, height)
    _check(width * height, MAX_LEARNED_PIXELS, "pixel count for a learned codec")


def check_memory(nbytes: int, what: str) -> None:
    """Refuse a decode whose estimated allocation exceeds MAX_MEMORY."""
    if nbytes > MAX_MEMORY:
        raise ResourceLimitError(f"{what} needs about {_mib(nbytes)} to decode, over the memory limit of "
                                 f"{_mib(MAX_MEMORY)} (--max-memory, omnicodec.limits.MAX_MEMORY)")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB"
