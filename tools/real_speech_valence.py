"""Valence on real recorded speech: do lexicon-positive utterances get higher predicted valence?

Real human speech with transcripts, from Debian packages (see ``fetch_real_speech.py``):
the Asterisk PBX prompts (``asterisk-core-sounds-en-wav``, one female US-English speaker,
8 kHz) or CMU Sphinx's read sentences (``pocketsphinx-testdata``). Each utterance gets a
*lexicon label* from VADER's word ratings (the sum of the ratings of its words: positive
when > 0, negative when < 0; utterances without rated words are left out); the model
predicts valence every 100 ms and the utterance's score is the mean over its frames.
The figure is the ROC AUC of that score for positive against negative utterances
(0.5: no information; 1.0: every positive utterance above every negative one), with a
bootstrap 95 % interval. Arousal is reported the same way for reference.

The words the model is given (``--words``):

* ``transcript``: the utterance's transcript spread over its span by character count
  (the project's documented fallback for transcripts without word timings);
* ``align``: the transcript force-aligned to the audio (pocketsphinx), as ``semser
  predict --transcript`` does;
* ``asr``: words recognised from the audio alone (no transcript), as ``semser predict``
  does on a bare file (``--language-model``: ``auto``, ``general`` or ``vocabulary``);
* ``none``: no words (zeros: the voice alone).

Usage::

    python tools/real_speech_valence.py --data asterisk --words transcript
    python tools/real_speech_valence.py --data asterisk --words asr --model runs/x --json out.json

Nothing is committed from the data: the packages are unpacked under ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

__all__ = ["roc_auc", "lexicon_labels", "evaluate", "words_contribution"]


def roc_auc(scores_pos, scores_neg) -> float:
    """Mann-Whitney ROC AUC: P(score of a positive > score of a negative), ties count 1/2."""
    p = np.asarray(scores_pos, np.float64)[:, None]
    n = np.asarray(scores_neg, np.float64)[None, :]
    if p.size == 0 or n.size == 0:
        raise ValueError("roc_auc: need at least one positive and one negative utterance")
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def words_contribution(rows, rows_none) -> dict:
    """What the words add, apart from the voice: the ROC AUC (and its 95 % bootstrap) of each
    utterance's valence with the words minus its valence with none (``--words none``).

    On the Asterisk prompts the plain AUC is confounded with length (negative prompts are
    short), and a model's voice-only valence can follow length; the difference removes
    the voice's share. Rows are matched by ``file``."""
    without = {r["file"]: r["valence"] for r in rows_none}
    missing = [r["file"] for r in rows if r["file"] not in without]
    if missing:
        raise ValueError(f"words_contribution: no row without words for {missing[:3]}")
    pos = [r["valence"] - without[r["file"]] for r in rows if r["label"] > 0]
    neg = [r["valence"] - without[r["file"]] for r in rows if r["label"] < 0]
    return {
        "auc_valence_words_contribution": roc_auc(pos, neg),
        "auc_valence_words_contribution_ci95": _bootstrap(pos, neg),
    }


def _bootstrap(pos, neg, reps=2000, seed=0):
    rng = np.random.default_rng(seed)
    pos, neg = np.asarray(pos), np.asarray(neg)
    vals = [roc_auc(rng.choice(pos, len(pos)), rng.choice(neg, len(neg))) for _ in range(reps)]
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def lexicon_labels(pairs, lexicon):
    """``(path, transcript, label, rating sum)`` for utterances with rated words (label +1/-1)."""
    from semser_tf.data.timings import transcript_words

    out = []
    for path, text in pairs:
        total = sum(lexicon.get(w, 0.0) or 0.0 for w in transcript_words(text))
        if total > 0:
            out.append((path, text, 1, total))
        elif total < 0:
            out.append((path, text, -1, total))
    return out


def _words_for(
    model, mode, audio, text, duration, language_model="auto", recognizer="pocketsphinx"
):
    from semser_tf.data.timings import spread_words

    if mode == "none":
        return []
    if mode == "transcript":
        return spread_words([(0.0, duration, text)], warn=False)
    # as `semser predict` gets them: forced alignment of the transcript, or recognition
    try:
        return list(
            model.words(
                audio,
                22050,
                transcript=text if mode == "align" else None,
                words_from=mode,
                language_model=language_model,
                recognizer=recognizer,
            ).words
        )
    except Exception as err:  # a failed alignment or recognition: no words, said so
        print(f"\n{mode} failed ({err}); no words for this utterance", file=sys.stderr)
        return []


