"""The paper's Keras layers (``keras.ops`` only: they run on TensorFlow, JAX and PyTorch)."""

from semser_tf.layers.concat_fusion import ConcatFusion
from semser_tf.layers.conv_paralinguistic import ConvParalinguistic
from semser_tf.layers.cross_attention_fusion import CrossAttentionFusion
from semser_tf.layers.hierarchical_avl_fusion import HierarchicalAVLFusion

__all__ = ["ConcatFusion", "ConvParalinguistic", "CrossAttentionFusion", "HierarchicalAVLFusion"]
