"""The networks as Keras 3 layers/models (NHWC), faithful to NVIDIA's official ones, grouped by family:

    layers.py, mapping.py, channels.py, precision.py, weights_util.py   shared building blocks and bookkeeping
    growing/      the progressive-growing networks of the StyleGAN2 paper's configs A-D (StyleGAN's G_style/D_basic,
                  the revised synthesis and D_stylegan)
    stylegan2/    StyleGAN2's synthesis, generator and discriminator (configs E/F, StyleGAN2-ADA; the discriminator is
                  also StyleGAN3's)
    stylegan3/    StyleGAN3's generators T and R ("Alias-Free GAN"): filter design, layer schedule, the Fourier-feature
                  input, the alias-free layers, the synthesis network and StyleGAN3Generator
"""
from stylegan2_tf.networks.channels import nf, num_ws_for
from stylegan2_tf.networks.stylegan2.discriminator import Discriminator, minibatch_stddev
from stylegan2_tf.networks.stylegan2.generator import Generator, mix_styles, style_mixing_cutoff
from stylegan2_tf.networks.growing.base import active_style_layers
from stylegan2_tf.networks.growing.discriminator import GrowingDiscriminator
from stylegan2_tf.networks.layers import (EqualizedConv2D, EqualizedDense, ModulatedConv2D, SynthesisLayer,
                                          ToRGB)
from stylegan2_tf.networks.mapping import MappingNetwork, normalize_2nd_moment
from stylegan2_tf.networks.growing.revised import RevisedSynthesis
from stylegan2_tf.networks.growing.stylegan1 import AdaIN, StyleGAN1Synthesis
from stylegan2_tf.networks.stylegan2.synthesis import SynthesisNetwork
from stylegan2_tf.networks.stylegan3.generator import StyleGAN3Generator, stylegan3_kwargs

__all__ = [
    "AdaIN", "Discriminator", "EqualizedConv2D", "EqualizedDense", "Generator", "GrowingDiscriminator",
    "MappingNetwork", "ModulatedConv2D", "RevisedSynthesis", "StyleGAN1Synthesis", "SynthesisLayer",
    "StyleGAN3Generator", "SynthesisNetwork", "ToRGB", "active_style_layers", "minibatch_stddev", "mix_styles", "nf",
    "normalize_2nd_moment", "num_ws_for", "style_mixing_cutoff", "stylegan3_kwargs",
]
