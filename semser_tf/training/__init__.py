"""Training, evaluation with the AVEC conventions, and the paper's ablation."""

from semser_tf.training.ablation import ablation
from semser_tf.training.evaluate import evaluate_model, evaluate_predictions, predict_partition
from semser_tf.training.run import TrainSettings, train

__all__ = ["TrainSettings", "ablation", "evaluate_model", "evaluate_predictions", "predict_partition", "train"]
