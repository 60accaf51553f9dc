"""Ogg container checks without decoding (RFC 3533): is a file cut short?"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TruncatedAudioWarning", "ogg_truncation"]


class TruncatedAudioWarning(UserWarning):
    """A compressed file ends before its end-of-stream marker: only its first part decodes."""


def ogg_truncation(path) -> str | None:
    """Why an Ogg file is cut short, or ``None`` when its pages are complete.

    Walks the Ogg pages (RFC 3533: capture pattern ``OggS``, 27-byte header, segment table,
    body) without decoding: a page that runs past the end of the file, bytes that are not
    a page, or a last page without the end-of-stream flag mean the file was truncated.
    """
    path = Path(path)
    size = path.stat().st_size
    pos = 0
    last_flags = None
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            head = fh.read(27)
            if len(head) < 27:
                return f"the file ends inside an Ogg page header at byte {pos}"
            if head[:4] != b"OggS":
                return f"no Ogg page at byte {pos} (damaged or cut short)"
            n_seg = head[26]
            table = fh.read(n_seg)
            if len(table) < n_seg:
                return f"the file ends inside the Ogg page at byte {pos}"
            end = pos + 27 + n_seg + sum(table)
            if end > size:
                return f"the last Ogg page (byte {pos}) needs {end - size} more bytes than the file holds"
            last_flags = head[5]
            pos = end
    if last_flags is not None and not last_flags & 0x04:
        return "the last Ogg page has no end-of-stream flag"
    return None
