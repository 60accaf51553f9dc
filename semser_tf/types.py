"""Small value types shared by the data and semantic packages."""

from __future__ import annotations

from typing import NamedTuple


class WordTiming(NamedTuple):
    """One spoken word with its time span in seconds.

    Args:
        start: onset in seconds from the start of the recording.
        end: offset in seconds (``end >= start``).
        word: the word as written in the transcript (may be empty when unknown).
    """

    start: float
    end: float
    word: str
