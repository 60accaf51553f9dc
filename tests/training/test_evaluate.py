import numpy as np
import pytest
from scipy.signal import medfilt

from semser_tf.data.corpus import Corpus, Recording
from semser_tf.training.evaluate import evaluate_predictions, median_smooth, shift_predictions

from ..model.reference import ccc

TARGETS = ("arousal", "valence")


def _corpus(rng, lengths):
    recs, preds = [], {}
    for i, n in enumerate(lengths):
        gold = rng.uniform(-1, 1, (n, 2)).astype("float32")
        gold[-3:] = np.nan  # frames without labels are left out
        recs.append(
            Recording(f"Devel_{i:02d}", "Devel", f"/x/{i}.wav", f"/x/{i}.csv", TARGETS, gold)
        )
        preds[f"Devel_{i:02d}"] = np.nan_to_num(gold) * 0.5 + rng.normal(0, 0.3, (n, 2))
    return Corpus(recs, root="/x", targets=TARGETS), preds


def test_partition_ccc_is_over_the_concatenation():
    rng = np.random.default_rng(0)
    corpus, preds = _corpus(rng, [40, 65, 23])
    report = evaluate_predictions(preds, corpus, "Devel", TARGETS)
    golds = [r.labels for r in corpus.recordings("Devel")]
    g = np.concatenate([x[:-3] for x in golds])
    p = np.concatenate([preds[r.name][:-3] for r in corpus.recordings("Devel")])
    for k, t in enumerate(TARGETS):
        assert abs(report["results"]["raw"]["ccc"][t] - ccc(g[:, k], p[:, k])) < 1e-9
    # and per recording
    r0 = corpus.recordings("Devel")[0]
    assert (
        abs(
            report["per_recording"][r0.name]["ccc"]["valence"]
            - ccc(r0.labels[:-3, 1], preds[r0.name][:-3, 1])
        )
        < 1e-9
    )
    assert report["recordings"] == 3


def test_post_processing_each_reported_against_independent_references():
    rng = np.random.default_rng(1)
    corpus, preds = _corpus(rng, [50, 30])
    report = evaluate_predictions(
        preds, corpus, "Devel", TARGETS, delay_frames=4, median_window=5, bias_correction="oracle"
    )
    assert list(report["results"]) == ["raw", "shift", "median", "bias_scale", "all"]
    recs = corpus.recordings("Devel")
    g = np.concatenate([r.labels[:-3] for r in recs])
    # shift: out[t] = pred[t - 4], first frames repeat pred[0]
    shifted = [
        np.concatenate([np.repeat(preds[r.name][:1], 4, 0), preds[r.name][:-4]]) for r in recs
    ]
    p = np.concatenate([s[:-3] for s in shifted])
    assert abs(report["results"]["shift"]["ccc"]["arousal"] - ccc(g[:, 0], p[:, 0])) < 1e-9
    # median: scipy's medfilt (zero-padded edges) agrees away from the edges
    sm = median_smooth(preds[recs[0].name], 5)
    np.testing.assert_allclose(sm[2:-2, 0], medfilt(preds[recs[0].name][:, 0], 5)[2:-2])
    # bias/scale fitted on the same partition cannot lower CCC and leaves Pearson r as is
    raw = report["results"]["raw"]["ccc"]
    assert all(report["results"]["bias_scale"]["ccc"][t] >= raw[t] - 1e-9 for t in TARGETS)


def test_shift_and_median_edge_cases():
    x = np.arange(6, dtype=float)[:, None]
    np.testing.assert_array_equal(shift_predictions(x, 2)[:, 0], [0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(shift_predictions(x, 0), x)
    with pytest.raises(ValueError, match="odd"):
        median_smooth(x, 4)
