import shutil

import pytest

SMALL = dict(
    sequence_length=50,
    batch_size=2,
    conv_filters=(4, 4, 8),
    fusion_units=16,
    stream_units=8,
    lstm_units=8,
    semantic_dim=8,
    learning_rate=1e-3,
)


@pytest.fixture(scope="session")
def speech_corpus(tmp_path_factory):
    """A small SEWA-layout corpus of eSpeak speech: 2 Train, 1 Devel, 1 Test recordings."""
    from semser_tf.data.synthetic import generate_corpus

    root = tmp_path_factory.mktemp("training") / "corpus"
    generate_corpus(root, minutes=1.5, seed=3, recording_seconds=25, progress=False)
    return root


@pytest.fixture
def corpus_without_devel(speech_corpus, tmp_path):
    root = tmp_path / "nodevel"
    shutil.copytree(speech_corpus, root)
    for sub in ("audio", "labels", "turns", "transcriptions", "words"):
        for f in (root / sub).glob("Devel_*"):
            f.unlink()
    return root


def train_small(corpus, run, variant="paralinguistic", callbacks=(), **settings):
    """``train`` of a SMALL model, quietly (no plots, no final evaluation)."""
    import warnings

    from semser_tf.models.config import ModelConfig
    from semser_tf.training.run import TrainSettings, train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(
            corpus,
            run,
            ModelConfig(variant=variant, **SMALL),
            TrainSettings(**settings),
            verbose=0,
            plots=False,
            callbacks=list(callbacks),
            evaluate_best=False,
        )
