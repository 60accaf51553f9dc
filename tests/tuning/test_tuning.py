"""The search maximises CCC, exports a publishable run, and rejects bad input clearly."""

import csv
import json

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.models import ModelConfig
from semser_tf.tuning import (
    DEFAULT_SPACE,
    SearchSpace,
    TuningError,
    config_for,
    make_objective,
    objective_names,
    results_rows,
    wait_for_oracle,
)
from tests.tuning.conftest import TINY


@pytest.fixture(scope="module")
def lr_search(tiny_corpus, tiny_cache, tmp_path_factory):
    """A random search over two learning rates, 3 epochs per trial, no export."""
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.training.run import TrainSettings
    from semser_tf.tuning import tune

    out = tmp_path_factory.mktemp("lr_search") / "tune"
    args = dict(
        corpus=SEWACorpus(tiny_corpus),
        out_dir=out,
        base_config=ModelConfig(**TINY),
        space={"learning_rate": [1e-9, 1e-2]},
        settings=TrainSettings(epochs=3, patience=3),
        tuner="random",
        max_trials=2,
        cache_dir=tiny_cache,
        seed=1,
    )
    return out, args, tune(**args, export=False)


def test_tuner_maximises_ccc(lr_search):
    """A learning rate of 1e-9 cannot move the weights in 3 epochs, 1e-2 can: the best
    trial must be the 1e-2 one. A search that minimised CCC would pick 1e-9."""
    out, _, summary = lr_search
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted(float(r["learning_rate"]) for r in rows) == [1e-9, 1e-2]  # both values were tried
    by_lr = {float(r["learning_rate"]): float(r["val_ccc"]) for r in rows}
    assert by_lr[1e-2] > by_lr[1e-9] + 0.02, by_lr  # the known-better value is better
    assert summary["best"]["hyperparameters"]["learning_rate"] == pytest.approx(1e-2)
    assert float(rows[0]["learning_rate"]) == pytest.approx(1e-2)  # table: best first
    # the table's mean CCC is the mean of its per-target CCCs
    for r in rows:
        per = [float(r[f"val_ccc_{t}"]) for t in ("arousal", "valence", "liking")]
        assert float(r["val_ccc"]) == pytest.approx(np.mean(per), abs=1e-5)
    assert (out / "results.md").read_text().count("| COMPLETED |") == 2


