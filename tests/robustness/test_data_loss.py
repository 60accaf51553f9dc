"""Nothing a user owns is deleted or overwritten (issue 15, "Data loss and overwrites").

``publish --overwrite`` replaces only an entry folder that publish wrote itself (it carries
the package's marker), never a user's folder, the run being published or a folder above
it; ``predict`` never writes its CSV or plot onto one of its inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.zoo import publish_run
from tests.robustness.conftest import snapshot, write_text, write_wav
from tests.zoo.test_zoo_publish import make_run

OWNER_MARKER = (
    ".semser-owner.json"  # semser_tf.io.OWNER_MARKER (spelled out: the tests also run on old code)
)


@pytest.fixture
def published(tmp_path):
    """A run folder, a sibling run and a user's notes folder under one parent."""
    root = tmp_path / "work"
    run = make_run(root)  # root/run
    sibling = root / "sibling"
    sibling.mkdir()
    write_text(sibling / "run.json", json.dumps({"kind": "semser-run"}))
    write_text(sibling / "best.keras", "model bytes")
    notes = tmp_path / "notes"
    write_text(notes / "todo.txt", "my notes")
    return root, run, notes


def test_publish_overwrite_refuses_a_users_folder(published, tmp_path):
    root, run, notes = published
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as err:
        publish_run(run, "m", notes, overwrite=True)
    msg = str(err.value)
    assert str(notes) in msg and OWNER_MARKER in msg and "--overwrite" in msg
    assert snapshot(tmp_path) == before  # nothing deleted, no temporary folder left


def test_publish_overwrite_refuses_the_runs_parent(published, tmp_path):
    root, run, notes = published
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as err:
        publish_run(run, "m", root, overwrite=True)
    assert str(root) in str(err.value) and str(run) in str(err.value) and "input" in str(err.value)
    assert snapshot(tmp_path) == before  # the run and its sibling are intact


def test_publish_overwrite_refuses_the_run_itself_and_a_file(published, tmp_path):
    root, run, notes = published
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match="outside the run folder"):
        publish_run(run, "m", run, overwrite=True)
    a_file = notes / "todo.txt"
    with pytest.raises(ConfigError, match="is a file"):
        publish_run(run, "m", a_file, overwrite=True)
    assert snapshot(tmp_path) == before


def test_publish_overwrite_refuses_an_unmarked_entry_but_replaces_its_own(published, tmp_path):
    root, run, notes = published
    out = tmp_path / "zoo" / "m"
    publish_run(run, "m", out, description="first")
    assert json.loads((out / OWNER_MARKER).read_text())["kind"] == "zoo-entry"
    publish_run(run, "m", out, description="second", overwrite=True)
    assert json.loads((out / "entry.json").read_text())["description"] == "second"
    # a hand-made entry folder (no marker) is not replaced
    (out / OWNER_MARKER).unlink()
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match="did not create"):
        publish_run(run, "m", out, description="third", overwrite=True)
    assert snapshot(tmp_path) == before


def test_cli_publish_overwrite_of_the_parent_is_a_message(published, tmp_path, cli):
    root, run, notes = published
    before = snapshot(tmp_path)
    code, err = cli("publish", run, "--name", "m", "--out", root, "--overwrite")
    assert code == 2 and err.startswith("semser publish: error:") and str(root) in err
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before


@pytest.fixture
def talk(tmp_path):
    wav = tmp_path / "talk.wav"
    write_wav(wav, np.zeros(22050, np.float32))
    words = write_text(tmp_path / "talk_words.csv", "0.0;0.5;hello\n")
    return wav, words


@pytest.mark.parametrize(
    "option,target",
    [
        ("--csv", "audio"),
        ("--plot", "audio"),
        ("--csv", "words"),
        ("--plot", "words"),
    ],
    ids=["csv-is-audio", "plot-is-audio", "csv-is-words", "plot-is-words"],
)
def test_predict_never_writes_onto_an_input(talk, tmp_path, cli, option, target):
    wav, words = talk
    path = wav if target == "audio" else words
    before = snapshot(tmp_path)
    code, err = cli("predict", wav, "--words", words, option, path, "--offline")
    assert (
        code == 2 and "refusing to overwrite an input" in err and str(path) in err and option in err
    )
    assert snapshot(tmp_path) == before


def test_predict_refuses_csv_and_plot_on_one_file(talk, tmp_path, cli):
    wav, _ = talk
    before = snapshot(tmp_path)
    code, err = cli(
        "predict", wav, "--csv", tmp_path / "o.out", "--plot", tmp_path / "o.out", "--offline"
    )
    assert code == 2 and "--csv and --plot are the same file" in err
    assert snapshot(tmp_path) == before


def test_predict_refuses_an_input_reached_through_another_name(talk, tmp_path, cli):
    wav, _ = talk
    link = tmp_path / "alias.wav"
    link.symlink_to(wav)
    before = snapshot(tmp_path)
    code, err = cli("predict", link, "--csv", wav, "--offline")
    assert code == 2 and "refusing to overwrite an input" in err
    assert snapshot(tmp_path) == before


def test_replace_rule_in_one_place(tmp_path):
    """The helper that publish and train --overwrite use: marker, inputs, files."""
    from semser_tf.io import OWNER_MARKER as marker
    from semser_tf.io import check_outputs, check_replaceable, mark_owned

    assert marker == OWNER_MARKER
    mine = tmp_path / "mine"
    mine.mkdir()
    write_text(mine / "x.json", "{}")
    with pytest.raises(ConfigError, match="did not create"):
        check_replaceable(mine, "zoo-entry")
    mark_owned(mine, "run")
    with pytest.raises(ConfigError, match="a run folder, not a zoo-entry"):
        check_replaceable(mine, "zoo-entry")
    check_replaceable(mine, "run")  # its own kind: may be replaced
    with pytest.raises(ConfigError, match="an input of this command"):
        check_replaceable(mine, "run", inputs=[mine / "x.json"])
    check_replaceable(tmp_path / "new", "run")  # absent: fine
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", "run")  # empty: fine
    with pytest.raises(ConfigError, match="same file"):
        check_outputs({"--csv": tmp_path / "a", "--plot": tmp_path / "b/../a"}, {})


def test_train_overwrite_refuses_a_run_that_holds_its_corpus(tmp_path, loader_corpus):
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.run import train
    from tests.robustness.conftest import SMALL

    run = loader_corpus["root"].parent  # tmp_path: the corpus lies inside
    write_text(run / "run.json", json.dumps({"kind": "semser-run"}))
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as err:
        train(
            SEWACorpus(loader_corpus["root"]),
            run,
            ModelConfig(variant="paralinguistic", **SMALL),
            overwrite=True,
            verbose=0,
        )
    assert "an input of this command" in str(err.value) and str(loader_corpus["root"]) in str(
        err.value
    )
    assert snapshot(tmp_path) == before
