"""Run in a subprocess: train() on a corpus, single device and MirroredStrategy (2 logical CPUs).

argv: corpus cache_dir out_dir. Prints one JSON line with both runs' histories and reports.
"""

import json
import sys
import warnings

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from semser_tf.data.sewa import SEWACorpus  # noqa: E402
from semser_tf.distribute import make_strategy  # noqa: E402
from semser_tf.models import ModelConfig  # noqa: E402
from semser_tf.training.run import TrainSettings, train  # noqa: E402

warnings.simplefilter("ignore")
corpus, cache, out = SEWACorpus(sys.argv[1]), sys.argv[2], sys.argv[3]
config = ModelConfig(
    variant="paralinguistic",
    conv_filters=(4, 4, 8),
    lstm_units=8,
    dropout=0.0,
    sequence_length=50,
    batch_size=4,
    learning_rate=1e-3,
    clipnorm=None,
    seed=2,
)
settings = TrainSettings(epochs=2, patience=2)
result = {}
for name, strategy in (
    ("single", None),
    ("mirrored", make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])),
):
    report = train(
        corpus,
        f"{out}/{name}",
        config,
        settings,
        cache_dir=cache,
        verbose=0,
        strategy=strategy,
        plots=False,
    )
    result[name] = {
        "report": report["metrics"],
        "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
    }
print("RESULT " + json.dumps(result))
