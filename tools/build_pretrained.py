"""Build the bundled zoo model: synthetic corpus -> embeddings -> attention model -> zoo entry.

The recipe (generator 2.0): a synthetic corpus of real English sentences (``semser synth``,
recipe ``real``: VADER-rated words, held-out Test voices), Speech2Vec (50-d) trained on its
Train partition and aligned onto GloVe 6B 50-d (supervised), and the attention model fed
the ``text`` features: the GloVe vector of each transcript word (any of GloVe's 400 000
words), so that real speech's words are not out of vocabulary.

Every step is a `semser` command (the same a user would run), so this script is also the
recipe for building a model on any SEWA-layout corpus with word timings.

Usage:
    python tools/build_pretrained.py [--work corpora/zoo-build] [--minutes 60] [--epochs 30]
    python tools/build_pretrained.py --convert [--version 3.0.0]

It writes the entry to zoo/semser-synthetic-attention/ as a preset folder
(``SemserModel.save_to_preset``: config.json, model.weights.h5, input_format.json,
embeddings/, report.json, run_config.json, metadata.json; each file with its sha256 in
entry.json) and prints the commands it ran with their times. ``--convert`` re-saves the
entry already there (an older ``best.keras`` entry) as a preset with the same weights.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAME = "semser-synthetic-attention"
COMPACT = {  # small enough to ship (about 0.2 M parameters), same architecture as the paper
    "conv_filters": [16, 32, 64],
    "fusion_units": 128,
    "stream_units": 64,
    "lstm_units": 64,
    "sequence_length": 100,
    "batch_size": 16,
    "learning_rate": 0.001,
    "semantic_dim": 50,
}


_WORK: list[str] = []  # the --work folder when it lies outside the repository: logged as WORK


def _shown(a) -> str:
    """An argument as logged: paths inside the repository relative to it, a --work folder
    elsewhere as ``WORK`` (no machine paths)."""
    return _no_machine_paths(str(a))


def _no_machine_paths(text: str) -> str:
    for work in _WORK:
        text = text.replace(work, "WORK")
    return text.replace(str(REPO) + "/", "")


def semser(*args, log):
    from semser_tf.cli import main

    cmd = "semser " + " ".join(shlex.quote(_shown(a)) for a in args)
    print(f"\n$ {cmd}", flush=True)
    t0 = time.time()
    rc = main([str(a) for a in args])
    seconds = time.time() - t0
    log.append({"command": cmd, "seconds": round(seconds, 1)})
    if rc:
        sys.exit(f"failed ({rc}): {cmd}")
    return seconds


DESCRIPTION = (
    "Attention variant (compact) trained on the project's synthetic eSpeak NG corpus of "
    "real English sentences, with GloVe 6B 50-d word features (Speech2Vec aligned onto GloVe as the "
    "fallback), the semantic input masked where no word is spoken and waveform dropout 0.7 in "
    "training; the default of load_pretrained() and make demo."
)


def publish_preset(pretrained, out, version, training=None, description=DESCRIPTION):
    """Save a loaded model (``PretrainedModel``) as a preset and publish it into ``out``."""
    import tempfile

    from semser_tf.zoo import publish_run

    with tempfile.TemporaryDirectory(dir=Path(out).parent) as tmp:
        preset = pretrained.save_to_preset(Path(tmp) / "preset")
        return publish_run(
            preset,
            NAME,
            out,
            version=version,
            description=description,
            license="BSD-3-Clause",
            training=training,
            overwrite=True,
        )


def publish_built(run, out, version):
    """Publish a run this script built with ``--no-publish`` (its report holds the build)."""
    from semser_tf.zoo.pretrained import load_run

    report_path = Path(run) / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    if "command" not in report.get("training", {}) or not any(
        m.get("partition") == "Test" for m in report.get("metrics", [])
    ):
        sys.exit(
            f"{_shown(report_path)}: expected the report of a run built by this script "
            "(a 'training' block and a Test row); build it with --no-publish first"
        )
    path = publish_preset(load_run(run), out, version, training=report["training"])
    print(f"wrote {_shown(path)}")


def convert(out, version):
    """Re-save the entry in ``out`` (any layout load_pretrained reads) as a preset entry, same weights."""
    from semser_tf.zoo import get_entry
    from semser_tf.zoo.pretrained import load_pretrained

    entry = get_entry(str(Path(out) / "entry.json"))
    pretrained = load_pretrained(str(Path(out) / "entry.json"), offline=True)
    path = publish_preset(
        pretrained, out, version, training=entry.training, description=entry.description
    )
    print(f"wrote {_shown(path)}")


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--work", default=str(REPO / "corpora" / "zoo-build"))
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--s2v-epochs", type=int, default=20)
    p.add_argument("--align", default="supervised", choices=("supervised", "unsupervised"))
    p.add_argument(
        "--mode",
        default="text",
        choices=("lookup", "text", "encode"),
        help="semantic frame features (see docs/semantic.md); 'text' by default: the GloVe "
        "vector of each word; the aligned speech vectors do not carry sentiment (docs/measurements/results.md)",
    )
    p.add_argument("--out", default=str(REPO / "zoo" / NAME))
    p.add_argument("--version", default="3.0.0")
    p.add_argument(
        "--reuse-embeddings",
        action="store_true",
        help="keep WORK/embeddings/aligned when it exists (Speech2Vec and the alignment are not re-run)",
    )
    p.add_argument(
        "--run",
        default="run",
        help="the training run's folder name under WORK; `semser train` refuses an existing one "
        "(nothing is deleted) unless --train-arg=--resume continues it",
    )
    p.add_argument(
        "--train-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for `semser train` (repeat it: --train-arg=--context-frames "
        "--train-arg=50)",
    )
    p.add_argument(
        "--no-publish",
        action="store_true",
        help="train and evaluate only; the zoo entry in --out is left as it is",
    )
    p.add_argument(
        "--publish-only",
        action="store_true",
        help="publish WORK/RUN as built before by a --no-publish run (its report names the "
        "command that built it); nothing is trained",
    )
    p.add_argument(
        "--convert",
        action="store_true",
        help="re-save the entry in --out as a preset (same weights)",
    )
    args = p.parse_args()
    if args.convert:
        return convert(args.out, args.version)
    import keras

    keras.utils.set_random_seed(
        args.seed
    )  # once per run, before anything is built (no library call seeds)

    work = Path(args.work)
    if not work.resolve().is_relative_to(REPO):
        _WORK.append(str(work.resolve()))
        _WORK.append(str(work))
    corpus, emb, run = work / "corpus", work / "embeddings", work / args.run
    if args.publish_only:
        return publish_built(run, args.out, args.version)
    log: list = []
    if not corpus.exists():
        semser(
            "synth",
            corpus,
            "--minutes",
            args.minutes,
            "--seed",
            args.seed,
            "--recipe",
            "real",
            "--jobs",
            2,
            "--quiet",
            log=log,
        )
    emb.mkdir(parents=True, exist_ok=True)
    if args.reuse_embeddings and (emb / "aligned").is_dir():
        log.append(
            {"command": f"reuse {_shown(emb / 'aligned')} (--reuse-embeddings)", "seconds": 0}
        )
    else:
        semser(
            "embed",
            "speech2vec",
            "--corpus",
            corpus,
            "--partitions",
            "Train",
            "--out",
            emb / "speech2vec",
            "--dim",
            50,
            "--epochs",
            args.s2v_epochs,
            "--seed",
            args.seed,
            log=log,
        )
        semser(
            "embed",
            "align",
            "--speech",
            emb / "speech2vec",
            "--text",
            "glove-6b-50d",
            "--out",
            emb / "aligned",
            "--method",
            args.align,
            "--seed",
            args.seed,
            log=log,
        )
    sets = [x for k, v in COMPACT.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    semser(
        "train",
        corpus,
        "--variant",
        "attention",
        "--out",
        run,
        "--embeddings",
        emb / "aligned",
        "--embedding-mode",
        args.mode,
        "--epochs",
        args.epochs,
        "--patience",
        8,
        "--cache-dir",
        work / "cache",
        *sets,
        *args.train_arg,
        log=log,
    )
    # the run carries its embeddings, so the entry does
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    AlignedEmbeddings.load(emb / "aligned").save(run / "embeddings")
    semser(
        "evaluate",
        run,
        "--corpus",
        corpus,
        "--partition",
        "Test",
        "--embeddings",
        emb / "aligned",
        "--embedding-mode",
        args.mode,
        "--cache-dir",
        work / "cache",
        "--out",
        run / "eval_Test",
        log=log,
    )
    report = json.loads((run / "report.json").read_text())
    test = json.loads((run / "eval_Test" / "report.json").read_text())["results"]["raw"]
    report["metrics"] = [m for m in report["metrics"] if m.get("partition") != "Test"]
    report["metrics"].append(
        {
            "dataset": report["dataset"],
            "partition": "Test",
            "ccc": test["ccc"],
            "mean": test["mean"],
        }
    )
    report["dataset"] = (
        f"synthetic eSpeak NG corpus, real English (generator 2.0, {args.minutes:g} min, seed {args.seed})"
    )
    for m in report["metrics"]:
        m["dataset"] = report["dataset"]
    report["training"] = {
        "data": f"{report['dataset']}, Train partition",
        "command": "python tools/build_pretrained.py " + " ".join(_shown(a) for a in sys.argv[1:]),
        "steps": log,
    }
    text = _no_machine_paths(json.dumps(report, indent=2))  # no machine paths in the entry
    (run / "report.json").write_text(text)
    from semser_tf.zoo.pretrained import load_run

    if args.no_publish:
        print(json.dumps(log, indent=1))
        return
    t0 = time.time()
    path = publish_preset(load_run(run), args.out, args.version, training=report["training"])
    log.append(
        {
            "command": f"publish_preset(load_run({_shown(run)!r}), {_shown(args.out)!r})",
            "seconds": round(time.time() - t0, 1),
        }
    )
    print(f"wrote {_shown(path)}")
    print(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
