"""The CPU-only install route's requirement list (semser_tf.requirements)."""

from semser_tf import requirements as reqs

METADATA = [
    "tensorflow<2.18,>=2.17.1",
    "tensorflow-io<0.38,>=0.37.1",
    "numpy<2,>=1.26.4",
    "keras-tuner<1.5,>=1.4.8; extra == 'tuning'",
    'espeakng-loader<0.3,>=0.2.4; extra == "synth"',
    "semser-tf[synth,tuning]; extra == 'all'",
    "pytest>=8.3; extra == 'test'",
]


def test_core_requirements_and_the_cpu_swap(monkeypatch):
    monkeypatch.setattr(reqs.metadata, "requires", lambda name: METADATA)
    assert reqs.requirements() == [
        "tensorflow<2.18,>=2.17.1",
        "tensorflow-io<0.38,>=0.37.1",
        "numpy<2,>=1.26.4",
    ]
    # Only the bare `tensorflow` is swapped: tensorflow-io stays as it is.
    assert reqs.requirements(cpu=True)[:2] == [
        "tensorflow-cpu<2.18,>=2.17.1",
        "tensorflow-io<0.38,>=0.37.1",
    ]


def test_extras_and_the_all_extra(monkeypatch):
    monkeypatch.setattr(reqs.metadata, "requires", lambda name: METADATA)
    assert reqs.requirements(extras=("tuning",))[-1] == "keras-tuner<1.5,>=1.4.8"
    every = reqs.requirements(extras=("all",))
    assert "keras-tuner<1.5,>=1.4.8" in every and "espeakng-loader<0.3,>=0.2.4" in every
    assert not any(r.startswith("pytest") or r.startswith("semser-tf") for r in every)


def test_main_prints_one_requirement_per_line(monkeypatch, capsys):
    monkeypatch.setattr(reqs.metadata, "requires", lambda name: METADATA)
    assert reqs.main(["--cpu", "--extra", "synth"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "tensorflow-cpu<2.18,>=2.17.1",
        "tensorflow-io<0.38,>=0.37.1",
        "numpy<2,>=1.26.4",
        "espeakng-loader<0.3,>=0.2.4",
    ]


def test_an_unknown_extra_is_refused_naming_the_known_ones(monkeypatch, capsys):
    monkeypatch.setattr(reqs.metadata, "requires", lambda name: METADATA)
    assert reqs.main(["--extra", "tunning"]) == 2
    err = capsys.readouterr().err
    assert "unknown extra tunning" in err and "all, synth, test, tuning" in err
