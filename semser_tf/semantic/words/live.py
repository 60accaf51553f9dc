"""Words from live audio: utterances cut at pauses, each recognised when it ends.

:class:`LiveWords` takes audio as it arrives (any rate, mono), finds utterances with a
per-10 ms energy detector, and recognises each one (Whisper or pocketsphinx, through
:class:`~semser_tf.semantic.words.source.WordSource`) as soon as it is closed by a pause
of ``pause`` seconds, or when it reaches ``max_utterance`` seconds. Its words, with times
in seconds of the stream, are then *final*: :attr:`LiveWords.final_until` is the time up
to which every word is known (the start of the utterance still open, else the audio
received). ``semser stream --words-from asr`` holds each frame back until its words are
final or ``delay`` seconds have passed (:mod:`semser_tf.streaming`).

Only the open utterance's audio is kept, so memory stays flat on an endless stream.

Example:

>>> live = LiveWords(sample_rate=16000)                    # doctest: +SKIP
>>> for chunk in chunks: live.push(chunk)                  # doctest: +SKIP
>>> live.flush(); live.take()[:2]                          # doctest: +SKIP
[WordTiming(start=0.52, end=0.8, word='the'), WordTiming(start=0.8, end=1.2, word='weather')]
"""

from __future__ import annotations

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.types import WordTiming

__all__ = ["LiveWords"]

_STEP_S = 0.01


class LiveWords:
    """Utterance-by-utterance recognition of a stream (see the module doc).

    Args:
        sample_rate: the rate of the pushed audio.
        recognizer: ``auto`` (Whisper when installed, else pocketsphinx), ``whisper`` or
            ``pocketsphinx``.
        whisper_model: the Whisper model (``base``, or a CTranslate2 folder).
        language_model: a pocketsphinx language model (ARPA file), pocketsphinx only.
        pause: seconds of quiet that close an utterance.
        max_utterance: longest utterance recognised at once (seconds); a longer one is
            cut and recognised in pieces.
        threshold_db: a 10 ms step is speech when its level is above this many dB below
            the loudest step so far (and above -50 dBFS).
        recognize: a function ``(audio, sample_rate) -> [WordTiming]`` instead of a
            recogniser (for tests and other engines).
    """

    def __init__(
        self,
        sample_rate: int,
        recognizer: str = "auto",
        whisper_model="base",
        language_model=None,
        pause: float = 0.3,
        max_utterance: float = 8.0,
        threshold_db: float = 35.0,
        recognize=None,
    ):
        if not pause > 0 or not max_utterance > pause:
            raise ConfigError(
                f"pause {pause!r} and max_utterance {max_utterance!r}: expected 0 < pause < max_utterance"
            )
        self.sample_rate = int(sample_rate)
        self.step = max(1, int(round(_STEP_S * self.sample_rate)))
        self.pause_steps = int(round(pause / _STEP_S))
        self.max_steps = int(round(max_utterance / _STEP_S))
        self.threshold_db = float(threshold_db)
        if recognize is None:
            from .source import WordSource, resolve_recognizer

            source = WordSource(
                "asr",
                recognizer=resolve_recognizer(recognizer, language_model or "auto"),
                language_model=language_model,
                whisper_model=whisper_model,
            )
            recognize = source.recognize
        self._recognize = recognize
        self._tail = np.zeros(0, np.float32)  # samples not yet in a 10 ms step
        self._steps_done = 0  # 10 ms steps seen
        self._utt: list[np.ndarray] = []  # the open utterance's steps
        self._utt_start = None  # its first step
        self._quiet = 0  # quiet steps at its end
        self._loudest = -120.0
        self._final: list[WordTiming] = []
        self.utterances = 0

    def warm_up(self) -> None:
        """Load the recogniser's model now (one call on a second of quiet audio)."""
        from .asr import RecognitionError

        try:
            self._recognize(np.zeros(self.sample_rate, np.float32), self.sample_rate)
        except RecognitionError:
            pass

    @property
    def final_until(self) -> float:
        """Seconds of the stream up to which the words are final."""
        if self._utt_start is not None:
            return self._utt_start * _STEP_S
        return self._steps_done * _STEP_S

    def take(self) -> list[WordTiming]:
        """The words that became final since the last call, in order."""
        out, self._final = self._final, []
        return out

    def push(self, x) -> None:
        """Feed the next samples (1-D, or (samples, channels): averaged)."""
        x = np.asarray(x, np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        x = np.concatenate([self._tail, x.reshape(-1)])
        n = len(x) // self.step
        self._tail = x[n * self.step :]
        for k in range(n):
            self._add_step(x[k * self.step : (k + 1) * self.step])

    def flush(self) -> None:
        """The stream ended: recognise the open utterance."""
        if len(self._tail):
            self._add_step(np.pad(self._tail, (0, self.step - len(self._tail))))
            self._tail = np.zeros(0, np.float32)
        self._close()

    def _add_step(self, s: np.ndarray) -> None:
        level = 10 * np.log10(float(np.mean(s.astype(np.float64) ** 2)) + 1e-12)
        self._loudest = max(self._loudest, level)
        speech = level > max(-50.0, self._loudest - self.threshold_db)
        if self._utt_start is None:
            if speech:
                self._utt_start, self._utt, self._quiet = self._steps_done, [s], 0
        else:
            self._utt.append(s)
            self._quiet = 0 if speech else self._quiet + 1
            if self._quiet >= self.pause_steps or len(self._utt) >= self.max_steps:
                self._close()
        self._steps_done += 1

    def _close(self) -> None:
        if self._utt_start is None:
            return
        audio = np.concatenate(self._utt)
        offset = self._utt_start * _STEP_S
        self._utt, self._utt_start, self._quiet = [], None, 0
        self.utterances += 1
        from .asr import RecognitionError

        try:
            words = self._recognize(audio, self.sample_rate)
        except RecognitionError:  # too short or silent for the recogniser: no words
            words = []
        self._final.extend(WordTiming(offset + w.start, offset + w.end, w.word) for w in words)
