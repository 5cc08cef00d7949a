"""Feature networks used by the metrics, built from local weight files (nothing is downloaded).

``FeatureNetworks`` resolves weight paths (explicit argument, else environment variable), loads each
network once, and exposes *detectors*: callables mapping uint8 images [N, H, W, C] (C = 1 or 3) to
float32 features.  Grayscale images are tiled to 3 channels.  Batches are split over all visible
GPUs (one shard per device; eager ops on different GPUs run concurrently).
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from stylegan2_tf.data.tfrecords import file_sha256

__all__ = ["FeatureNetworks", "Detector", "FMNISTDetector", "WeightsNotFoundError", "ENV_VARS", "tile_grayscale"]

ENV_VARS = {"inception": "STYLEGAN2_TF_INCEPTION", "vgg": "STYLEGAN2_TF_VGG16", "lpips": "STYLEGAN2_TF_LPIPS"}

_WHERE = {
    "inception": ("Inception-v3 (FID/KID/IS): 'classify_image_graph_def.pb' from "
                  "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz, or the "
                  "pytorch-fid file 'pt_inception-2015-12-05-6726825d.pth' "
                  "(https://github.com/mseitzer/pytorch-fid/releases)"),
    "vgg": ("VGG16 (precision/recall, and the backbone of LPIPS for PPL): torchvision's 'vgg16-397923af.pth' "
            "(https://download.pytorch.org/models/vgg16-397923af.pth)"),
    "lpips": ("LPIPS linear layers (PPL): 'vgg.pth' from the lpips package (lpips/weights/v0.1/vgg.pth, "
              "https://github.com/richzhang/PerceptualSimilarity); not needed if the --vgg file also holds "
              "the lin0..lin4 keys"),
}
_FLAGS = {"inception": "--inception", "vgg": "--vgg", "lpips": "--lpips"}


class WeightsNotFoundError(FileNotFoundError):
    """A feature network's weight file is missing."""


def tile_grayscale(images: np.ndarray) -> np.ndarray:
    """[N, H, W, 1|3] -> [N, H, W, 3]."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images [N, H, W, 1 or 3], got shape {images.shape}")
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def _file_identity(path: str) -> str:
    return "sha256:" + file_sha256(path)[:16]


def _split_over_devices(fn: Callable[[tf.Tensor], tf.Tensor], images: np.ndarray,
                        devices: Optional[List[str]] = None) -> np.ndarray:
    """Run ``fn`` on consecutive shards of ``images``, one per device (default: all GPUs), in order."""
    if devices is None:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    if len(devices) <= 1 or images.shape[0] < len(devices):
        return np.asarray(fn(tf.convert_to_tensor(images)))
    outs = []
    for dev, shard in zip(devices, np.array_split(images, len(devices))):
        with tf.device(dev):
            outs.append(fn(tf.convert_to_tensor(shard)))
    return np.concatenate([np.asarray(o) for o in outs], axis=0)


class Detector:
    """uint8 images [N, H, W, 1|3] -> float32 features [N, D]."""

    def __init__(self, name: str, identity: str, random_weights: bool, fn: Callable[[tf.Tensor], tf.Tensor],
                 dim: int):
        self.name, self.identity, self.random_weights, self.dim = name, identity, random_weights, dim
        self._fn = fn

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = tile_grayscale(np.asarray(images))
        return _split_over_devices(self._fn, images.astype(np.float32)).astype(np.float32)


class FMNISTDetector(Detector):
    """uint8 [N, 32, 32, 1] -> the Fashion-MNIST classifier's 128-d features (1 channel: no grayscale tiling)."""

    def __init__(self, name: str, identity: str, features):
        super().__init__(name, identity, False, features.features, features.model.get_layer("fc1").units)
        self._features = features

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self._features.features(images)


