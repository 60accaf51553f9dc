"""Validation during training by the rule of ``predict`` and ``evaluate``: the LSTM state
carried across each recording's windows.

Keras's ``fit(validation_data=...)`` predicts every validation window from zero state, while
``semser predict``, ``evaluate`` and streaming carry the state over the whole recording
(:class:`~semser_tf.models.stateful.StatefulRunner`). A checkpoint selected by the first rule
is not the best one under the second. :class:`CarriedValidation` is a Keras callback that,
at the end of every epoch, predicts the validation partition as ``evaluate`` does and writes
``val_ccc`` (the mean over targets), ``val_ccc_<target>`` and ``val_loss`` (``1 - val_ccc``)
into the epoch's logs, before early stopping, the checkpoints, the history and a tuner's
oracle read them. The CCC is over the whole partition concatenated (the AVEC rule), frames
without a label left out; with ``delay_frames = d`` the prediction at frame ``t`` is scored
against the label at ``t + d``, as the data loader pairs them in training.

``TrainSettings.validation`` picks the rule: ``carried`` (the default) or ``window`` (Keras's
own validation, each window from zero state, the rule of runs recorded before it existed).
"""

from __future__ import annotations

import keras
import numpy as np

from semser_tf.errors import ConfigError

VALIDATION_RULES = ("carried", "window")
"""``TrainSettings.validation``: ``carried`` (state carried, as predict) or ``window``."""


def check_validation_rule(rule: str) -> str:
    if rule not in VALIDATION_RULES:
        raise ConfigError(f"validation={rule!r}: expected one of {', '.join(VALIDATION_RULES)}")
    return rule


def partition_ccc(predictions: dict, corpus, partition: str, targets, delay_frames: int = 0):
    """``({target: CCC}, mean)`` of per-recording predictions over the concatenated partition.

    ``delay_frames = d`` scores the prediction at frame ``t`` against the label at ``t + d``.
    """
    from semser_tf.metrics_numpy import ccc_np

    d = int(delay_frames)
    preds, golds = [], []
    for rec in corpus.recordings(partition):
        if not rec.has_labels or rec.name not in predictions:
            continue
        p, g = predictions[rec.name], rec.labels
        n = min(len(p), len(g))
        p, g = p[: max(n - d, 0)], g[d:n]
        keep = ~np.isnan(g).any(axis=1)
        preds.append(p[keep])
        golds.append(g[keep])
    if not preds:
        nan = float("nan")
        return {t: nan for t in targets}, nan
    p, g = np.concatenate(preds), np.concatenate(golds)
    per = {t: ccc_np(p[:, i], g[:, i]) for i, t in enumerate(targets)}
    return per, float(np.nanmean(list(per.values())))


class CarriedValidation(keras.callbacks.Callback):
    """Writes the carried-state validation CCC into each epoch's logs (see the module doc).

    Args:
        corpus: the run's corpus (with its validation partition).
        partition: the validation partition.
        targets: the model's targets, in output order.
        sequence_length: frames per window (the model's).
        delay_frames: the annotation-delay shift of training.
        frame_features: the semantic frame features of the run (or ``None``).
        cache_dir: the frame cache.

    Example:

    >>> cb = CarriedValidation(corpus, "Devel", ("arousal", "valence"), 100)  # doctest: +SKIP
    >>> model.fit(train, epochs=5, callbacks=[cb, keras.callbacks.EarlyStopping("val_ccc")])  # doctest: +SKIP
    """

    def __init__(
        self,
        corpus,
        partition: str,
        targets,
        sequence_length: int,
        delay_frames: int = 0,
        frame_features=None,
        cache_dir=None,
    ):
        super().__init__()
        self.corpus = corpus
        self.partition = partition
        self.targets = tuple(targets)
        self.sequence_length = int(sequence_length)
        self.delay_frames = int(delay_frames)
        self.frame_features = frame_features
        self.cache_dir = cache_dir
        self._runner = None

    def runner(self):
        """One step model for the whole run: it shares the trained model's variables."""
        from semser_tf.models.stateful import StatefulRunner

        if self._runner is None or self._runner.model is not self.model:
            self._runner = StatefulRunner(self.model, with_weights=False)
        return self._runner

    def evaluate(self) -> dict:
        """``{"val_ccc", "val_ccc_<target>", "val_loss"}`` of the model as it is now."""
        from semser_tf.training.evaluate import predict_partition

        preds = predict_partition(
            self.model,
            self.corpus,
            self.partition,
            sequence_length=self.sequence_length,
            frame_features=self.frame_features,
            cache_dir=self.cache_dir,
            runner=self.runner(),
        )
        per, mean = partition_ccc(
            preds, self.corpus, self.partition, self.targets, self.delay_frames
        )
        out = {"val_ccc": mean, "val_loss": 1.0 - mean}
        out.update({f"val_ccc_{t}": v for t, v in per.items()})
        return out

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.evaluate())


__all__ = ["VALIDATION_RULES", "CarriedValidation", "check_validation_rule", "partition_ccc"]
