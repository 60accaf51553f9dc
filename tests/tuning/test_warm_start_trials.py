"""A tuner trial of a fused variant takes the warm start and the branch schedule of
``semser train`` (TrainSettings.warm_start, staged_frozen_epochs) and the paired modality
dropout of the shared run data."""

import numpy as np
import pytest

from tests.tuning.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_trial_starts_from_the_paralinguistic_model_and_unfreezes_it(
    tiny_corpus, tiny_cache, tmp_path
):
    import keras
    import keras_tuner as kt

    from semser_tf.data.frames import ZeroFrameFeatures
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.errors import ConfigError
    from semser_tf.models import ModelConfig
    from semser_tf.models.builder import build_model
    from semser_tf.training.run import TrainSettings
    from semser_tf.tuning import SemserHyperModel

    keras.utils.set_random_seed(3)
    para = build_model(ModelConfig(**TINY))
    para.save(tmp_path / "para.keras")
    want = para.get_layer("paralinguistic").get_weights()
    settings = TrainSettings(
        epochs=2,
        steps_per_epoch=1,
        jit_compile=False,
        warm_start=str(tmp_path / "para.keras"),
        staged_frozen_epochs=1,
        dropout_mode="paired",
        dropped_unscored=("arousal",),
    )
    cfg = ModelConfig(**{**TINY, "variant": "concat"})
    corpus = SEWACorpus(tiny_corpus)
    feats = ZeroFrameFeatures(cfg.semantic_dim)
    hm = SemserHyperModel(cfg, {"lstm_units": [4]}, corpus, settings, feats, cache_dir=tiny_cache)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    branch = model.get_layer("paralinguistic")
    assert not branch.trainable
    for got, w in zip(branch.get_weights(), want):
        np.testing.assert_array_equal(got, w)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_layer("paralinguistic").get_weights()])

    hm.fit(hp, model, callbacks=[Record()])
    assert all(np.array_equal(g, w) for g, w in zip(seen[0], want))  # epoch 1: frozen
    assert any(not np.array_equal(g, w) for g, w in zip(seen[1], want))  # epoch 2: fine-tuned
    with pytest.raises(ConfigError, match="TrainSettings.staged_epochs: a tuner trial"):
        SemserHyperModel(cfg, {"lstm_units": [4]}, corpus, TrainSettings(staged_epochs=2)).build(hp)
