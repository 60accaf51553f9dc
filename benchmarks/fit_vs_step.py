"""Is the input pipeline the bottleneck? Seconds per step inside ``fit`` on the cached
loader versus ``train_on_batch`` on in-memory arrays of the same shapes, same process.

Usage:
    python benchmarks/fit_vs_step.py CORPUS [--set KEY=VALUE ...] [--steps 20]

Prints one JSON line. A ratio fit/step near 1 means the loader keeps up with training.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median_time  # noqa: E402


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("corpus")
    p.add_argument("--variant", default="attention")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args()

    import keras

    from semser_tf.cli.train import _parse_sets
    from semser_tf.data.pipeline import ZeroFrameFeatures, dataset_for_model, make_dataset
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.models import ModelConfig, build_model, compile_model

    config = ModelConfig(variant=args.variant, **_parse_sets(args.set))
    corpus = SEWACorpus(args.corpus)
    ds = make_dataset(
        corpus,
        "Train",
        sequence_length=config.sequence_length,
        batch_size=config.batch_size,
        shuffle=True,
        frame_features=ZeroFrameFeatures(config.semantic_dim),
        cache_dir=args.cache_dir,
        drop_remainder=True,
        progress=False,
    )
    keras.utils.set_random_seed(config.seed)  # build_model leaves seeding to its caller
    model = compile_model(build_model(config), config)
    ds = dataset_for_model(ds, model).repeat()
    x, y, w = next(iter(ds))
    x = {k: v.numpy() for k, v in x.items()}
    y, w = y.numpy(), w.numpy()
    step = median_time(lambda: model.train_on_batch(x, y, sample_weight=w), args.steps)
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # warm up the fit path
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)
    fit = (time.perf_counter() - t0) / args.steps
    audio = config.batch_size * config.sequence_length / 10.0
    emit(
        {
            "variant": args.variant,
            "batch": config.batch_size,
            "sequence_length": config.sequence_length,
            "parameters": int(model.count_params()),
            "train_on_batch_s": round(step, 4),
            "fit_step_s": round(fit, 4),
            "fit_over_step": round(fit / step, 3),
            "fit_audio_s_per_s": round(audio / fit, 1),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
