"""Speed of the alignment stage: Procrustes + CSLS refinements, and adversarial epochs.

Prints one JSON object. The vocabulary is synthetic (a rotated anisotropic Gaussian mixture
with noise, rows in frequency order), so the result needs no data files.

With ``--reference`` the same Procrustes + refinements are also run by a NumPy transcription
of MUSE's loop (``benchmarks/_muse_reference.py``: batched products, top-k by partition,
``S2T&T2S`` candidates) on the same data, and the ratio is printed.

Usage:
    python benchmarks/alignment.py --skip-adversarial --reference
    python benchmarks/alignment.py [--words 20000] [--dim 100] [--iterations 5]
        [--adversarial-iterations 200] [--hidden 2048] [--skip-adversarial] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np


def structured_pair(n: int, dim: int, seed: int = 0, noise: float = 0.05):
    """Target table T (clustered, anisotropic), rotation Q and source S with s_i = Q^T t_i + noise."""
    rng = np.random.default_rng(seed)
    n_clusters = 50
    centres = rng.standard_normal((n_clusters, dim)) * 2.0
    scales = np.exp(rng.uniform(-1.5, 0.5, size=dim))
    assign = rng.integers(0, n_clusters, size=n)
    T = centres[assign] + rng.standard_normal((n, dim)) * scales
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    S = T @ Q + noise * rng.standard_normal((n, dim))
    return S.astype(np.float32), T.astype(np.float32), Q


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument(
        "--seed-pairs",
        type=int,
        default=2000,
        help="initial dictionary (first rows paired) for the Procrustes step",
    )
    ap.add_argument(
        "--adversarial-iterations",
        type=int,
        default=200,
        help="iterations (5 discriminator + 1 mapping step each) timed",
    )
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--skip-adversarial", action="store_true")
    ap.add_argument(
        "--reference",
        action="store_true",
        help="also time MUSE's refinement loop transcribed to NumPy (benchmarks/_muse_reference.py) "
        "on the same data, after ours, for a ratio",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="worker threads of the CSLS sweeps (default: as many as BLAS uses)",
    )
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
    from semser_tf.semantic import alignment as al

    S, T, Q = structured_pair(args.words, args.dim)
    # warm-up (BLAS threads, page faults) on a small problem
    al.refine(np.eye(args.dim), S[:2000], T[:2000], iterations=1)
    load_before = os.getloadavg()[0]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0, c0 = time.perf_counter(), time.process_time()
    W0 = al.procrustes(S[: args.seed_pairs], T[: args.seed_pairs])
    res = al.refine(W0, S, T, iterations=args.iterations, threads=args.threads)
    refine_s = time.perf_counter() - t0
    refine_cpu = time.process_time() - c0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    load_after = os.getloadavg()[0]
    pairs = np.stack([np.arange(args.words)] * 2, axis=1)[::10]
    p = al.precision_at_k(res.W, S, T, pairs)
    out = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.processor() or platform.platform()}",
        "words": args.words,
        "dim": args.dim,
        "load_average_1min_before": round(load_before, 2),
        "procrustes_plus_refinements_s": round(refine_s, 3),
        "procrustes_plus_refinements_process_cpu_s": round(refine_cpu, 3),
        "procrustes_plus_refinements_sys_s": round(ru1.ru_stime - ru0.ru_stime, 3),
        "procrustes_plus_refinements_minor_faults": ru1.ru_minflt - ru0.ru_minflt,
        "load_average_1min_after": round(load_after, 2),
        "csls_worker_threads": args.threads or al._default_threads(),
        "refinement_iterations": args.iterations,
        "sweep_seconds": [round(h["seconds"], 3) for h in res.history],
        "criterion": round(res.criterion, 4),
        "p_at_1": p[1],
        "w_minus_q_fro": float(np.linalg.norm(res.W - Q)),
    }
    if args.reference:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import _muse_reference as muse

        t0 = time.perf_counter()
        W0 = muse.procrustes(S[: args.seed_pairs], T[: args.seed_pairs])
        Wr, cr, hist = muse.refine(W0, S, T, iterations=args.iterations)
        ref_s = time.perf_counter() - t0
        out.update(
            {
                "reference": "MUSE refinement loop in NumPy (benchmarks/_muse_reference.py)",
                "reference_s": round(ref_s, 3),
                "reference_criterion": round(cr, 4),
                "reference_p_at_1": al.precision_at_k(Wr, S, T, pairs)[1],
                "speedup_vs_reference": round(ref_s / refine_s, 2),
                "load_average_1min_after_reference": round(os.getloadavg()[0], 2),
            }
        )
    if not args.skip_adversarial:
        import tensorflow as tf  # noqa: F401  (import time is not timed)

        cfg = al.AdversarialConfig(
            hidden_units=args.hidden,
            epochs=1,
            n_criterion=10000,
            epoch_size=32 * args.adversarial_iterations,
        )
        t0 = time.perf_counter()
        adv = al.adversarial_align(S, T, cfg)
        total = time.perf_counter() - t0
        ep = adv.history[-1]["seconds"]
        per_iter = ep / args.adversarial_iterations
        out.update(
            {
                "adversarial_hidden_units": args.hidden,
                "adversarial_iterations_timed": args.adversarial_iterations,
                "adversarial_epoch_s_incl_criterion": round(ep, 3),
                "adversarial_total_s_incl_tracing": round(total, 3),
                "adversarial_s_per_iteration": round(per_iter, 5),
                "adversarial_muse_epoch_1M_samples_s_estimate": round(per_iter * 1_000_000 / 32, 1),
            }
        )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
