"""Words from audio: speech recognition and forced alignment with timings (pocketsphinx).

A bare audio file gets word timings, so the semantic branch has input without a words
file (the paper used sentence transcripts aligned by aeneas; here either a transcript is
aligned or the words are recognised):

* :func:`recognize` (:mod:`.asr`) - English speech recognition with pocketsphinx's
  bundled model; ``list[WordTiming]`` in seconds of the input.
* :func:`~.whisper.recognize_whisper` (:mod:`.whisper`) - the same with Whisper
  (faster-whisper; optional packages), ``WordSource(recognizer="whisper")``.
* :func:`align` (:mod:`.forced_align`) - word timings of a known transcript (a text or
  timed sentences).
* :class:`WordSource` (:mod:`.source`) - the object the CLI and the pipeline call: a given
  words file, else alignment of a given transcript, else recognition; :func:`write_words`
  writes the project's ``start;end;word`` file.
* :func:`fill_corpus_words` / :func:`write_corpus_words` (:mod:`.corpus`) - words for the
  recordings of a corpus that has no word files, computed once and cached.
* :mod:`.language_model` - a domain n-gram model for the recogniser, from text.
* :mod:`.metrics` - word error rate and word-boundary error.

pocketsphinx is imported only when words are recognised or aligned.
"""

from .asr import MIN_DURATION, RecognitionError, recognize
from .corpus import fill_corpus_words, write_corpus_words
from .forced_align import AlignmentError, align
from .metrics import boundary_errors, corpus_word_error_rate, word_error_rate, word_errors
from .source import MODES, RECOGNIZERS, WordSource, WordsResult, format_words, write_words

__all__ = [
    "MIN_DURATION",
    "MODES",
    "RECOGNIZERS",
    "AlignmentError",
    "RecognitionError",
    "WordSource",
    "WordsResult",
    "align",
    "boundary_errors",
    "corpus_word_error_rate",
    "fill_corpus_words",
    "format_words",
    "recognize",
    "word_error_rate",
    "word_errors",
    "write_corpus_words",
    "write_words",
]
