"""The record an export folder carries, as the zoo reads it back.

:func:`semser_tf.export.export_model` writes ``export.json`` into each export folder: the
format, the shapes, the SHA-256 of every file and :func:`weights_sha256` of the network.
Publishing (:func:`semser_tf.zoo.publish_run` with ``exports=``) checks an export against
its run with these two functions, so they live here, below both the exporters (which sit
above the zoo: they export zoo models by name) and the publisher.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from semser_tf.errors import DataError
from semser_tf.zoo.cache import sha256_file

__all__ = ["EXPORT_RECORD", "read_export", "weights_sha256"]

EXPORT_RECORD = "export.json"
"""The record's file name inside an export folder."""


def weights_sha256(model) -> str:
    """SHA-256 of a model's weight values in order: which network an export holds."""
    digest = hashlib.sha256()
    for w in model.weights:
        a = np.ascontiguousarray(np.asarray(w), dtype=np.float32)
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def read_export(folder) -> dict:
    """An export's ``export.json``, every listed file checked against its SHA-256."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / EXPORT_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(
            f"not an export folder (export.json: {type(err).__name__})", folder
        ) from None
    for name, digest in meta.get("files", {}).items():
        if not (folder / name).is_file() or sha256_file(folder / name) != digest:
            raise DataError(
                f"export file {name} is missing or changed (SHA-256 differs from export.json)",
                folder,
            )
    return meta
