"""StyleGAN2 in TensorFlow 2 / Keras 3.

    stylegan2_tf.ops            compiled ops (bias_act, upfirdn2d, ...) with pure-TF references
    stylegan2_tf.networks       Generator / Discriminator / StyleGAN3Generator (Keras models, faithful to the official
                                networks)
    stylegan2_tf.load_network   snapshots of this project and NVIDIA's official pickles (TF1, stylegan2-ada-pytorch,
                                StyleGAN3)
"""
import os as _os
import sys as _sys

# The console scripts (stylegan2-train, ...) keep TensorFlow's C++ INFO/WARNING lines out of their output, as the
# tools always did; that has to happen before TensorFlow is imported, i.e. here. Library use is not affected.
if _os.path.basename((getattr(_sys, "argv", None) or [""])[0] or "").startswith("stylegan2-"):
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow prints its oneDNN notice before its logging honours TF_CPP_MIN_LOG_LEVEL; this import filters it.
from stylegan2_tf._tf_import import import_tensorflow as _import_tensorflow  # noqa: E402

_import_tensorflow()

from stylegan2_tf.networks import Discriminator, Generator  # noqa: E402
from stylegan2_tf.serialization import (NetworkSnapshot, clone_network, load_network, save_network,  # noqa: E402
                                        update_ema)
from stylegan2_tf import official as _official  # noqa: E402,F401  (registers the .pkl formats)

__version__ = "0.1.0"

__all__ = ["Discriminator", "Generator", "NetworkSnapshot", "clone_network", "load_network", "save_network",
           "update_ema", "__version__"]
