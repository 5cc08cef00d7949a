"""A small Fashion-MNIST classifier whose penultimate features give an offline image-quality distance.

FID needs Inception-v3 weights that cannot be downloaded on every machine; for 32x32 grayscale Fashion-MNIST a
domain classifier's features measure the same thing (papers use a LeNet's features on MNIST the same way). The
weights ship with the package (``metrics/data/fmnist_classifier.npz``, float16, ~190k parameters) together with
their sha256 and measured test accuracy (``fmnist_classifier.json``); ``scripts/train_fmnist_classifier.py``
rebuilds them from a fixed seed.

Architecture (NHWC, input uint8 [N, 32, 32, 1] = 28x28 zero-padded by 2 pixels, scaled to [-1, 1]):

    conv5x5  1->32, ReLU, maxpool 2      [N, 16, 16, 32]
    conv3x3 32->64, ReLU, maxpool 2      [N,  8,  8, 64]
    conv3x3 64->64, ReLU, maxpool 2      [N,  4,  4, 64]
    flatten, dropout (training only), dense 1024->128, ReLU   <- features [N, 128]
    dense 128->10                         logits
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional

import numpy as np

from stylegan2_tf.data.tfrecords import file_sha256  # noqa: F401  (public here too)

__all__ = ["FEATURE_DIM", "RESOLUTION", "default_weights_path", "build_classifier", "load_classifier",
           "save_classifier_weights", "file_sha256", "preprocess", "FMNISTFeatures", "reference_info"]

RESOLUTION = 32
FEATURE_DIM = 128
NUM_CLASSES = 10
_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
WEIGHTS_NAME = "fmnist_classifier.npz"
INFO_NAME = "fmnist_classifier.json"


def default_weights_path() -> str:
    """The weight file that ships with the package."""
    return os.path.join(_DATA_DIR, WEIGHTS_NAME)


def reference_info() -> Dict:
    """The shipped weights' record: sha256, test accuracy, training settings."""
    with open(os.path.join(_DATA_DIR, INFO_NAME), encoding="utf-8") as f:
        return json.load(f)


def preprocess(images_u8):
    """uint8 [N, 32, 32, 1] -> float32 in [-1, 1] (the generators' range)."""
    import tensorflow as tf
    return tf.cast(images_u8, tf.float32) / 127.5 - 1.0


def build_classifier(dropout: float = 0.3):
    """The Keras model: inputs float32 [N, 32, 32, 1] in [-1, 1]; outputs {'features': [N, 128], 'logits': [N, 10]}."""
    import keras
    from keras import layers
    x_in = keras.Input([RESOLUTION, RESOLUTION, 1], name="image")
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(x_in)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    feats = layers.Dense(FEATURE_DIM, activation="relu", name="fc1")(x)
    logits = layers.Dense(NUM_CLASSES, name="fc2")(feats)
    return keras.Model(x_in, {"features": feats, "logits": logits}, name="fmnist_classifier")


def _weight_arrays(model) -> Dict[str, np.ndarray]:
    out = {}
    for layer in model.layers:
        for v in layer.weights:
            out[f"{layer.name}/{v.name.split('/')[-1]}"] = np.asarray(v)
    return out


def save_classifier_weights(model, path: str) -> str:
    """Write the weights (float16, keyed 'layer/variable') atomically; returns the sha256 of the file."""
    import io
    from stylegan2_tf.atomic_io import atomic_write_bytes
    buf = io.BytesIO()
    np.savez(buf, **{k: v.astype(np.float16) for k, v in _weight_arrays(model).items()})
    atomic_write_bytes(path, buf.getvalue())
    return file_sha256(path)


def load_classifier(path: Optional[str] = None, expected_sha256: Optional[str] = None):
    """Build the classifier with the weights in ``path`` (default: the shipped file, whose sha256 is checked)."""
    if path is None:
        path = default_weights_path()
        if expected_sha256 is None:
            expected_sha256 = reference_info()["sha256"]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Fashion-MNIST classifier weights not found: {path} (rebuild them with "
                                f"`python3 scripts/train_fmnist_classifier.py`)")
    digest = file_sha256(path)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ValueError(f"{path}: sha256 {digest} does not match the recorded {expected_sha256}; the file is "
                         f"corrupt or was rebuilt without updating {INFO_NAME}")
    model = build_classifier()
    want = _weight_arrays(model)
    with np.load(path, allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    if set(got) != set(want):
        raise ValueError(f"{path}: weight names {sorted(got)} do not match the architecture {sorted(want)}")
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([got[f"{layer.name}/{v.name.split('/')[-1]}"].astype(np.float32)
                               for v in layer.weights])
    return model, digest


class FMNISTFeatures:
    """uint8 images [N, 32, 32, 1] -> penultimate features float32 [N, 128] (and logits [N, 10])."""

    def __init__(self, path: Optional[str] = None):
        import tensorflow as tf
        self.model, self.sha256 = load_classifier(path)
        model = self.model

        @tf.function(input_signature=[tf.TensorSpec([None, RESOLUTION, RESOLUTION, 1], tf.uint8)])
        def run(images):
            out = model(preprocess(images), training=False)
            return out["features"], out["logits"]
        self._run = run

        @tf.function(input_signature=[tf.TensorSpec([None, RESOLUTION, RESOLUTION, 1], tf.float32)] * 2)
        def feature_distance(a, b):
            fa, fb = model(a, training=False)["features"], model(b, training=False)["features"]
            return tf.reduce_sum(tf.square(fa - fb), axis=1)
        self._feature_distance = feature_distance

    @staticmethod
    def check_images(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or tuple(images.shape[1:]) != (RESOLUTION, RESOLUTION, 1):
            raise ValueError(f"the Fashion-MNIST classifier takes 32x32x1 images, got shape {images.shape[1:]}")
        if images.dtype != np.uint8:
            raise ValueError(f"the Fashion-MNIST classifier takes uint8 images, got {images.dtype}")
        return images

    def features(self, images: np.ndarray) -> np.ndarray:
        return self._run(self.check_images(images))[0].numpy()

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self._run(self.check_images(images))[1].numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.features(images)

    def feature_distance(self, img0: np.ndarray, img1: np.ndarray) -> np.ndarray:
        """Squared L2 distance of the features of two float image batches [N, 32, 32, 1] in [-1, 1] -> [N] float64
        (unquantized, so that it resolves the tiny steps of the path-length metric)."""
        for img in (img0, img1):
            if np.ndim(img) != 4 or tuple(np.shape(img)[1:]) != (RESOLUTION, RESOLUTION, 1):
                raise ValueError(f"the Fashion-MNIST classifier takes 32x32x1 images, got shape {np.shape(img)[1:]}")
        return np.asarray(self._feature_distance(np.asarray(img0, np.float32), np.asarray(img1, np.float32)),
                          np.float64)
