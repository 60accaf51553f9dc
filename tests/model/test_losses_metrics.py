import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semser_tf.losses import CCCLoss, ccc_per_target
from semser_tf.metrics import CCC, ccc_metrics

from .reference import ccc

pytestmark = pytest.mark.backend_agnostic


def _data(seed, batch, frames, targets=3):
    r = np.random.default_rng(seed)
    y = r.uniform(-1, 1, (batch, frames, targets))
    p = 0.6 * y + r.normal(0.1, 0.4, y.shape)
    return y.astype("float32"), p.astype("float32")


def test_loss_equals_one_minus_numpy_ccc():
    y, p = _data(0, 4, 50)
    want = np.mean([ccc(y[..., k].ravel(), p[..., k].ravel()) for k in range(3)])
    assert abs(float(CCCLoss()(y, p)) - (1 - want)) < 1e-5


def test_loss_target_weights_and_sample_weight():
    y, p = _data(1, 3, 40)
    sw = np.ones((3, 40), "float32")
    sw[:, 30:] = 0
    per = [ccc(y[..., k].ravel(), p[..., k].ravel(), sw.ravel()) for k in range(3)]
    w = np.array([1, 1 / 2, 1 / 3])
    got = float(CCCLoss(target_weights=w)(y, p, sample_weight=sw))
    assert abs(got - (1 - (w * per).sum() / w.sum())) < 1e-5
    # zero-weight frames do not count: same as dropping them
    got_cut = float(CCCLoss()(y[:, :30], p[:, :30]))
    assert abs(float(CCCLoss()(y, p, sample_weight=sw)) - got_cut) < 1e-5


def test_loss_extremes_and_serialization():
    loss = CCCLoss(target_weights=[1, 2, 3], name="l")
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, CCCLoss) and clone.target_weights == [1.0, 2.0, 3.0]
    y, _ = _data(2, 2, 10)
    assert float(CCCLoss()(y, y)) < 1e-6
    y = y - y.mean(axis=(0, 1))  # CCC(y, -y) = -1 only for zero-mean y
    assert abs(float(CCCLoss()(y, -y)) - 2.0) < 1e-5


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 59), min_size=0, max_size=6, unique=True),
    weighted=st.booleans(),
)
def test_streaming_metric_equals_ccc_of_concatenation(seed, cuts, weighted):
    """Any split of the frames into batches gives the CCC of everything concatenated."""
    y, p = _data(seed, 1, 60)
    w = np.random.default_rng(seed).integers(0, 2, (1, 60)).astype("float32") if weighted else None
    if w is not None:
        w[0, :3] = 1
    metrics = [CCC(name="ccc")] + [CCC(target=k, name=f"t{k}") for k in range(3)]
    bounds = [0] + sorted(cuts) + [60]
    for m in metrics:
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            m.update_state(y[:, lo:hi], p[:, lo:hi], None if w is None else w[:, lo:hi])
    ww = None if w is None else w.ravel()
    per = [ccc(y[..., k].ravel(), p[..., k].ravel(), ww) for k in range(3)]
    assert abs(float(metrics[0].result()) - np.mean(per)) < 1e-5
    for k in range(3):
        assert abs(float(metrics[k + 1].result()) - per[k]) < 1e-5


def test_streaming_metric_is_stable_over_a_long_run():
    """Two million frames with a large common offset: float32 raw sums would cancel."""
    r = np.random.default_rng(7)
    m = CCC()
    ys, ps = [], []
    for _ in range(20):
        y = (50.0 + r.normal(0, 0.1, (100, 1000, 1))).astype("float32")
        p = (y + r.normal(0.02, 0.05, y.shape)).astype("float32")
        m.update_state(y, p)
        ys.append(y.ravel())
        ps.append(p.ravel())
    want = ccc(np.concatenate(ys), np.concatenate(ps))
    assert abs(float(m.result()) - want) < 1e-3


def test_metric_reset_and_serialization():
    y, p = _data(3, 2, 10)
    m = CCC(target=1, name="ccc_valence")
    m.update_state(y, p)
    m.reset_state()
    m.update_state(y[:1], p[:1])
    assert abs(float(m.result()) - ccc(y[0, :, 1], p[0, :, 1])) < 1e-5
    clone = keras.metrics.deserialize(keras.metrics.serialize(m))
    assert isinstance(clone, CCC) and clone.target == 1 and clone.name == "ccc_valence"
    assert [x.name for x in ccc_metrics(["a", "b"])] == ["ccc", "ccc_a", "ccc_b"]


def test_ccc_per_target_matches_numpy():
    y, p = _data(4, 3, 17, targets=2)
    got = keras.ops.convert_to_numpy(ccc_per_target(y, p))
    np.testing.assert_allclose(got, [ccc(y[..., k], p[..., k]) for k in range(2)], atol=1e-5)


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_loss_and_metric_under_mixed_precision_are_float32(half):
    """Under a mixed policy the model's output is bfloat16/float16: the loss and the metric
    are computed in float32 all the same, equal to a float64 NumPy CCC of the same values to
    ~1e-6 (in bfloat16 they were ~1e-3 off)."""
    y, p = _data(5, 4, 50)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(f"mixed_{half}")
    try:
        p_half = keras.ops.cast(p, half)
        p64 = keras.ops.convert_to_numpy(keras.ops.cast(p_half, "float32")).astype(np.float64)
        want = [ccc(y[..., k].astype(np.float64).ravel(), p64[..., k].ravel()) for k in range(3)]
        loss = CCCLoss()(y, p_half)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        assert abs(float(loss) - (1 - np.mean(want))) < 1e-6
        m = CCC()
        m.update_state(y, p_half)
        assert abs(float(m.result()) - np.mean(want)) < 1e-6
    finally:
        keras.mixed_precision.set_global_policy(previous)