def evaluate(
    model,
    utterances,
    words_mode="transcript",
    progress=True,
    language_model="auto",
    recognizer="pocketsphinx",
):
    """Mean predicted valence/arousal per utterance and the AUCs."""
    from semser_tf.data.audio import load_audio

    rows = []
    t0 = time.time()
    for i, (path, text, label, total) in enumerate(utterances, 1):
        audio = load_audio(path, 22050)
        duration = len(audio) / 22050
        words = _words_for(model, words_mode, audio, text, duration, language_model, recognizer)
        pred = model.predict(audio, words=words, sample_rate=22050)
        rows.append(
            {
                "file": path.name,
                "text": text,
                "label": label,
                "rating_sum": round(total, 3),
                "valence": float(pred["valence"].mean()),
                "arousal": float(pred["arousal"].mean()),
                "words_given": len(words),
            }
        )
        if progress and (i % 10 == 0 or i == len(utterances)):
            print(
                f"\r{i}/{len(utterances)} utterances, {time.time() - t0:.0f} s",
                end="",
                file=sys.stderr,
            )
    if progress:
        print(file=sys.stderr)
    res = {
        "utterances": len(rows),
        "positive": sum(r["label"] > 0 for r in rows),
        "negative": sum(r["label"] < 0 for r in rows),
        "words": words_mode,
    }
    for target in ("valence", "arousal"):
        pos = [r[target] for r in rows if r["label"] > 0]
        neg = [r[target] for r in rows if r["label"] < 0]
        res[f"auc_{target}"] = roc_auc(pos, neg)
        res[f"auc_{target}_ci95"] = _bootstrap(pos, neg)
    # correlation of the predicted valence with the utterance's rating sum
    v = np.array([r["valence"] for r in rows])
    s = np.array([r["rating_sum"] for r in rows])
    res["pearson_valence_rating"] = float(np.corrcoef(v, s)[0, 1])
    return res, rows


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", choices=("asterisk", "pocketsphinx-testdata"), default="asterisk")
    p.add_argument(
        "--cache",
        default=str(Path.home() / ".cache" / "semser-real-speech"),
        help="where the Debian packages are unpacked (default ~/.cache/semser-real-speech)",
    )
    p.add_argument(
        "--model", default=None, help="zoo name, entry or run folder (default: the bundled model)"
    )
    p.add_argument("--mode", default=None, help="semantic mode (default: the model's)")
    p.add_argument("--words", choices=("transcript", "align", "asr", "none"), default="transcript")
    p.add_argument(
        "--language-model",
        default="auto",
        help="recognition: auto (as predict), general or vocabulary",
    )
    p.add_argument(
        "--recognizer",
        default="pocketsphinx",
        choices=("pocketsphinx", "whisper"),
        help="recognition (--words asr): pocketsphinx (default) or whisper",
    )
    p.add_argument("--limit", type=int, default=0, help="use only the first N rated utterances")
    p.add_argument(
        "--contribution",
        action="store_true",
        help="also predict with no words and report the AUC of the difference (what the "
        "words add, apart from the voice)",
    )
    p.add_argument("--json", help="write the summary and per-utterance rows here")
    args = p.parse_args(argv)

    from fetch_real_speech import fetch_asterisk, fetch_pocketsphinx_testdata

    from semser_tf.data.lexicon import load_vader
    from semser_tf.zoo.pretrained import load_pretrained

    pairs = (fetch_asterisk if args.data == "asterisk" else fetch_pocketsphinx_testdata)(
        Path(args.cache)
    )
    utts = lexicon_labels(pairs, load_vader())
    if args.limit:
        utts = utts[: args.limit]
    model = load_pretrained(args.model, embedding_mode=args.mode)
    res, rows = evaluate(
        model, utts, args.words, language_model=args.language_model, recognizer=args.recognizer
    )
    if args.contribution and args.words != "none":
        _, rows_none = evaluate(model, utts, "none")
        res.update(words_contribution(rows, rows_none))
    res.update(
        {
            "data": args.data,
            "model": model.name,
            "mode": model.embedding_mode,
            "clips": len(pairs),
            "language_model": args.language_model if args.words == "asr" else None,
            "recognizer": args.recognizer if args.words == "asr" else None,
        }
    )
    print(json.dumps(res, indent=1))
    if args.json:
        from semser_tf.io import atomic_write_json

        atomic_write_json(args.json, {"summary": res, "utterances": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