class FeatureNetworks:
    """Lazily built feature networks.

    Args:
        inception, vgg, lpips: weight file paths; ``None`` falls back to the environment variables
            ``STYLEGAN2_TF_INCEPTION``, ``STYLEGAN2_TF_VGG16``, ``STYLEGAN2_TF_LPIPS``.
        allow_random_weights: if a file is missing, build the network with random weights (seeded by
            ``seed``) instead of failing.  Results are then NOT comparable to published numbers.
        compile: wrap the networks in ``tf.function`` (default: only when a GPU is visible).
        fmnist: weight file of the Fashion-MNIST classifier (default: the one shipped in the package).
    """

    def __init__(self, inception: Optional[str] = None, vgg: Optional[str] = None, lpips: Optional[str] = None,
                 allow_random_weights: bool = False, seed: int = 0, compile: Optional[bool] = None,
                 fmnist: Optional[str] = None):
        self.paths = {"inception": inception or os.environ.get(ENV_VARS["inception"]) or None,
                      "vgg": vgg or os.environ.get(ENV_VARS["vgg"]) or None,
                      "lpips": lpips or os.environ.get(ENV_VARS["lpips"]) or None}
        self.allow_random_weights = bool(allow_random_weights)
        # The Fashion-MNIST classifier ships with the package; a path here replaces it (its sha256 is then not
        # checked against the shipped record, but still keys the statistics cache).
        self.fmnist_path = fmnist
        self.seed = int(seed)
        # tf.function pays off on accelerators; on CPU its one-off tracing costs more than it saves
        # for the small image counts used there.
        self.compile = bool(tf.config.list_logical_devices("GPU")) if compile is None else bool(compile)
        self._nets: Dict[str, object] = {}
        self._detectors: Dict[str, Detector] = {}
        self.used_random: List[str] = []

    # ---- paths -----------------------------------------------------------------------------
    def _path(self, kind: str) -> Optional[str]:
        """Existing file for ``kind`` or None (random allowed); raises WeightsNotFoundError otherwise."""
        path = self.paths[kind]
        if path and os.path.isfile(path):
            return path
        if kind == "lpips" and self.paths["vgg"] and os.path.isfile(self.paths["vgg"]) and not path:
            return None  # lin layers may live in the VGG file; load_lpips checks
        if self.allow_random_weights:
            return None
        problem = f"file not found: {path}" if path else "no file given"
        raise WeightsNotFoundError(
            f"Missing feature-network weights ({problem}). Needed: {_WHERE[kind]}. "
            f"Pass {_FLAGS[kind]} PATH or set {ENV_VARS[kind]}=PATH. Nothing is downloaded automatically; "
            f"--allow-random-weights runs with random weights (results not comparable).")

    def available(self, kinds) -> bool:
        """True if all weight files of ``kinds`` exist (or random weights are allowed)."""
        try:
            for k in kinds:
                self._path(k)
            return True
        except WeightsNotFoundError:
            return False

    def _random(self, kind: str, build):
        keras.utils.set_random_seed(self.seed)
        net = build()
        self.used_random.append(kind)
        print(f"WARNING: {kind} feature network uses RANDOM weights (--allow-random-weights); "
              f"metric values are NOT comparable to published numbers.", flush=True)
        return net

    # ---- networks --------------------------------------------------------------------------
    def inception(self):
        if "inception" not in self._nets:
            from . import inception as inc
            path = self._path("inception")
            if path is None:
                net, ident = self._random("inception", inc.InceptionV3FID), f"random-seed{self.seed}"
            elif path.endswith(".pb"):
                net, ident = inc.load_inception_graphdef(path), _file_identity(path)
            else:
                net, ident = inc.load_inception_pth(path), _file_identity(path)
            self._nets["inception"] = (net, ident, path is None)
        return self._nets["inception"]

    def vgg16(self):
        if "vgg" not in self._nets:
            from . import vgg16 as vg
            path = self._path("vgg")
            if path is None:
                net, ident = self._random("vgg", vg.VGG16), f"random-seed{self.seed}"
            else:
                net, ident = vg.load_vgg16_pth(path), _file_identity(path)
            self._nets["vgg"] = (net, ident, path is None)
        return self._nets["vgg"]

    def lpips(self):
        if "lpips" not in self._nets:
            from . import vgg16 as vg
            vgg_path, lp_path = self._path("vgg"), self._path("lpips")
            if vgg_path is None:
                net = self._random("lpips", lambda: vg.LPIPS(vg.VGG16(include_top=False)))
                ident = f"random-seed{self.seed}"
            else:
                try:
                    net = vg.load_lpips(vgg_path, lp_path)
                except ValueError as e:
                    if lp_path is not None:
                        raise
                    raise WeightsNotFoundError(
                        f"{e}. Needed: {_WHERE['lpips']}. Pass --lpips PATH or set {ENV_VARS['lpips']}=PATH.") from e
                ident = _file_identity(vgg_path) + (("+" + _file_identity(lp_path)) if lp_path else "")
            self._nets["lpips"] = (net, ident, vgg_path is None)
        return self._nets["lpips"]

    # ---- detectors -------------------------------------------------------------------------
    def _fn(self, fn, signature):
        return tf.function(fn, input_signature=signature) if self.compile else fn

    def detector(self, name: str) -> Detector:
        """'inception' (pool_3, 2048-d), 'inception_probs' (softmax of bias-free logits, 1008-d),
        'vgg16' (fc2, 4096-d), or 'fmnist' (the Fashion-MNIST classifier's fc1, 128-d)."""
        if name in self._detectors:
            return self._detectors[name]
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        if name in ("inception", "inception_probs"):
            net, ident, rnd = self.inception()
            if name == "inception":
                fn = self._fn(lambda x: net(x)["pool_3"], [spec])
                dim = 2048
            else:
                fn = self._fn(lambda x: tf.nn.softmax(net(x)["logits_unbiased"]), [spec])
                dim = 1008
        elif name == "fmnist":
            from . import fmnist_classifier as fc
            if "fmnist" not in self._nets:
                feats = fc.FMNISTFeatures(self.fmnist_path)
                self._nets["fmnist"] = (feats, "sha256:" + feats.sha256[:16], False)
            feats, ident, _ = self._nets["fmnist"]
            self._detectors[name] = FMNISTDetector(name, ident, feats)
            return self._detectors[name]
        elif name == "vgg16":
            net, ident, rnd = self.vgg16()
            fn, dim = self._fn(net.fc2_features, [spec]), 4096
        else:
            raise ValueError(f"unknown detector {name!r}")
        det = Detector(name, ident, rnd, fn, dim)
        self._detectors[name] = det
        return det

    def fmnist_distance(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """(img0, img1) [N, 32, 32, 1] in [-1, 1] -> squared L2 distances [N] of the Fashion-MNIST classifier's
        features (the offline stand-in for LPIPS in the path-length metric)."""
        self.detector("fmnist")
        feats, _, _ = self._nets["fmnist"]
        return feats.feature_distance

    def lpips_distance(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """(img0, img1) [N, H, W, 3] in [-1, 1] -> LPIPS distances [N] (float64)."""
        net, _, _ = self.lpips()
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        fn = self._fn(lambda a, b: net((a, b)), [spec, spec])

        def dist(img0, img1):
            return np.asarray(fn(tf.convert_to_tensor(img0, tf.float32), tf.convert_to_tensor(img1, tf.float32)),
                              np.float64)
        return dist

    @property
    def random_weights(self) -> bool:
        return bool(self.used_random)
