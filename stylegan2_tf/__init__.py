"""StyleGAN2 in TensorFlow 2 / Keras 3.

    stylegan2_tf.ops            compiled ops (bias_act, upfirdn2d, ...) with pure-TF references
    stylegan2_tf.networks       Generator / Discriminator (Keras models, faithful to the official networks)
    stylegan2_tf.load_network   snapshots of this project and NVIDIA's official TF1 pickles
"""
from stylegan2_tf.networks import Discriminator, Generator
from stylegan2_tf.serialization import NetworkSnapshot, clone_network, load_network, save_network, update_ema
from stylegan2_tf import official_pickle as _official_pickle  # noqa: F401  (registers the .pkl format)

__version__ = "0.1.0"

__all__ = ["Discriminator", "Generator", "NetworkSnapshot", "clone_network", "load_network", "save_network",
           "update_ema", "__version__"]
