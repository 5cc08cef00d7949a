"""StyleGAN2 networks (and the progressive-growing networks of its configs A-D) as Keras 3 layers/models (NHWC),
faithful to NVIDIA's official TensorFlow networks."""
from stylegan2_tf.networks.channels import nf, num_ws_for
from stylegan2_tf.networks.discriminator import Discriminator, minibatch_stddev
from stylegan2_tf.networks.generator import Generator, mix_styles, style_mixing_cutoff
from stylegan2_tf.networks.growing import active_style_layers
from stylegan2_tf.networks.growing_discriminator import GrowingDiscriminator
from stylegan2_tf.networks.layers import (EqualizedConv2D, EqualizedDense, ModulatedConv2D, SynthesisLayer,
                                          ToRGB)
from stylegan2_tf.networks.mapping import MappingNetwork, normalize_2nd_moment
from stylegan2_tf.networks.revised import RevisedSynthesis
from stylegan2_tf.networks.stylegan1 import AdaIN, StyleGAN1Synthesis
from stylegan2_tf.networks.synthesis import SynthesisNetwork

__all__ = [
    "AdaIN", "Discriminator", "EqualizedConv2D", "EqualizedDense", "Generator", "GrowingDiscriminator",
    "MappingNetwork", "ModulatedConv2D", "RevisedSynthesis", "StyleGAN1Synthesis", "SynthesisLayer",
    "SynthesisNetwork", "ToRGB", "active_style_layers", "minibatch_stddev", "mix_styles", "nf",
    "normalize_2nd_moment", "num_ws_for", "style_mixing_cutoff",
]
