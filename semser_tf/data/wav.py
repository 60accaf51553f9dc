"""WAV files read without TensorFlow: the format of a file from its first bytes, the RIFF
header of a WAV file (PCM 8/16/24/32-bit, IEEE float 32/64-bit, WAVE_FORMAT_EXTENSIBLE,
streamed files of unknown size) and its samples in NumPy. :mod:`semser_tf.data.audio`
decodes every format on top of this."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from semser_tf.errors import DataError

__all__ = ["MAX_SAMPLE_RATE", "MIN_SAMPLE_RATE", "sniff_format", "wav_info"]

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_STREAMING_SIZE = 0xFFFFFFFF  # "size unknown" written by streaming encoders

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
"""Sample rates accepted from a file's header (Hz); outside them the header is taken as
damaged, before any sample is read or any resampling filter is built."""


# ---------------------------------------------------------------------------
# Format sniffing and WAV parsing
# ---------------------------------------------------------------------------


def sniff_format(path) -> str:
    """Identify an audio file by its first bytes: ``wav``, ``flac``, ``ogg`` or ``mp3``.

    Args:
        path: the file.

    Returns:
        The format name.

    Raises:
        DataError: missing, empty or of an unrecognised format.

    Example:
        >>> sniff_format("audio/Train_01.wav")  # doctest: +SKIP
        'wav'
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("audio file not found", path)
    size = path.stat().st_size
    if size == 0:
        raise DataError("audio file is empty (0 bytes)", path)
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] in (b"RIFX", b"RF64"):
        raise DataError(
            f"unsupported WAV variant {head[:4].decode()}; expected little-endian RIFF WAVE", path
        )
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mp3"
    raise DataError(
        f"unsupported audio format (first bytes {head[:8]!r}); expected WAV, FLAC, MP3 or OGG/Vorbis",
        path,
    )


def wav_info(path) -> dict:
    """Parse a WAV file's RIFF header and check the data chunk is complete.

    Args:
        path: a RIFF/WAVE file.

    Returns:
        dict with ``format`` (1 PCM or 3 float, after resolving WAVE_FORMAT_EXTENSIBLE),
        ``extensible`` (the header used WAVE_FORMAT_EXTENSIBLE), ``channels``,
        ``sample_rate``, ``bits``, ``block_align``, ``data_offset``, ``data_size`` (bytes)
        and ``frames``.

    Raises:
        DataError: not a WAV file, no ``fmt``/``data`` chunk, an unsupported encoding,
            or a data chunk longer than the file (truncated).

    Example:
        >>> wav_info("audio/Train_01.wav")["sample_rate"]  # doctest: +SKIP
        22050
    """
    path = Path(path)
    if sniff_format(path) != "wav":
        raise DataError("not a RIFF/WAVE file", path)
    file_size = path.stat().st_size
    fmt = None
    with open(path, "rb") as fh:
        fh.seek(12)
        pos = 12
        while True:
            header = fh.read(8)
            if len(header) < 8:
                break
            cid, size = struct.unpack("<4sI", header)
            body_start = pos + 8
            if cid == b"fmt ":
                if size < 16:
                    raise DataError(f"WAV fmt chunk is {size} bytes; expected at least 16", path)
                raw = fh.read(size)
                if len(raw) < 16:
                    raise DataError("WAV fmt chunk is truncated", path)
                tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", raw[:16])
                extensible = tag == _WAVE_FORMAT_EXTENSIBLE
                if extensible:
                    if len(raw) < 26:
                        raise DataError("WAVE_FORMAT_EXTENSIBLE fmt chunk too short", path)
                    tag = struct.unpack("<H", raw[24:26])[0]
                fmt = dict(
                    format=tag,
                    channels=channels,
                    sample_rate=rate,
                    bits=bits,
                    block_align=block_align,
                    extensible=extensible,
                )
            elif cid == b"data":
                if fmt is None:
                    raise DataError("WAV data chunk comes before the fmt chunk", path)
                available = file_size - body_start
                if size == _STREAMING_SIZE:
                    size = available
                if size > available:
                    raise DataError(
                        f"truncated WAV: header announces {size} data bytes, the file holds {available}",
                        path,
                    )
                _check_wav_format(fmt, path)
                frames = size // fmt["block_align"]
                return dict(fmt, data_offset=body_start, data_size=size, frames=frames)
            pos = body_start + size + (size & 1)
            fh.seek(pos)
    if fmt is None:
        raise DataError("WAV file has no fmt chunk", path)
    raise DataError("WAV file has no data chunk (truncated?)", path)


def _check_wav_format(fmt: dict, path) -> None:
    tag, bits, ch = fmt["format"], fmt["bits"], fmt["channels"]
    if ch < 1:
        raise DataError(f"WAV header gives {ch} channels", path)
    _check_rate(fmt["sample_rate"], path, "WAV header gives")
    ok = (tag == _WAVE_FORMAT_PCM and bits in (8, 16, 24, 32)) or (
        tag == _WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64)
    )
    if not ok:
        raise DataError(
            f"unsupported WAV encoding (format tag {tag:#06x}, {bits} bits); expected integer PCM "
            "8/16/24/32-bit or IEEE float 32/64-bit",
            path,
        )
    if fmt["block_align"] != ch * bits // 8:
        raise DataError(
            f"WAV block_align {fmt['block_align']} does not match {ch} channels x {bits} bits", path
        )


def _check_rate(rate, path, what: str) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DataError(
            f"{what} sample rate {rate} Hz; expected {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
            "(a damaged or mislabelled header?)",
            path,
        )


def _read_wav_numpy(path, info: dict) -> np.ndarray:
    """Decode the data chunk to float32 (frames, channels) with integer PCM scaled to [-1, 1]."""
    with open(path, "rb") as fh:
        fh.seek(info["data_offset"])
        raw = fh.read(info["frames"] * info["block_align"])
    ch, bits = info["channels"], info["bits"]
    if info["format"] == _WAVE_FORMAT_IEEE_FLOAT:
        data = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif bits == 8:  # unsigned, offset 128
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 16:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        data = (v.astype(np.float64) / float(1 << 23)).astype(np.float32)
    else:  # 32-bit int
        data = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)).astype(
            np.float32
        )
    return data.reshape(-1, ch)