@pytest.mark.slow  # retrains the best trial with train() and packs it: about 25-40 s on 2 cores
def test_best_trial_exports_a_publishable_run_and_search_resumes(lr_search, tmp_path):
    from semser_tf.tuning import export_best, tune
    from semser_tf.zoo.publish import publish_run

    out, args, first = lr_search
    # resuming the finished search (overwrite=False) runs no trial again
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "search").glob("trial_*/trial.json")}
    again = tune(**args, export=False)
    assert len(mtimes) == 2 and {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert [r["trial"] for r in again["trials"]] == [r["trial"] for r in first["trials"]]
    # the exported run: train()'s layout with the best hyperparameters
    report = export_best(
        out,
        args["corpus"],
        args["base_config"],
        args["settings"],
        cache_dir=args["cache_dir"],
        run_dir=tmp_path / "best_run",
    )
    assert report["hyperparameters"]["learning_rate"] == pytest.approx(1e-2)
    run = tmp_path / "best_run"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["variant"] == "paralinguistic" and cfg["model"]["learning_rate"] == pytest.approx(
        1e-2
    )
    report = json.loads((run / "report.json").read_text())
    m = report["metrics"][0]
    assert m["partition"] == "Devel" and set(m["ccc"]) == {"arousal", "valence", "liking"}
    assert m["mean"] == pytest.approx(np.mean(list(m["ccc"].values())))
    assert (run / "best.keras").is_file() and (run / "history.csv").is_file()
    entry = publish_run(run, "tuned-test", tmp_path / "zoo" / "tuned-test")
    assert json.loads(entry.read_text())["name"] == "tuned-test"


# -- objective ---------------------------------------------------------------------------


def test_objective_is_explicit_max_for_ccc_min_for_loss():
    import keras_tuner as kt

    assert make_objective("val_ccc", ["arousal"]).direction == "max"
    assert make_objective("val_ccc_arousal", ["arousal"]).direction == "max"
    assert make_objective("val_loss", ["arousal"]).direction == "min"
    # why it must be explicit: keras-tuner 1.4.8 cannot infer a direction for a bare
    # "val_ccc" (it knows only Keras's built-in metric names) and refuses the string
    with pytest.raises(ValueError, match="Could not infer optimization direction"):
        kt.Oracle(objective="val_ccc")
    assert isinstance(make_objective("val_ccc", ["arousal"]), kt.Objective)


def test_objective_the_model_does_not_log(tiny_corpus, tmp_path):
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.tuning import tune

    with pytest.raises(
        ConfigError,
        match=r"objective 'val_accuracy': the model does not log this metric; "
        r"valid objectives: val_ccc, val_ccc_arousal",
    ):
        tune(
            SEWACorpus(tiny_corpus),
            tmp_path / "t",
            ModelConfig(**TINY),
            {"lstm_units": [4, 8]},
            objective="val_accuracy",
        )
    with pytest.raises(ConfigError, match="val_ccc_dominance"):
        make_objective("val_ccc_dominance", ["arousal", "valence", "liking"])
    assert not (tmp_path / "t").exists()  # rejected before anything was written
    assert objective_names(["a"]) == ["val_ccc", "val_ccc_a", "val_loss", "ccc", "ccc_a", "loss"]


# -- search space ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"lstm_units": []}, r"'lstm_units': empty list of values"),
        ({"lstm_units": {"values": []}}, r"'lstm_units': empty list of values"),
        (
            {"dropout": {"min": 0.6, "max": 0.2}},
            r"'dropout': empty range: min 0.6 is greater than max 0.2",
        ),
        (
            {"learning_rate": {"min": 0.0, "max": 1e-3, "sampling": "log"}},
            r"log sampling needs min > 0",
        ),
        (
            {"lstm_size": [8]},
            r"'lstm_size': not a searchable hyperparameter; valid names: .*lstm_units",
        ),
        ({"variant": ["concat", "transformer"]}, r"unknown variant\(s\) \['transformer'\]"),
        ({"lstm_units": {"min": 8}}, r"expected \{\"min\": a, \"max\": b\}"),
        ({"lstm_units": [8, "x"]}, r"all numbers or all strings"),
        ({}, r"non-empty mapping"),
    ],
)
def test_bad_search_space(spec, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_dict(spec)


def test_space_values_invalid_for_the_model():
    space = SearchSpace.from_dict({"dropout": [0.5, 1.0]})
    with pytest.raises(ConfigError, match=r"search space 'dropout': value 1.0 is not valid"):
        space.check_against(ModelConfig(**TINY), has_features=False)
    with pytest.raises(ConfigError, match="semantic variant needs frame features"):
        SearchSpace.from_dict({"variant": ["semantic", "concat"]}).check_against(
            ModelConfig(), False
        )


def test_space_declares_keras_tuner_ranges():
    import keras_tuner as kt

    space = SearchSpace.from_dict(
        {
            "lstm_units": {"min": 8, "max": 32, "step": 8},
            "learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
            "variant": ["concat", "attention"],
            "dropout": 0.3,
        }
    )
    hp = kt.HyperParameters()
    values = space.declare(hp)
    assert values == {"dropout": 0.3, "learning_rate": 1e-5, "lstm_units": 8, "variant": "concat"}
    by_name = {h.name: h for h in hp.space}
    assert isinstance(by_name["lstm_units"], kt.engine.hyperparameters.Int)
    assert (
        by_name["lstm_units"].min_value,
        by_name["lstm_units"].max_value,
        by_name["lstm_units"].step,
    ) == (8, 32, 8)
    assert isinstance(by_name["learning_rate"], kt.engine.hyperparameters.Float)
    assert by_name["learning_rate"].sampling == "log"
    assert list(by_name["variant"].values) == ["concat", "attention"]
    assert isinstance(by_name["dropout"], kt.engine.hyperparameters.Fixed)


def test_default_space_is_valid_around_the_paper():
    space = SearchSpace.from_dict(DEFAULT_SPACE)
    space.check_against(ModelConfig(), has_features=True)
    assert set(space.names()) == {
        "conv_scale",
        "fusion_units",
        "stream_units",
        "lstm_units",
        "dropout",
        "learning_rate",
        "sequence_length",
        "variant",
    }
    paper = ModelConfig()
    # the paper's values lie inside the default ranges
    assert paper.fusion_units in DEFAULT_SPACE["fusion_units"]["values"]
    assert paper.lstm_units in DEFAULT_SPACE["lstm_units"]["values"]
    assert paper.sequence_length in DEFAULT_SPACE["sequence_length"]["values"]
    lr = DEFAULT_SPACE["learning_rate"]
    assert lr["min"] <= paper.learning_rate <= lr["max"]


def test_config_for_scales_conv_filters_and_keeps_the_rest():
    base = ModelConfig(conv_filters=(50, 125, 250), lstm_units=256, batch_size=25)
    cfg = config_for(base, {"conv_scale": 0.5, "lstm_units": 64, "tuner/epochs": 3})
    assert cfg.conv_filters == (25, 62, 125)  # round(62.5) = 62 (banker's rounding of Python)
    assert cfg.lstm_units == 64 and cfg.batch_size == 25 and cfg.variant == base.variant


def test_results_rows_order_follows_the_direction():
    trials = [
        {
            "trial_id": str(i),
            "status": "COMPLETED",
            "score": s,
            "best_step": 0,
            "worker": "w",
            "hyperparameters": {"lstm_units": u},
            "metrics": {"val_ccc": s},
        }
        for i, (s, u) in enumerate([(0.1, 8), (0.5, 16), (0.3, 32)])
    ]
    trials.append(
        {
            "trial_id": "3",
            "status": "FAILED",
            "score": None,
            "best_step": None,
            "worker": "w",
            "hyperparameters": {"lstm_units": 64},
            "metrics": {},
        }
    )
    assert [r["trial"] for r in results_rows(trials, ["arousal"], "val_ccc")] == [
        "1",
        "2",
        "0",
        "3",
    ]
    assert [r["trial"] for r in results_rows(trials, ["arousal"], "val_loss")] == [
        "0",
        "2",
        "1",
        "3",
    ]


# -- distributed: bad addresses ----------------------------------------------------------


def test_unreachable_oracle_is_an_error_within_the_timeout():
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.time()
    with pytest.raises(
        TuningError, match=rf"oracle at 127.0.0.1:{port} did not answer within 1.5 s"
    ):
        wait_for_oracle(f"127.0.0.1:{port}", timeout=1.5)
    assert time.time() - t0 < 10


@pytest.mark.parametrize("address", ["localhost", "host:", ":80", "host:99999", "host:port"])
def test_bad_oracle_address(address):
    from semser_tf.tuning import parse_address

    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        parse_address(address)


def test_unknown_or_unavailable_tuner():
    from semser_tf.tuning import check_tuner

    with pytest.raises(
        ConfigError, match=r"--tuner 'grid': expected one of random, bayesian, hyperband"
    ):
        check_tuner("grid")
    try:
        import sklearn  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="needs scikit-learn"):
            check_tuner("bayesian")
    else:
        check_tuner("bayesian")
