"""StyleGAN2 networks as Keras 3 layers/models (NHWC), faithful to NVIDIA's official TensorFlow networks."""
from stylegan2_tf.networks.channels import nf, num_ws_for
from stylegan2_tf.networks.discriminator import Discriminator, minibatch_stddev
from stylegan2_tf.networks.generator import Generator, mix_styles, style_mixing_cutoff
from stylegan2_tf.networks.layers import (EqualizedConv2D, EqualizedDense, ModulatedConv2D, SynthesisLayer,
                                          ToRGB)
from stylegan2_tf.networks.mapping import MappingNetwork, normalize_2nd_moment
from stylegan2_tf.networks.synthesis import SynthesisNetwork

__all__ = [
    "Discriminator", "EqualizedConv2D", "EqualizedDense", "Generator", "MappingNetwork", "ModulatedConv2D",
    "SynthesisLayer", "SynthesisNetwork", "ToRGB", "minibatch_stddev", "mix_styles", "nf", "normalize_2nd_moment",
    "num_ws_for", "style_mixing_cutoff",
]
