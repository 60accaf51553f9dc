"""``semser model``: inspect a model variant and its configuration."""

from __future__ import annotations

import json
from pathlib import Path

from semser_tf.errors import ConfigError


def load_config(
    preset: str = "paper", config_file: str | None = None, overrides: dict | None = None
):
    """A ModelConfig from a preset name, an optional JSON file of fields and overrides."""
    from semser_tf.models.config import ModelConfig

    values = {}
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found.")
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not valid JSON ({err}).") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object of config fields.")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return ModelConfig.preset(preset, **values)


def _info(args):
    from semser_tf.models.builder import build_model

    config = load_config(args.preset, args.config, {"variant": args.variant})
    model = build_model(config)
    print(
        json.dumps(
            {
                "variant": config.variant,
                "parameters": int(model.count_params()),
                "inputs": {t.name: list(t.shape) for t in model.inputs},
                "config": config.to_dict(),
            },
            indent=2,
        )
    )
    if args.summary:
        model.summary()
    return 0


def register(sub):
    p = sub.add_parser("model", help="show a model variant's configuration and size")
    p.add_argument("--variant", default=None, help="paralinguistic, semantic, concat or attention")
    p.add_argument("--preset", default="paper", help="paper (default) or official")
    p.add_argument("--config", default=None, help="JSON file of config fields")
    p.add_argument("--summary", action="store_true", help="also print the Keras summary")
    p.set_defaults(func=_info)
