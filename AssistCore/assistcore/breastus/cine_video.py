"""Ultrasound cines from video files (and encapsulated DICOM video), decoded with PyAV into grey frames."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from .cine_frames import (
    Cine,
    _empty_metadata,
    _first_line,
    _FrameCollector,
)

# ----- video ------------------------------------------------------------------------------------------


def _decode_video(source: Path | bytes, path: Path, collector: _FrameCollector, metadata: dict) -> float | None:
    """Decode every frame of ``source`` (a file, or bytes of a DICOM-encapsulated stream) into ``collector``.

    :returns: the frame time in ms from the stream's average (else guessed) frame rate, None when unknown.
    """
    import av

    hint = "Check that the file is a complete video (copy or export it again), or export the cine as DICOM or MP4."
    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except Exception as error:  # av.error.InvalidDataError and friends on garbage or truncated files
        raise InputError(
            f"Cannot open {path} as a video ({type(error).__name__}: {_first_line(error)}).", hint
        ) from error
    with container:
        if not container.streams.video:
            raise InputError(f"{path} holds no video stream.", hint)
        stream = container.streams.video[0]
        metadata.update(codec=stream.codec_context.name, container=container.format.name)
        rate = stream.average_rate or stream.guessed_rate
        index = 0
        try:
            for frame in container.decode(stream):
                # rgb24 whatever the stored pixel format, so that the Doppler check sees the colours.
                collector.add(
                    frame.to_ndarray(format="rgb24").astype(np.float32) / np.float32(255.0),
                    f"frame {index + 1} of {path}",
                )
                index += 1
        except InputError:
            raise
        except Exception as error:
            raise InputError(
                f"Cannot decode frame {index + 1} of {path} ({type(error).__name__}: {_first_line(error)}).", hint
            ) from error
    if index == 0:
        raise InputError(f"{path} holds no decodable video frame.", hint)
    if rate:
        rate = Fraction(rate)
        if rate > 0:
            return float(1000 / rate)
    return None


def _read_video(path: Path) -> Cine:
    collector = _FrameCollector(path)
    metadata = _empty_metadata()
    frame_time = _decode_video(path, path, collector, metadata)
    return Cine(
        frames=collector.stack(), source_path=str(path), kind="video", frame_time_ms=frame_time, metadata=metadata
    )
