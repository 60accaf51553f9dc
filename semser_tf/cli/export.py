"""``semser export MODEL --format savedmodel|onnx|tflite --out DIR``."""

from __future__ import annotations


def _export(args) -> int:
    from semser_tf.export import export_model
    from semser_tf.export.exporters import read_export

    out = export_model(
        args.model,
        args.out,
        args.format,
        window_frames=args.window_frames,
        overwrite=args.overwrite,
    )
    meta = read_export(out)
    check = meta["check"]
    print(
        f"{args.format} export of {meta['model']} ({meta['variant']}): {out} "
        f"(checked by its runtime on {check['frames']} frames: largest difference from Keras "
        f"{check['max_abs_diff']:.2g}); see {out}/README.md"
    )
    return 0


def register(sub) -> None:
    from semser_tf.export.exporters import DEFAULT_TFLITE_FRAMES, FORMATS

    p = sub.add_parser(
        "export",
        help="export a model as a TensorFlow SavedModel, ONNX or LiteRT (TFLite) file",
        description="Export a model's network, checked by its own runtime (outputs within 1e-4 "
        "of Keras), with a README of its inputs, outputs and frame rule.",
    )
    p.add_argument(
        "model",
        help="zoo name, entry path, preset folder or run folder (e.g. semser-synthetic-attention)",
    )
    p.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="savedmodel (any length), onnx (any length; needs the export extra: tf2onnx, onnx) "
        "or tflite (a fixed window) (required)",
    )
    p.add_argument("--out", required=True, help="the export folder to create (required)")
    p.add_argument(
        "--window-frames",
        type=int,
        default=None,
        help=f"tflite only: frames per call (default: {DEFAULT_TFLITE_FRAMES} = 10 s)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if an earlier semser export wrote it, never another folder (default: off)",
    )
    p.set_defaults(func=_export)
