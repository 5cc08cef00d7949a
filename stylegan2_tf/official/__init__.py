"""NVIDIA's network pickles, read without TensorFlow 1 or torch and without running any code from them.

    official.common        the restricted unpickler, kwarg reader, JSON conversion the formats share
    official.tf1           TF1 pickles: StyleGAN2, StyleGAN2-ADA (TF), StyleGAN (v1), configs A-D
    official.torch_pickle  the torch_utils.persistence container of stylegan2-ada-pytorch and StyleGAN3 pickles
    official.ada_pytorch   stylegan2-ada-pytorch networks -> our Generator / Discriminator
    official.stylegan3     StyleGAN3 networks -> our StyleGAN3Generator / Discriminator

`import_official_pickle` unpickles a file once, with the union of the formats' allow-lists, and dispatches on what
it holds: a tuple (G, D, Gs) of dnnlib Network states (or a lone Gs) goes to the TF1 importer, a dict of persistent
G / D / G_ema modules to the torch importer of the generator's family. Both formats are pickles of protocol >= 2
(first byte 0x80), so they share one `load_network` registration.
"""
from __future__ import annotations

from typing import Optional

from stylegan2_tf.official import ada_pytorch, common, stylegan3, tf1, torch_pickle
from stylegan2_tf.serialization import PICKLE_MAGIC, NetworkSnapshot, register_format

ALLOWED_GLOBALS = {**common.COMMON_GLOBALS, **tf1.TF1_GLOBALS, **torch_pickle.TORCH_GLOBALS}


class RestrictedUnpickler(common.RestrictedUnpickler):
    """The unpickler of every official format: resolves only `ALLOWED_GLOBALS`."""
    allowed = ALLOWED_GLOBALS


def read_official_content(path_or_file):
    """The unpickled content of an official pickle (inert records, dicts, numpy arrays)."""
    return common.restricted_load(common.read_bytes(path_or_file), ALLOWED_GLOBALS)


def _import_torch(obj, meta: dict, **kwargs) -> NetworkSnapshot:
    content = torch_pickle.parse_training_pickle(obj)
    family = torch_pickle.generator_family(content.G_ema)
    meta = dict(meta, **content.metadata())
    if family == "stylegan3":
        return stylegan3.import_stylegan3(content, meta, **kwargs)
    return ada_pytorch.import_ada_pytorch(content, meta, **kwargs)


def import_official_pickle(path, impl: Optional[str] = None, fused_modconv=None, precision: Optional[str] = None,
                           num_fp16_res: Optional[int] = None) -> NetworkSnapshot:
    """Reads an official NVIDIA pickle into a NetworkSnapshot (G, D, G_ema; None where the file has none).

    TF1 pickles: see `tf1.import_tf1` (G_ema = Gs; metadata source_format 'official_tf_pickle').
    stylegan2-ada-pytorch and StyleGAN3 pickles: G, D, G_ema; metadata source_format 'stylegan2_ada_pytorch_pickle'
    or 'stylegan3_pickle', the `training_set_kwargs` and, when the pickle has an augment_pipe, `augment_pipe` =
    {'p': its probability, 'kwargs': its constructor kwargs}. StyleGAN3 generators become StyleGAN3Generators.
    Networks that NVIDIA built with num_fp16_res / conv_clamp keep them (precision 'fp16') unless precision /
    num_fp16_res override them; impl / fused_modconv choose the runtime implementation.
    """
    obj = read_official_content(path)
    meta = {"source": common.source_name(path)}
    kwargs = dict(impl=impl, fused_modconv=fused_modconv, precision=precision, num_fp16_res=num_fp16_res)
    nets = tf1.tf1_networks(obj)
    if nets is not None:
        return tf1.import_tf1(nets, meta["source"], **kwargs)
    if torch_pickle.is_training_pickle(obj):
        return _import_torch(obj, meta, **kwargs)
    raise ValueError(f"expected an official pickle holding (G, D, Gs) dnnlib Networks (TensorFlow) or a dict of "
                     f"persistent G / D / G_ema modules (PyTorch), got {type(obj).__name__}")


# Imports run one way (this package -> serialization): serialization's load_network learns about pickles from here.
register_format("official NVIDIA StyleGAN2 / StyleGAN2-ADA / StyleGAN (v1) TensorFlow pickle, stylegan2-ada-pytorch or "
                "StyleGAN3 pickle (.pkl)", PICKLE_MAGIC, import_official_pickle)

__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "import_official_pickle", "read_official_content"]
