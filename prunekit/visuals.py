"""Images and videos for people: PNG strips and turntable videos, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prunekit.errors import BadInput
from prunekit.files import atomic_write


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)


def write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    arr = to_uint8(image)
    atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))


def write_video(path: Path, frames: list[np.ndarray], fps: int = 24) -> None:
    """A looping GIF, or an MP4 through imageio's ffmpeg plug-in (``pip install imageio-ffmpeg``)."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack([to_uint8(f) for f in frames])
    if path.suffix == ".gif":
        atomic_write(path, lambda tmp: iio.imwrite(tmp, data, extension=".gif", duration=1000 / fps, loop=0))
        return
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        raise BadInput("MP4 needs imageio-ffmpeg: pip install imageio-ffmpeg (or use --video gif)") from None
    atomic_write(path, lambda tmp: iio.imwrite(tmp, data, extension=".mp4", fps=fps))
