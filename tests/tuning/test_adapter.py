"""The distributed workaround through keras-tuner's public API: a dead worker's trial is
re-queued, idle workers wait for it, the keras-tuner version is checked; keras-tuner
internals are reached from one module only."""

import json
import re
from pathlib import Path

import pytest

from semser_tf.tuning import TuningError

PACKAGE = Path(__file__).resolve().parents[2] / "semser_tf"


def test_keras_tuner_internals_only_in_the_adapter():
    """`grep -rn keras_tuner.src semser_tf` finds only the adapter."""
    hits = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "keras_tuner.src" in p.read_text()
    )
    assert hits == ["tuning/adapter.py"]
    text = (PACKAGE / "tuning" / "adapter.py").read_text()
    imports = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"\s*(from|import) keras_tuner\.src", line)
    ]
    assert imports == [
        "from keras_tuner.src.distribute import oracle_client  # no public equivalent: see the module doc"
    ]
    assert "_retry_queue" not in "".join(p.read_text() for p in PACKAGE.rglob("*.py"))


def test_the_tuning_code_seeds_only_at_a_trials_start():
    hits = sorted(
        str(p.relative_to(PACKAGE))
        for p in (PACKAGE / "tuning").rglob("*.py")
        if "set_random_seed(" in p.read_text()
    )
    assert hits == ["tuning/tuners.py"]


@pytest.mark.parametrize("version", ["1.3.5", "1.5.0", "2.0.0"])
def test_untested_keras_tuner_version_fails_clearly(monkeypatch, version):
    import keras_tuner

    from semser_tf.tuning.adapter import check_keras_tuner

    monkeypatch.setattr(keras_tuner, "__version__", version)
    with pytest.raises(
        TuningError,
        match=rf"keras-tuner {re.escape(version)} is installed, but semser_tf.tuning "
        r"was tested with keras-tuner 1\.4\.8 \(1\.4\.x accepted\)",
    ):
        check_keras_tuner()


def test_other_1_4_release_accepted_when_the_internal_exists(monkeypatch):
    import keras_tuner

    from semser_tf.tuning.adapter import _rpc_module

    oracle_client = _rpc_module()

    from semser_tf.tuning.adapter import check_keras_tuner

    monkeypatch.setattr(keras_tuner, "__version__", "1.4.9")
    check_keras_tuner()  # no error
    monkeypatch.delattr(oracle_client, "TIMEOUT")
    with pytest.raises(
        TuningError,
        match=r"keras-tuner 1\.4\.9 is installed and lacks oracle_client\.TIMEOUT; "
        r"semser_tf\.tuning was tested with keras-tuner 1\.4\.8",
    ):
        check_keras_tuner()


def test_tune_refuses_an_untested_keras_tuner_before_writing(monkeypatch, tiny_corpus, tmp_path):
    import keras_tuner

    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.models import ModelConfig
    from semser_tf.tuning import tune
    from tests.tuning.conftest import TINY

    monkeypatch.setattr(keras_tuner, "__version__", "1.5.0")
    with pytest.raises(TuningError, match="keras-tuner 1.5.0 is installed"):
        tune(SEWACorpus(tiny_corpus), tmp_path / "t", ModelConfig(**TINY), {"lstm_units": [4, 8]})
    assert not (tmp_path / "t").exists()


def test_rpc_timeout_is_set_on_keras_tuners_client(monkeypatch):
    from semser_tf.tuning.adapter import _rpc_module

    oracle_client = _rpc_module()

    from semser_tf.tuning.adapter import set_rpc_timeout

    monkeypatch.setattr(oracle_client, "TIMEOUT", 3600)
    set_rpc_timeout(42)
    assert oracle_client.TIMEOUT == 42.0


@pytest.fixture
def oracle(tmp_path, monkeypatch):
    """A keras-tuner random-search oracle with the re-queueing mixin: 2 trials, 1 retry."""
    import keras_tuner as kt

    from semser_tf.tuning import adapter
    from semser_tf.tuning.tuners import SemserRandomSearch

    class Declare(
        kt.HyperModel
    ):  # declares one integer, builds nothing: the oracle alone is tested
        def build(self, hp):
            hp.Int("x", 0, 99)

    monkeypatch.setattr(adapter, "IDLE_WAIT_S", 0.0)
    tuner = SemserRandomSearch(
        Declare(),
        kt.Objective("score", "max"),
        max_trials=2,
        max_retries=1,
        directory=str(tmp_path),
        project_name="p",
        overwrite=True,
    )
    tuner.oracle.verbose = 0
    return tuner.oracle


