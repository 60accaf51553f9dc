"""``semser embed ...``: Word2Vec, Speech2Vec, alignment and evaluation from the command line.

Sub-commands (each prints a JSON summary on stdout; progress goes to stderr):

* ``semser embed word2vec --corpus DIR [--text FILE ...] --out vectors.txt``
* ``semser embed speech2vec --corpus DIR --out DIR``  (model + ``vectors.txt``)
* ``semser embed align --speech DIR --text vectors.txt --out ARTIFACT [--method ...]``
* ``semser embed evaluate --embeddings ARTIFACT [--corpus DIR]``

Example:
    $ semser embed word2vec --corpus corpora/synth --min-count 2 --out runs/w2v.txt
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from semser_tf.cli.progress import ProgressBar
from semser_tf.errors import ConfigError, DataError

__all__ = ["register", "ProgressBar"]


def _print(obj) -> None:
    print(json.dumps(obj, indent=1, sort_keys=True, default=float))


def _cmd_word2vec(args) -> int:
    from semser_tf.semantic import word2vec as w2v

    sentences = []
    if args.corpus:
        sentences += w2v.transcript_sentences(args.corpus)
    for t in args.text or []:
        sentences += w2v.text_file_sentences(t)
    if not sentences:
        raise ConfigError("word2vec: give --corpus and/or --text")
    cfg = w2v.Word2VecConfig(
        vector_size=args.dim,
        window=args.window,
        min_count=args.min_count,
        epochs=args.epochs,
        seed=args.seed,
        workers=args.workers,
        sg=0 if args.cbow else 1,
    )
    sys.stderr.write(f"word2vec: {len(sentences)} sentences, {sum(map(len, sentences))} words\n")
    kv = w2v.train_word2vec(sentences, cfg)
    dropped = _dropped_words([w for sent in sentences for w in sent], set(kv.index_to_key))
    if dropped:
        sys.stderr.write(f"--min-count {args.min_count}: {dropped}\n")
    w2v.save_vectors(kv, args.out, binary=args.binary)
    _print({"out": str(args.out), "words": len(kv.index_to_key), "dim": kv.vector_size})
    return 0


def _cmd_speech2vec(args) -> int:
    from semser_tf.semantic import speech2vec as s2v
    from semser_tf.semantic.word2vec import save_vectors

    parts = tuple(p for p in (args.partitions or "").split(",") if p) or None
    bar = ProgressBar(1, "segments")

    def seg_progress(done, total, name):
        bar.total = total
        bar.update(done, name)

    recs = s2v.corpus_segments(args.corpus, parts, progress=seg_progress, words_dir=args.words_dir)
    cfg = s2v.Speech2VecConfig(
        dim=args.dim,
        hidden_units=args.hidden,
        window=args.window,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        self_target=args.self_target,
        cmvn=not args.no_cmvn,
        pooling=args.pooling,
        seed=args.seed,
        max_frames=args.max_frames,
        deltas=args.deltas,
        speed_perturb=args.speed_perturb,
        lr_decay=args.lr_decay,
    ).validate()
    model = s2v.Speech2Vec(cfg)
    held_out = []
    pre = False
    if args.held_out:
        # word-identity protocol: every N-th segment of each recording is kept out of
        # training and of the word vectors, then classified by its nearest word vector
        recs, held = s2v.held_out_split(
            recs, every=args.held_out, offset=args.held_out // 2, normalise=cfg.cmvn
        )
        pre = cfg.cmvn
        try:
            evals = {int(x) for x in (args.eval_epochs or str(cfg.epochs)).split(",") if x.strip()}
        except ValueError:
            raise ConfigError(
                f"--eval-epochs {args.eval_epochs!r}: expected comma-separated epoch numbers, "
                "e.g. 5,10,15"
            ) from None
    ebar = ProgressBar(cfg.epochs, "speech2vec")

    def progress(e):
        note = f"loss {e['loss']:.4f}"
        if args.held_out and e["epoch"] in evals:
            res = s2v.own_word_accuracy(model, recs, held, prenormalised=pre)
            held_out.append({"epoch": e["epoch"], **res})
            note += f" own-word {res['accuracy']:.3f}"
            sys.stderr.write(
                f"\nepoch {e['epoch']}: held-out own-word accuracy {res['accuracy']:.4f}"
                f" ({res['correct']}/{res['segments']})\n"
            )
        ebar.update(e["epoch"], note)

    hist = model.fit(recs, progress=progress, prenormalised=pre)
    words, vecs, counts = model.word_vectors(recs, min_count=args.min_count, prenormalised=pre)
    dropped = _dropped_words([w for r in recs for w in r.words], set(words))
    if dropped:
        sys.stderr.write(f"--min-count {args.min_count}: {dropped}\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_weights(out / "speech2vec.weights.h5")
    meta = model.get_config()
    meta["counts"] = dict(zip(words, counts))
    tmp = out / ".speech2vec.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / "speech2vec.json")
    save_vectors(_keyed(words, vecs), out / "vectors.txt")
    summary = {
        "out": str(out),
        "words": len(words),
        "segments": int(sum(counts)),
        "final_loss": hist[-1]["loss"],
        "dim": cfg.dim,
    }
    if args.held_out:
        summary["held_out"] = held_out
    _print(summary)
    return 0


def _dropped_words(tokens, kept) -> str:
    """'N of M words (K segments) get no vector, e.g. ...' or '' when none is dropped."""
    from collections import Counter

    c = Counter(w for w in tokens if w)
    gone = Counter({w: n for w, n in c.items() if w not in kept})
    if not gone:
        return ""
    ex = ", ".join(f"{w} ({n})" for w, n in gone.most_common(8))
    return (
        f"{len(gone)} of {len(c)} words ({sum(gone.values())} of {sum(c.values())} occurrences) "
        f"are below the minimum count and get no vector, e.g. {ex}"
    )


def _keyed(words, vecs):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vecs.shape[1])
    kv.add_vectors(list(words), np.asarray(vecs, np.float32))
    return kv


def _load_speech_dir(path, with_model: bool = True):
    from semser_tf.semantic.speech2vec import Speech2Vec
    from semser_tf.semantic.word2vec import load_vectors, vectors_table

    path = Path(path)
    words, vecs = vectors_table(load_vectors(path / "vectors.txt"))
    model, counts = None, None
    meta_path = path / "speech2vec.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"not JSON: {err}", meta_path) from None
        counts = [int(meta.get("counts", {}).get(w, 0)) for w in words]
        if with_model:
            model = Speech2Vec.from_config(meta)
            model.load_weights(path / "speech2vec.weights.h5")
    return words, vecs, counts, model


def _cmd_align(args) -> int:
    from semser_tf.semantic import alignment as al
    from semser_tf.semantic.build import align_tables
    from semser_tf.semantic.embeddings import AlignedEmbeddings
    from semser_tf.semantic.text_space import DEFAULT_TEXT_SPACE, load_text_space

    s_words, s_vecs, counts, model = _load_speech_dir(args.speech)
    named = str(args.text).split(":")[0] == DEFAULT_TEXT_SPACE
    if args.text_max_words < 0:
        raise ConfigError(
            f"--text-max-words {args.text_max_words}: expected a number of words, or 0 for all"
        )
    space = load_text_space(args.text, max_words=args.text_max_words or None)
    t_words, t_vecs = space.words, space.vectors
    cov = space.coverage(s_words)
    sys.stderr.write(
        f"text space {space.name}: {len(space)} words, dim {space.dim}; speech vocabulary: "
        f"{cov.summary()}\n"
    )
    adv = al.AdversarialConfig(
        hidden_units=args.adv_hidden,
        epochs=args.adv_epochs,
        epoch_size=args.adv_epoch_size,
        beta=args.beta,
        restarts=args.restarts,
        seed=args.seed,
    )
    n_it = adv.epochs * adv.restarts
    bar = ProgressBar(n_it if args.method == "unsupervised" else 1, f"align ({args.method})")
    state = {"n": 0}

    def prog(e):
        if "epoch" in e and e["epoch"] > 0:
            state["n"] += 1
            bar.update(state["n"], f"criterion {e['criterion']:.4f}")
        elif "iteration" in e:
            sys.stderr.write(
                f"refinement {e['iteration']}: criterion {e['criterion']:.4f}"
                f" dictionary {e.get('dictionary_size', '-')}\n"
            )

    out = align_tables(
        s_words,
        s_vecs,
        t_words,
        t_vecs,
        method=args.method,
        adversarial=adv,
        refine_iterations=args.refine,
        test_fraction=args.test_fraction,
        seed=args.seed,
        progress=prog,
    )
    S = al.normalize_rows(np.asarray(s_vecs, np.float32) - out.source_mean)
    # an installed space is referenced (not copied: 400 000 GloVe rows); a file's table is
    # stored in the artifact, which then does not depend on the file
    text = (
        {"text_space": space.name, "text_mean": out.target_mean}
        if named
        else {"text_words": t_words, "text_vectors": out.target}
    )
    emb = AlignedEmbeddings(
        words=s_words,
        vectors=al.apply_mapping(out.W, S),
        mapping=out.W,
        source_mean=out.source_mean,
        counts=counts,
        speech2vec=model,
        **text,
        config={
            "alignment": args.method,
            "scores": out.scores,
            "refine_iterations": args.refine,
            "adversarial": vars(adv) if args.method == "unsupervised" else None,
            "speech": Path(args.speech).name,
            "text": space.name if named else Path(args.text).name,
            "speech_vocabulary_coverage": cov.as_dict(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    emb.save(args.out)
    _print(
        {
            "out": str(args.out),
            "text_space": space.name,
            "speech_words_in_text_space": cov.as_dict(),
            **out.scores,
        }
    )
    return 0


def _cmd_evaluate(args) -> int:
    from semser_tf.semantic import alignment as al
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    emb = AlignedEmbeddings.load(args.embeddings, load_speech2vec=bool(args.corpus))
    report = {
        "embeddings": str(args.embeddings),
        "words": len(emb.words),
        "dim": emb.dim,
        "stored_scores": emb.config.get("scores"),
    }
    if emb.text_vectors is not None:
        gold = al.identical_words_dictionary(emb.words, emb.text_words)
        if len(gold):
            report["all_identical_words"] = {
                f"p_at_{k}": v
                for k, v in al.precision_at_k(
                    np.eye(emb.dim), emb.vectors, emb.text_vectors, gold
                ).items()
            }
    if args.corpus:
        if emb.speech2vec is None:
            raise ConfigError("evaluate --corpus: the artifact has no Speech2Vec model")
        from semser_tf.semantic.speech2vec import corpus_segments

        parts = tuple(p for p in args.partitions.split(",") if p) or None
        recs = corpus_segments(args.corpus, parts)
        index = {w: i for i, w in enumerate(emb.words)}
        # each recording's segments normalised together (cmvn), as encode_segments does
        segs = [
            (w, m)
            for r in recs
            for w, m in zip(r.words, emb.speech2vec.normalise_recording(r.mfccs))
            if w in index
        ]
        if segs:
            enc = emb.transform(emb.speech2vec.encode([m for _, m in segs]))
            sim = al.normalize_rows(enc) @ al.normalize_rows(emb.vectors).T
            pred = sim.argmax(axis=1)
            report["segment_own_word_nn"] = float(
                np.mean([emb.words[j] == w for (w, _), j in zip(segs, pred)])
            )
            report["segments"] = len(segs)
    _print(report)
    return 0


def _cmd_text_space(args) -> int:
    from semser_tf.semantic.text_space import load_text_space, sentiment_readout

    if args.text_max_words < 0:
        raise ConfigError(
            f"--text-max-words {args.text_max_words}: expected a number of words, or 0 for all"
        )
    space = load_text_space(args.text, max_words=args.text_max_words or None)
    report = {
        "text_space": space.name,
        "words": len(space),
        "dim": space.dim,
        "source": space.source,
    }
    if args.lexicon:
        from semser_tf.data.lexicon import load_lexicon, load_vader

        lex = load_vader() if args.lexicon == "vader" else load_lexicon(args.lexicon)
        report["lexicon"] = {
            "name": lex.name,
            "words": len(lex),
            "in_space": space.coverage(list(lex.ratings)).as_dict(),
        }
        report["sentiment_readout"] = sentiment_readout(
            space, lex.ratings, test_fraction=args.test_fraction, alpha=args.alpha, seed=args.seed
        )
    if args.words:
        from semser_tf.data.text_files import read_text

        report["coverage"] = space.coverage(read_text(args.words).split()).as_dict()
    _print(report)
    return 0


def register(subparsers) -> None:
    """Add ``semser embed`` and its sub-commands."""
    p = subparsers.add_parser("embed", help="semantic embeddings: word2vec, speech2vec, alignment")
    sub = p.add_subparsers(dest="embed_command", metavar="STEP")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    w = sub.add_parser("word2vec", help="train skip-gram Word2Vec on transcripts and text")
    w.add_argument("--corpus", help="SEWA-layout corpus (transcriptions/ or words/)")
    w.add_argument(
        "--text", action="append", help="extra UTF-8 text file, one sentence per line (repeatable)"
    )
    w.add_argument("--out", required=True, help="output vectors file (word2vec format)")
    w.add_argument("--binary", action="store_true", help="binary word2vec format")
    w.add_argument("--dim", type=int, default=100, help="vector size")
    w.add_argument("--window", type=int, default=4, help="context window in words, each side")
    w.add_argument(
        "--min-count",
        type=int,
        default=7,
        help="words seen fewer times get no vector (the dropped words are listed)",
    )
    w.add_argument("--epochs", type=int, default=5, help="passes over the sentences")
    w.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    w.add_argument("--workers", type=int, default=1, help="threads (1 = reproducible)")
    w.add_argument(
        "--seed", type=int, default=0, help="seed of the initial vectors and the sampling"
    )
    w.set_defaults(func=_cmd_word2vec)

    s = sub.add_parser("speech2vec", help="train Speech2Vec on word segments of a corpus")
    s.add_argument(
        "--corpus",
        required=True,
        help="SEWA-layout folder or manifest with word timings (words/, transcriptions/ or --words-dir)",
    )
    s.add_argument(
        "--words-dir",
        help="folder of <recording>.csv word timings (start;end;word) used instead "
        "of the corpus's words/",
    )
    s.add_argument(
        "--partitions", default="", help="comma-separated name prefixes, e.g. Train (default: all)"
    )
    s.add_argument("--out", required=True, help="output folder (weights, config, vectors.txt)")
    s.add_argument("--dim", type=int, default=100, help="embedding size")
    s.add_argument(
        "--hidden",
        type=int,
        default=128,
        help="LSTM units of the encoder (each direction) and decoder",
    )
    s.add_argument("--window", type=int, default=3, help="skip-gram window in words, each side")
    s.add_argument(
        "--epochs",
        type=int,
        default=15,
        help="training epochs (each samples one neighbour per word occurrence)",
    )
    s.add_argument("--batch-size", type=int, default=64, help="segment pairs per step")
    s.add_argument("--learning-rate", type=float, default=2e-3, help="Adam learning rate")
    s.add_argument(
        "--self-target",
        type=float,
        default=0.9,
        help="probability that a pair's target is the centre segment itself (an autoencoder step)",
    )
    s.add_argument(
        "--pooling",
        choices=("mean", "last"),
        default="mean",
        help="how the encoder summarises its BiLSTM outputs: their mean or the last step",
    )
    s.add_argument(
        "--max-frames",
        type=int,
        default=100,
        help="longest MFCC sequence kept per segment (100 = 1 s)",
    )
    s.add_argument(
        "--min-count", type=int, default=1, help="words with fewer segments get no vector"
    )
    s.add_argument("--no-cmvn", action="store_true", help="no per-recording MFCC normalisation")
    s.add_argument(
        "--deltas",
        type=int,
        choices=(0, 1, 2),
        default=0,
        help="encoder input: MFCCs (0), + deltas (1), + delta-deltas (2)",
    )
    s.add_argument(
        "--speed-perturb",
        type=float,
        default=0.0,
        help="time-stretch the encoder input by a factor in [1-x, 1+x] during training",
    )
    s.add_argument(
        "--lr-decay", type=float, default=0.85, help="learning-rate factor per epoch (1: constant)"
    )
    s.add_argument(
        "--held-out",
        type=int,
        default=0,
        metavar="N",
        help="keep every N-th segment of each recording out of training and the word "
        "vectors, and report their own-word nearest-neighbour accuracy",
    )
    s.add_argument(
        "--eval-epochs",
        default="",
        help="with --held-out: comma-separated epochs to evaluate after (default: the last)",
    )
    s.add_argument(
        "--seed", type=int, default=0, help="seed of the weights and the neighbour sampling"
    )
    s.set_defaults(func=_cmd_speech2vec)

    a = sub.add_parser("align", help="align Speech2Vec vectors onto Word2Vec vectors (MUSE)")
    a.add_argument("--speech", required=True, help="folder written by 'semser embed speech2vec'")
    a.add_argument(
        "--text",
        default="glove-6b-50d",
        help="text space: 'glove-6b-50d' (default, the installed GloVe 6B 50-d), or a word2vec "
        "text/binary or GloVe text file",
    )
    a.add_argument(
        "--text-max-words",
        type=int,
        default=100000,
        help="align against the N most frequent text words (default 100000; 0: all)",
    )
    a.add_argument("--out", required=True, help="aligned-embeddings artifact folder")
    a.add_argument(
        "--method",
        choices=("unsupervised", "supervised"),
        default="unsupervised",
        help="adversarial mapping then refinement (MUSE), or Procrustes on the identical words",
    )
    a.add_argument("--refine", type=int, default=5, help="CSLS/Procrustes refinement iterations")
    a.add_argument(
        "--test-fraction", type=float, default=0.5, help="identical words held out for evaluation"
    )
    a.add_argument(
        "--adv-epochs", type=int, default=5, help="adversarial training epochs (unsupervised)"
    )
    a.add_argument(
        "--adv-epoch-size", type=int, default=100000, help="samples per adversarial epoch"
    )
    a.add_argument(
        "--adv-hidden", type=int, default=2048, help="units of each discriminator hidden layer"
    )
    a.add_argument(
        "--restarts",
        type=int,
        default=1,
        help="independent adversarial runs (seeds SEED, SEED+1, ...); the best by the unsupervised criterion is kept",
    )
    a.add_argument(
        "--beta", type=float, default=0.01, help="orthogonalisation (0.01 paper, 0.001 code)"
    )
    a.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the mapping, the sampling, the dropout and the held-out split",
    )
    a.set_defaults(func=_cmd_align)

    t = sub.add_parser(
        "text-space",
        help="a text space's size, coverage of a text, and sentiment read-out",
        description="Describe a text space; with --lexicon, fit a ridge read-out of the lexicon's "
        "ratings on part of its words and report Pearson's r on the held-out rest.",
    )
    t.add_argument(
        "--text",
        default="glove-6b-50d",
        help="text space: glove-6b-50d (default) or a vectors file",
    )
    t.add_argument(
        "--text-max-words", type=int, default=0, help="keep the N most frequent words (0: all)"
    )
    t.add_argument(
        "--lexicon", help="'vader' (the bundled VADER ratings) or a lexicon file (word<TAB>rating)"
    )
    t.add_argument(
        "--test-fraction", type=float, default=0.3, help="rated words held out (default 0.3)"
    )
    t.add_argument("--alpha", type=float, default=1.0, help="ridge penalty (default 1)")
    t.add_argument("--words", help="a UTF-8 text file whose words' OOV rate is reported")
    t.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    t.set_defaults(func=_cmd_text_space)

    e = sub.add_parser("evaluate", help="scores of an aligned-embeddings artifact")
    e.add_argument(
        "--embeddings",
        required=True,
        help="aligned-embeddings artifact folder (semser embed align)",
    )
    e.add_argument(
        "--corpus", help="also embed this corpus's segments and check own-word nearest neighbours"
    )
    e.add_argument(
        "--partitions",
        default="Devel,Test",
        help="comma-separated partitions embedded with --corpus",
    )
    e.set_defaults(func=_cmd_evaluate)
