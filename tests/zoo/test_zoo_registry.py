"""Registry: entry validation, JSON round trip, the search path and name lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semser_tf.errors import ConfigError
from semser_tf.zoo import (
    ModelEntry,
    add_registry_path,
    get_entry,
    list_pretrained,
    load_entries,
    registry_paths,
)
from tests.zoo.zoo_helpers import FILES, sha256_bytes, write_entry


def test_entry_round_trip_keeps_every_field(zoo_env):
    registry, _ = zoo_env
    path = write_entry(registry, "m1", FILES, citation="Tzirakis et al., ICASSP 2021")
    original = json.loads(path.read_text())
    entry = ModelEntry.from_json(path)
    assert entry.name == "m1" and entry.version == "1.0.0" and entry.variant == "attention"
    assert entry.path == path.resolve()
    assert entry.file("model").sha256 == sha256_bytes(FILES["model.keras"])
    assert entry.file("model").size == len(FILES["model.keras"])
    assert entry.metrics[0].ccc == {"arousal": 0.5, "valence": 0.4, "liking": 0.3}
    assert entry.total_size == sum(len(v) for v in FILES.values())
    written = json.loads(entry.to_json())
    written.pop("schema")
    assert written == original
    # writing to a file is atomic and reads back equal
    out = path.parent / "copy.json"
    entry.to_json(out)
    assert ModelEntry.from_json(out).to_dict() == entry.to_dict()
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


def test_list_and_get_by_name(zoo_env, tmp_path):
    registry, _ = zoo_env
    write_entry(registry, "beta", FILES)
    write_entry(registry, "alpha", FILES)
    (registry / "not-an-entry").mkdir()  # folders without entry.json are ignored
    assert [n for n in list_pretrained() if n in ("alpha", "beta", "not-an-entry")] == [
        "alpha",
        "beta",
    ]
    assert get_entry("alpha").name == "alpha"
    assert [e.name for e in load_entries([registry])] == ["alpha", "beta"]
    # an entry can also be read from its path
    assert get_entry(str(registry / "beta")).name == "beta"


def test_later_registry_folders_override_earlier(zoo_env, tmp_path):
    registry, _ = zoo_env
    write_entry(registry, "same", FILES, description="from SEMSER_ZOO_PATH")
    user = tmp_path / "user_zoo"
    write_entry(user, "same", FILES, description="from add_registry_path")
    write_entry(user, "extra", FILES)
    add_registry_path(user)
    assert get_entry("same").description == "from add_registry_path"
    assert "extra" in list_pretrained()
    paths = registry_paths()
    assert paths.index(registry.resolve()) < paths.index(user.resolve())
    with pytest.raises(ConfigError, match="not found"):
        add_registry_path(tmp_path / "missing")


def test_unknown_name_lists_known_names(zoo_env):
    registry, _ = zoo_env
    write_entry(registry, "alpha", FILES)
    write_entry(registry, "beta", FILES)
    with pytest.raises(ConfigError) as err:
        get_entry("gamma")
    message = str(err.value)
    assert "unknown pretrained model 'gamma'" in message
    assert "alpha" in message and "beta" in message
    assert str(registry.resolve()) in message


def test_folder_name_must_match_entry_name(zoo_env):
    registry, _ = zoo_env
    path = write_entry(registry, "folder-name", FILES)
    data = json.loads(path.read_text())
    data["name"] = "other-name"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as err:
        get_entry("folder-name")
    assert str(path) in str(err.value) and "'name'" in str(err.value)


def _mutate(data, field, value):
    target = data
    parts = field.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value


_DELETE = object()

BAD_ENTRIES = [
    # (field changed, new value, field named in the error, words of the expected form)
    ("version", _DELETE, "version", "missing"),
    ("files", _DELETE, "files", "list"),
    ("config", ["not", "a", "dict"], "config", "object"),
    ("training.command", _DELETE, "training.command", "missing"),
    ("files.0.size", "22", "files[0].size", "integer"),
    ("files.0.size", -1, "files[0].size", "integer >= 0"),
    ("files.0.sha256", "ab" * 31, "files[0].sha256", "64 hexadecimal"),
    ("files.0.sha256", "zz" * 32, "files[0].sha256", "64 hexadecimal"),
    ("files.0.filename", "model.pkl", "files[0].filename", ".keras"),
    ("files.0.filename", "model.h5", "files[0].filename", ".weights.h5"),
    ("files.0.filename", "tokenizer.py", "files[0].filename", "not accepted"),
    ("files.0.filename", "../outside.keras", "files[0].filename", ".."),
    ("files.0.filename", "/abs/model.keras", "files[0].filename", "relative"),
    ("files.0.url", "ftp://example.org/model.keras", "files[0].url", "not supported"),
    ("files.0.url", "hf://org/model.keras", "files[0].url", "not supported"),
    ("files.1.role", "model", "files[1].role", "unique"),
    ("metrics.0.ccc.arousal", 1.5, "metrics[0].ccc.arousal", "[-1, 1]"),
    ("metrics.0.mean", 0.9, "metrics[0].mean", "not the mean"),
    ("metrics.0.partition", _DELETE, "metrics[0].partition", "missing"),
    ("name", "has space", "name", "letters"),
    ("version", "../1", "version", "1.0.0"),
    ("unexpected", 1, "unexpected", "unknown field"),
]


@pytest.mark.parametrize(
    "field,value,named,expected",
    BAD_ENTRIES,
    ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_ENTRIES)],
)
def test_invalid_entry_names_file_and_field(zoo_env, field, value, named, expected):
    registry, _ = zoo_env
    path = write_entry(registry, "bad", FILES)
    data = json.loads(path.read_text())
    _mutate(data, field, value)
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as err:
        get_entry("bad")
    message = str(err.value)
    assert str(path) in message, message
    assert f"'{named}'" in message, message
    assert expected in message, message


def test_invalid_json_names_the_line(zoo_env):
    registry, _ = zoo_env
    path = registry / "broken" / "entry.json"
    path.parent.mkdir()
    path.write_text('{\n  "name": "broken",\n  "version": 1.0.0\n}\n')
    with pytest.raises(ConfigError) as err:
        get_entry("broken")
    assert f"{path}:3:" in str(err.value)


def test_a_broken_entry_does_not_hide_the_others(zoo_env):
    registry, _ = zoo_env
    write_entry(registry, "good", FILES)
    (registry / "broken").mkdir()
    (registry / "broken" / "entry.json").write_text("{")
    assert {"good", "broken"} <= set(list_pretrained())
    assert get_entry("good").name == "good"


def test_repository_zoo_folder_is_on_the_path_of_a_source_checkout(zoo_env):
    repo = Path(__file__).resolve().parents[2]
    if not ((repo / "setup.cfg").is_file() and (repo / "zoo").is_dir()):
        pytest.skip("not a source checkout")
    assert (repo / "zoo").resolve() in registry_paths()


REPO = Path(__file__).resolve().parents[2]


def _package_data_patterns():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return [
        p.strip()
        for p in cfg["options.package_data"]["semser_tf.zoo.bundled"].split(",")
        if p.strip()
    ]


def test_every_bundled_file_is_package_data():
    """Each file of each zoo/ entry matches a package-data pattern, so wheels carry it."""
    import fnmatch

    link = REPO / "semser_tf" / "zoo" / "bundled"
    assert link.is_symlink() and link.resolve() == (REPO / "zoo").resolve()
    patterns = _package_data_patterns()
    files = [
        p.relative_to(REPO / "zoo")
        for p in (REPO / "zoo").rglob("*")
        if p.is_file() and p.parent != REPO / "zoo"
    ]
    assert any(f.name == "entry.json" for f in files)
    missing = [
        str(f) for f in files if not any(fnmatch.fnmatch(f.as_posix(), pat) for pat in patterns)
    ]
    assert not missing, f"zoo files a wheel would leave out (add a pattern to setup.cfg): {missing}"


@pytest.mark.slow
def test_wheel_install_loads_the_default_model(tmp_path):
    """Build the wheel, install it outside the checkout, load the bundled model from it."""
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        cwd=tmp_path,
    )
    wheel = next((tmp_path / "dist").glob("semser_tf-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(tmp_path / "site"),
            str(wheel),
        ],
        check=True,
    )
    site = str(tmp_path / "site")
    code = (
        "import semser_tf, semser_tf.zoo.registry as r; "
        f"assert semser_tf.__file__.startswith({site!r}), semser_tf.__file__; "
        "assert r._repo_zoo_dir() is None; "
        "m = semser_tf.load_pretrained(offline=True); print(m.name, m.model.count_params())"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    # the compact config with 50-d semantic input (GloVe): 152 438 at 100-d less 50 x 128 fusion weights
    assert out.split()[-2:] == ["semser-synthetic-attention", str(152_438 - 50 * 128)], out
