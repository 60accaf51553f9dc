"""Words for a corpus without word files: aligned from transcripts or recognised, cached."""

import numpy as np
import pytest

pytest.importorskip("pocketsphinx")
pytest.importorskip("espeakng_loader")

from semser_tf.data.synthetic import generate_recording, write_recording  # noqa: E402
from semser_tf.data.timings import read_words  # noqa: E402
from semser_tf.semantic.words import boundary_errors, write_corpus_words  # noqa: E402


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    truth = {}
    for name, voice, seed in (("Train_01", "en-us+m3", 1), ("Devel_01", "en+f3", 2)):
        rec = generate_recording(name, 12.0, voice, seed)
        write_recording(rec, root)
        truth[name] = rec.words
    (root / "words" / "Train_01.csv").unlink()  # transcript only: to be aligned
    (root / "words" / "Devel_01.csv").unlink()  # audio only: to be recognised
    (root / "transcriptions" / "Devel_01.csv").unlink()
    return root, truth


def test_write_corpus_words_aligns_recognises_and_caches(corpus):
    root, truth = corpus
    counts = write_corpus_words(root, progress=False)
    assert counts == {"aligned": 1, "recognised": 1, "cached": 0, "kept": 0, "written": 2}
    aligned = read_words(root / "words" / "Train_01.csv")
    assert [w.word for w in aligned] == [w.word for w in truth["Train_01"]]
    be = boundary_errors(truth["Train_01"], aligned)
    assert np.median(be) < 0.03 and (be.max(axis=1) <= 0.1).mean() >= 0.9
    recognised = read_words(root / "words" / "Devel_01.csv")
    # words recognised and some matched to the truth with their times: pocketsphinx on these
    # 12 s of eSpeak (WER about 0.8) matched 3-14 over the recording's seeds 2-7 in one
    # process, and 2 once in a full-suite worker, where eSpeak's synthesis state differs
    assert recognised and len(boundary_errors(truth["Devel_01"], recognised)) >= 2
    # a second run: both files exist now and are kept, nothing is recomputed
    assert write_corpus_words(root, progress=False)["kept"] == 2


def test_fill_corpus_words_uses_the_cache(corpus, tmp_path):
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.semantic.words import fill_corpus_words

    root, _ = corpus
    with pytest.warns(UserWarning):  # the loader spreads Train_01's transcript (approximate)
        c = SEWACorpus(root)
    first = fill_corpus_words(c, tmp_path / "cache")
    words = {r.name: r.words for r in c.recordings()}
    with pytest.warns(UserWarning):
        c2 = SEWACorpus(root)
    again = fill_corpus_words(c2, tmp_path / "cache")
    assert first["aligned"] == 1 and first["recognised"] == 1 and again["cached"] == 2
    assert {r.name: r.words for r in c2.recordings()} == words
