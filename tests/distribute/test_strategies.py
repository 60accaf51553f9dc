"""Strategy names of ``semser train --strategy`` and the replica-sum primitive outside a strategy."""

import numpy as np
import pytest

from semser_tf.distribute import STRATEGIES, make_strategy, num_replicas, replica_sum
from semser_tf.errors import ConfigError


def test_default_is_no_strategy():
    assert make_strategy("default") is None
    assert make_strategy(None) is None


def test_unknown_strategy_names_the_choices():
    with pytest.raises(
        ConfigError,
        match=r"--strategy 'horovod': expected one of default, mirrored, "
        r"multiworker, data_parallel",
    ):
        make_strategy("horovod")


def test_backend_mismatch_is_explained():
    with pytest.raises(
        ConfigError, match=r"data_parallel is the JAX backend's .*use --strategy mirrored"
    ):
        make_strategy("data_parallel")


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        make_strategy("multiworker")


def test_mirrored_on_one_cpu_is_one_replica():
    import tensorflow as tf

    strategy = make_strategy("mirrored", devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 1


def test_replica_sum_is_the_identity_outside_a_strategy():
    values = [np.array([1.0, 2.0], "float32"), np.float32(3.0)]
    out = replica_sum(values)
    assert out is values
    assert num_replicas() == 1
    assert set(STRATEGIES) == {"default", "mirrored", "multiworker", "data_parallel"}


def test_train_command_has_the_strategy_option():
    from semser_tf.cli import build_parser

    args = build_parser().parse_args(["train", "corpus", "--out", "o", "--strategy", "mirrored"])
    assert args.strategy == "mirrored"
    assert build_parser().parse_args(["train", "corpus", "--out", "o"]).strategy == "default"