def test_dead_workers_trial_goes_to_a_waiting_worker(oracle):
    from keras_tuner.engine.trial import TrialStatus

    a, b = oracle.create_trial("w1"), oracle.create_trial("w2")
    assert (a.trial_id, a.status, b.trial_id, b.status) == ("0", "RUNNING", "1", "RUNNING")
    # both trials exist: keras-tuner alone would tell w3 to stop; it waits while others run
    assert oracle.create_trial("w3").status == TrialStatus.IDLE
    assert oracle.tuner_ids == {"w1", "w2", "w3"}
    trial, requeued = oracle.requeue("w1", "no heartbeat for 9 s")
    assert (trial.trial_id, requeued) == ("0", True)
    assert "w1" not in oracle.tuner_ids and "w1" not in oracle.ongoing_trials
    again = oracle.create_trial("w3")  # the waiting worker takes the dead worker's trial
    assert (again.trial_id, again.status) == ("0", TrialStatus.RUNNING)
    assert again.hyperparameters.values == a.hyperparameters.values
    oracle.update_trial("1", {"score": 0.5})
    b.status = TrialStatus.COMPLETED
    oracle.end_trial(b)
    assert oracle.create_trial("w2").status == TrialStatus.IDLE  # w3 still runs trial 0
    # w3 dies too: the one retry is used up, so trial 0 fails and the search can end
    trial, requeued = oracle.requeue("w3")
    assert (trial.trial_id, requeued, trial.status) == ("0", False, TrialStatus.FAILED)
    assert "w3" in trial.message
    assert oracle.create_trial("w2").status == TrialStatus.STOPPED
    assert oracle.tuner_ids == set() and oracle.ongoing_trials == {}
    # what keras-tuner saved: trial 1 completed with its score, trial 0 failed
    saved = {t.trial_id: (t.status, t.score) for t in oracle.trials.values()}
    assert saved == {"0": ("FAILED", None), "1": ("COMPLETED", 0.5)}


def test_requeue_of_an_idle_or_unknown_worker_only_forgets_it(oracle):
    oracle.create_trial("w1")
    oracle.tuner_ids.add("idle")
    assert oracle.requeue("idle") == (None, False)
    assert oracle.requeue("never-seen") == (None, False)
    assert oracle.tuner_ids == {"w1"} and list(oracle.ongoing_trials) == ["w1"]


def test_watchdog_requeues_only_a_silent_worker(tmp_path):
    from semser_tf.tuning.distributed import Watchdog

    class FakeOracle:
        def __init__(self):
            self.tuner_ids = {"alive", "dead", "no-file-yet"}
            self.requeued = []

        def requeue(self, tuner_id, reason):
            self.requeued.append((tuner_id, reason))
            self.tuner_ids.discard(tuner_id)
            return None, False

    def beat(tuner_id, count):
        (tmp_path / f"{tuner_id}.alive").write_text(json.dumps({"count": count}))

    oracle, logs = FakeOracle(), []
    dog = Watchdog(oracle, tmp_path, worker_timeout=10, log=lambda *a, **k: logs.append(a[0]))
    beat("alive", 1)
    beat("dead", 1)
    assert dog.check(now=100.0) == []
    beat("alive", 2)
    assert dog.check(now=105.0) == []  # 5 s of silence < 10 s
    beat("alive", 3)
    assert dog.check(now=111.0) == ["dead", "no-file-yet"]  # 11 s without a change
    assert [r[0] for r in oracle.requeued] == ["dead", "no-file-yet"]
    assert oracle.requeued[0][1] == "no heartbeat for 11 s"
    assert logs[0] == "semser tune: worker dead silent for 11 s; dropped"
    assert dog.check(now=121.5) == ["alive"]  # its count last changed at 111
