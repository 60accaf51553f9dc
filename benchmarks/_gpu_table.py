"""The Markdown table that ``gpu_step.py`` prints last: per batch, the reference then ours,
fit and predict step times, audio-s/s, ratios to the reference, GPU busy and launches."""

from __future__ import annotations

import statistics


def summary(records, frames, peak):
    """The Markdown table: per batch, the reference then ours; audio-s/s and ratios."""

    def audio(b):
        return b * frames / 10.0

    rows = {}
    for r in records:
        key = (r.get("batch"), r.get("model"), r.get("steps_per_execution"), r.get("data", "host"))
        if "fit_step_ms" in r:  # every round of a setting: the median of all its epochs
            row = rows.setdefault(key, {})
            row.setdefault("fits", []).extend(r["fit_step_ms"])
            row["fit"] = statistics.median(row["fits"])
            row["tflop"] = r.get("train_tflop_per_step")
        if "trace" in r and "gpu_busy_ms_per_step" in r["trace"]:
            row = rows.setdefault(key, {})
            row.setdefault("busies", []).append(r["trace"]["gpu_busy_ms_per_step"])
            row["busy"] = round(statistics.median(row["busies"]), 2)
            row["launches"] = r["trace"]["kernel_launches_per_step"]
        if "predict_step_ms" in r:
            rows.setdefault((r["batch"], r["model"], "predict", "host"), {})["predict"] = r[
                "predict_step_ms"
            ]
    lines = [
        "| batch | model | steps/exec | data | fit step ms | train audio-s/s | x ref fit | GPU busy ms | busy % | launches/step | % bf16 rate |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (b, m, k, data), v in sorted(
        rows.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), str(kv[0][2]), kv[0][3])
    ):
        if "fit" not in v:
            continue
        ref = rows.get((b, "reference float32", 1, "host"), {}).get("fit")
        busy = v.get("busy")
        frac = v.get("tflop") and peak and (v["tflop"] / (v["fit"] / 1e3)) / peak
        lines.append(
            f"| {b} | {m} | {k} | {data} | {v['fit']:.1f} | {audio(b) / v['fit'] * 1e3:,.0f} | "
            f"{(ref / v['fit']) if ref else float('nan'):.2f} | "
            f"{busy if busy is not None else ''} | {(100 * busy / v['fit']) if busy else float('nan'):.0f} | "
            f"{v.get('launches', '')} | {100 * frac if frac else float('nan'):.1f} |"
        )
    lines += [
        "",
        "| batch | model | predict step ms | inference audio-s/s | x ref |",
        "|---:|---|---:|---:|---:|",
    ]
    for (b, m, _k, _), v in sorted(rows.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        if "predict" in v:
            ref = rows.get((b, "reference float32", "predict", "host"), {}).get("predict")
            lines.append(
                f"| {b} | {m} | {v['predict']:.1f} | {audio(b) / v['predict'] * 1e3:,.0f} | {(ref / v['predict']) if ref else float('nan'):.2f} |"
            )
    return "\n".join(lines)
