"""Prediction over time for an audio file: streamed window by window, CSV and plot out.

The audio is read and resampled in windows of ``sequence_length`` frames (30 s with the
paper's config), a few windows per model call, so memory stays flat in the file's length:
a 2-hour file never has 2 hours of waveform frames in memory at once. The windows are
predicted one after another with the LSTM state carried from each window to the next
(:mod:`semser_tf.models.stateful`), so the prediction equals one pass of the model over the
whole file: no seams at the window boundaries (``evaluate`` predicts a partition by the
same rule). ``window_reset=True`` gives the older rule (each window from zero state, as
the model was trained on 30 s windows), which jumps at every window boundary. The
per-frame semantic features (one small vector per 100 ms, 0.4 KB
per frame at dimension 100: 29 MB for 2 hours) are computed once for the whole file.

WAV files are streamed from disk; other formats (FLAC, MP3, OGG, through tensorflow-io)
are decoded whole first. Resampling of a streamed WAV is done per chunk with a margin of
context on each side, so chunk boundaries leave no seams.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE, SAMPLE_RATE, SAMPLES_PER_FRAME
from semser_tf.errors import ConfigError, DataError

# Re-exported: their home is semser_tf.inference_io.
from semser_tf.inference_io import Prediction as Prediction
from semser_tf.inference_io import _ArrayStream, _WavStream  # noqa: F401
from semser_tf.inference_io import checked_words as checked_words
from semser_tf.inference_io import frames_of as frames_of
from semser_tf.inference_io import open_audio_stream as open_audio_stream


class Predictor:
    """Turn audio (and optionally word timings) into per-frame predictions with a model.

    The waveform frames are 100 ms (2205 samples at 22050 Hz); a model with
    ``samples_per_frame`` 4410 (the official two-slot speaker layout) gets each frame's
    samples in slot 0, the subject speaking throughout (there are no turns to place them
    otherwise). The frame layout is read from the model's waveform input, never assumed.

    Args:
        model: a :class:`~semser_tf.models.SemserModel` (or a functional model of the
            package's variants).
        config: its run's :class:`~semser_tf.models.ModelConfig` (``sequence_length``: the
            window predicted per model call; targets when the model does not say).
        frame_features: the semantic frame features (a ``FrameFeatures``: callable
            ``f(recording, n_frames)`` with ``dim``); ``None`` gives zeros (for a model
            trained with zero semantic input).
        windows_per_call: windows predicted per model call (memory: about 2.6 MB each): as
            one sequence of consecutive windows with the state carried, or as a batch of
            windows each from zero state with ``window_reset``.
        input_format: the :class:`~semser_tf.models.InputFormat` of a preset (checked
            against the model).

    Example:

    >>> p = Predictor(model, config, features)                  # doctest: +SKIP
    >>> pred = p.predict("talk.wav", words="talk_words.csv")    # doctest: +SKIP
    >>> pred.to_csv("talk.csv"); pred.plot("talk.png")          # doctest: +SKIP
    """

    def __init__(
        self, model, config=None, frame_features=None, windows_per_call=4, input_format=None
    ):
        import keras

        self.model = model
        self.config = config
        self.frame_features = frame_features
        self.windows_per_call = int(windows_per_call)
        self.input_names = [t.name for t in model.inputs]
        shapes = {t.name: tuple(t.shape) for t in model.inputs}
        self.samples_per_frame = (
            int(shapes["waveform"][-1]) if "waveform" in shapes else SAMPLES_PER_FRAME
        )
        if self.samples_per_frame not in (SAMPLES_PER_FRAME, 2 * SAMPLES_PER_FRAME):
            raise DataError(
                f"model {model.name!r} takes {self.samples_per_frame} waveform samples per frame; the "
                f"predictor makes 100 ms frames of {SAMPLES_PER_FRAME} samples at {SAMPLE_RATE} Hz "
                f"({2 * SAMPLES_PER_FRAME} with the two speaker slots)"
            )
        self.semantic_dim = int(shapes["semantic"][-1]) if "semantic" in shapes else None
        self.sequence_length = int(getattr(config, "sequence_length", None) or 300)
        model_targets = getattr(model, "targets", None)
        self._targets = tuple(model_targets) if model_targets else tuple(config.targets)
        if input_format is not None and hasattr(model, "architecture"):
            input_format.check_model(model, f"model {model.name!r}")
        self._weights_model = None
        try:
            layer = model.get_layer("modality_attention")
            self._weights_model = keras.Model(model.input, [model.output, layer.output[1]])
        except ValueError:
            pass

    @property
    def targets(self):
        return self._targets

    def _semantic(self, audio, words, n_frames):
        dim = self.semantic_dim
        if "semantic" not in self.input_names:
            return None
        if self.frame_features is None:
            return np.zeros((n_frames, dim), np.float32)
        from semser_tf.data.corpus import Recording

        rec = Recording(
            name=Path(str(audio)).stem if isinstance(audio, (str, Path)) else "audio",
            partition="predict",
            audio_path=audio if isinstance(audio, (str, Path)) else "<array>",
            label_path=None,
            targets=self.targets,
            labels=None,
            words=words,
        )
        feats = np.asarray(self.frame_features(rec, n_frames), np.float32)
        if feats.shape != (n_frames, dim):
            raise DataError(f"frame features of shape {feats.shape}: expected ({n_frames}, {dim})")
        return feats

    def step_model(self, with_weights=True):
        """The stateful step model of this predictor's model (built once; see
        :func:`semser_tf.models.stateful.stateful_step_model`): inputs the model's plus
        the LSTM state ``h``, ``c``; outputs ``emotion``, ``h``, ``c`` (and
        ``modality_weights`` with ``with_weights`` for an attention model)."""
        from semser_tf.models.stateful import stateful_step_model

        key = bool(with_weights and self._weights_model is not None)
        cache = self.__dict__.setdefault("_step_models", {})
        if key not in cache:
            cache[key] = stateful_step_model(self.model, with_weights=key)
        return cache[key]

    def runner(self, with_weights=True):
        """A new :class:`~semser_tf.models.stateful.StatefulRunner` (zero state) over
        :meth:`step_model`: one per file or stream."""
        from semser_tf.models.stateful import StatefulRunner

        return StatefulRunner(self.model, step_model=self.step_model(with_weights))

    def stream(
        self,
        chunks,
        sample_rate=SAMPLE_RATE,
        words=None,
        with_weights=True,
        words_from="none",
        delay=3.0,
        recognizer="auto",
    ):
        """Predictions of live audio, one :class:`~semser_tf.streaming.StreamFrame` per
        100 ms frame, yielded as soon as the frame's samples have arrived.

        The LSTM state is carried from frame to frame, so streaming a file gives the
        frames of :meth:`predict` (within float rounding). See :mod:`semser_tf.streaming`
        for the rules (resampling, the last partial frame, the semantic input).

        Args:
            chunks: an iterable of 1-D float arrays (samples in [-1, 1] at
                ``sample_rate``; (samples, channels) is averaged), each 100 ms or a
                multiple of it; only the last may be shorter (else a ``DataError``).
            sample_rate: their rate in Hz, a multiple of 10 (resampled to 22050 as they come).
            words: word timings known up front (a ``start;end;word`` file or a list of
                ``WordTiming``): exact semantic input; ``None``: zeros (the voice alone).
            with_weights: the attention model's modality weights in each frame.
            words_from: ``"none"`` (the words given, else zeros) or ``"asr"``: words
                recognised live, utterance by utterance (see :mod:`semser_tf.streaming`).
            delay: with ``"asr"``: the most seconds a frame waits for its words.
            recognizer: with ``"asr"``: ``auto``, ``whisper`` or ``pocketsphinx``, or a
                :class:`~semser_tf.semantic.words.live.LiveWords`.

        Yields:
            :class:`~semser_tf.streaming.StreamFrame` (``index``, ``time``, ``values``
            in :attr:`targets` order, ``weights``).

        Example:

        >>> for frame in predictor.stream(mic_chunks(), sample_rate=16000):  # doctest: +SKIP
        ...     print(frame.time, frame.values)
        """
        from semser_tf.streaming import stream_predictions

        live = None
        if words_from not in ("none", "asr"):
            raise ConfigError(f"words_from {words_from!r}: expected 'none' or 'asr'")
        if words_from == "asr":
            from semser_tf.semantic.words.live import LiveWords

            # utterances cut at `delay` s at most, so that a frame's words come before it times out
            live = (
                recognizer
                if isinstance(recognizer, LiveWords)
                else LiveWords(
                    SAMPLE_RATE,
                    recognizer=recognizer,
                    max_utterance=min(8.0, max(1.0, float(delay))),
                )
            )
        return stream_predictions(
            self, chunks, sample_rate, words, with_weights, live_words=live, delay=delay
        )

    def _window_inputs(self, stream, semantic, ks, batch):
        """Inputs of windows ``ks`` (a fixed batch of ``batch`` rows: no retracing)."""
        T, spf = self.sequence_length, SAMPLES_PER_FRAME  # 100 ms; slot 0 of a two-slot frame
        x = {}
        if "waveform" in self.input_names:
            wav = np.zeros((batch, T, self.samples_per_frame), np.float32)
            for i, k in enumerate(ks):
                wav[i, :, :spf] = stream.samples(k * T * spf, (k + 1) * T * spf).reshape(T, spf)
            x["waveform"] = wav
        if semantic is not None:
            sem = np.zeros((batch, T, semantic.shape[1]), np.float32)
            for i, k in enumerate(ks):
                part = semantic[k * T : (k + 1) * T]
                sem[i, : len(part)] = part
            x["semantic"] = sem
        return x

    def predict(
        self,
        audio,
        words=None,
        sample_rate=None,
        with_weights=True,
        progress=False,
        window_reset=False,
    ) -> Prediction:
        """Predictions for a whole file (or array), streamed window by window.

        The windows (``sequence_length`` frames) are predicted one after another with the
        LSTM state carried across them, so the result equals one pass of the model over
        the whole file (no seams at window boundaries) while memory stays flat.

        Args:
            audio: a path (WAV streamed; FLAC/MP3/OGG decoded whole) or a 1-D array.
            words: word timings (a ``start;end;word`` file or a list of ``WordTiming``);
                without them the semantic input is whatever the frame features give for
                no words (zeros for the lookup mode).
            sample_rate: the rate of an array input.
            with_weights: also return the modality weights of an attention model.
            progress: print a progress bar.
            window_reset: the older rule: every window from zero LSTM state (and
                ``windows_per_call`` windows per model call); the predictions jump at
                each window boundary.
        """
        stream = open_audio_stream(audio, sample_rate)
        n_frames = frames_of(stream)
        words = checked_words(words, stream, audio)
        semantic = self._semantic(audio, words, n_frames)
        T = self.sequence_length
        n_windows = int(math.ceil(n_frames / T))
        values = np.zeros((n_windows * T, len(self.targets)), np.float32)
        weights = (
            np.zeros((n_windows * T, 2), np.float32)
            if (with_weights and self._weights_model)
            else None
        )
        B = self.windows_per_call
        run = None if window_reset else self.runner(weights is not None)
        if progress:
            import keras

            bar = keras.utils.Progbar(n_windows, unit_name="window")
        else:
            bar = None
        for first in range(0, n_windows, B):
            ks = list(range(first, min(first + B, n_windows)))
            x = self._window_inputs(stream, semantic, ks, B)
            if run is not None:  # the B windows as one sequence of B * T frames, the state carried
                res = run.step({k: v.reshape(1, B * T, v.shape[-1]) for k, v in x.items()})
                out = res["emotion"].reshape(B, T, -1)
                w = res["modality_weights"].reshape(B, T, 2) if "modality_weights" in res else None
            elif weights is not None:
                out, w = self._weights_model.predict_on_batch(x)
            else:
                out, w = self.model.predict_on_batch(x), None
            if weights is not None:
                weights[first * T : (first + len(ks)) * T] = np.asarray(w[: len(ks)]).reshape(-1, 2)
            values[first * T : (first + len(ks)) * T] = np.asarray(out[: len(ks)]).reshape(
                -1, len(self.targets)
            )
            if bar:
                bar.update(first + len(ks))
        times = np.arange(n_frames) / FRAME_RATE
        return Prediction(
            times, values[:n_frames], self.targets, None if weights is None else weights[:n_frames]
        )

    def predict_many(
        self, items, words=None, sample_rate=None, with_weights=True, batch_size=32
    ) -> list:
        """Predictions for many recordings, several per model call: one per item, in order.

        Each equals :meth:`predict` of the item (within float rounding), but the
        recordings are padded to a few bucket lengths and predicted side by side, so the
        model sees a handful of input shapes whatever the number and lengths of the items
        (see :mod:`semser_tf.inference_batch`): short clips cost their own length, not a
        whole window each.

        Args:
            items: paths (WAV streamed; FLAC/MP3/OGG decoded whole) and/or 1-D arrays.
            words: ``None``, or one entry per item as :meth:`predict` takes it
                (``None``, a ``start;end;word`` file, or a list of ``WordTiming``).
            sample_rate: the rate of the array items (one number, or one per item).
            with_weights: also return the modality weights of an attention model.
            batch_size: the most recordings predicted side by side in one model call.

        Returns:
            A list of :class:`Prediction`, one per item, in the items' order.

        Example:

        >>> preds = predictor.predict_many(["a.wav", "b.wav"], words=["a.csv", None])  # doctest: +SKIP
        """
        from semser_tf.inference_batch import iter_predictions

        items = list(items)
        out = [None] * len(items)
        for i, pred in iter_predictions(
            self, items, words, sample_rate, with_weights=with_weights, batch_size=batch_size
        ):
            out[i] = pred
        return out
