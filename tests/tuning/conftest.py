import pytest

# A tiny paralinguistic model: trials take a few seconds on a CPU.
TINY = dict(
    variant="paralinguistic",
    conv_filters=(4, 4, 8),
    fusion_units=16,
    stream_units=8,
    lstm_units=8,
    semantic_dim=8,
    sequence_length=50,
    batch_size=2,
    learning_rate=1e-3,
    clipnorm=None,
)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """A small SEWA-layout corpus of eSpeak speech: 2 Train, 1 Devel, 1 Test recordings of 25 s."""
    from semser_tf.data.synthetic import generate_corpus

    root = tmp_path_factory.mktemp("tuning") / "corpus"
    generate_corpus(root, minutes=1.5, seed=3, recording_seconds=25, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tuning_cache")
