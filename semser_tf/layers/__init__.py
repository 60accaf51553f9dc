"""The paper's Keras layers (``keras.ops`` only: they run on TensorFlow, JAX and PyTorch).

``LSTM`` is ``keras.layers.LSTM`` with one backend-specific fast path (a JAX kernel
from :mod:`semser_tf.kernels`, taken on a GPU only)."""

from semser_tf.layers.concat_fusion import ConcatFusion
from semser_tf.layers.conv_paralinguistic import ConvParalinguistic
from semser_tf.layers.cross_attention_fusion import CrossAttentionFusion
from semser_tf.layers.hierarchical_avl_fusion import HierarchicalAVLFusion
from semser_tf.layers.lstm import LSTM

__all__ = [
    "ConcatFusion",
    "ConvParalinguistic",
    "CrossAttentionFusion",
    "LSTM",
    "HierarchicalAVLFusion",
]
