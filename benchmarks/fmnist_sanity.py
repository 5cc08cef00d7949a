#!/usr/bin/env python3
"""Sanity table of the offline Fashion-MNIST metrics: distances of *real* image sets to the training statistics.

    python3 benchmarks/fmnist_sanity.py [--data /usr/share/datasets/fashion-mnist]

Each row measures a set of 10,000 images (the test split, as is or degraded) against the statistics of the 60,000
training images, in the features of the shipped classifier, with the metrics' own code (FD: Frechet distance; KID:
kernel distance, 100 subsets of 1000):

  test               the 10,000 test images: a perfect generator would score about this (near 0)
  blur_sigma1/2      the test images with a Gaussian blur of sigma 1 / 2 pixels (should be clearly higher)
  shuffled           every test image's pixels randomly permuted (no shapes left: higher still)
  test_n1000         FD of 10 disjoint sets of 1,000 test images (mean, std): FD is biased upwards at small n,
                     so compare only at equal n

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """[size, size] matrix K with (K x)_i = sum_j g(i - j) x_j, g a normalised Gaussian (zero outside the image)."""
    radius = int(np.ceil(4 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    k = np.zeros((size, size))
    for i in range(size):
        for t, w in zip(range(i - radius, i + radius + 1), taps):
            if 0 <= t < size:
                k[i, t] = w
    return k


def gaussian_blur(images_u8: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of uint8 [N, H, W, 1] (rounded back to uint8)."""
    x = images_u8[..., 0].astype(np.float64)
    k = gaussian_matrix(x.shape[1], sigma)
    y = np.einsum('ij,njk,lk->nil', k, x, k)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)[..., None]


def shuffle_pixels(images_u8: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each image's pixels in an independent random order: intensities kept, shapes gone."""
    rng = np.random.default_rng(seed)
    flat = images_u8.reshape(len(images_u8), -1)
    order = np.argsort(rng.random(flat.shape), axis=1)
    return np.take_along_axis(flat, order, axis=1).reshape(images_u8.shape)


class ImageSetScorer:
    """FD/KID of uint8 image sets [N, 32, 32, 1] against the Fashion-MNIST training statistics."""

    def __init__(self, data_dir: str, cache_dir=None):
        from stylegan2_tf.metrics import metric_main
        from stylegan2_tf.metrics.cache import StatsCache
        from stylegan2_tf.metrics.detectors import FeatureNetworks
        from stylegan2_tf.metrics.math import frechet_distance, kernel_distance
        self._fd, self._kid = frechet_distance, kernel_distance
        opts = metric_main.MetricOptions(networks=FeatureNetworks(), cache=StatsCache(cache_dir), progress=False,
                                         dataset=metric_main.fmnist_train_dataset(data_dir))
        self.det = opts.networks.detector('fmnist')
        self.real_feats = metric_main.dataset_features(opts, 'fmnist', None, capture_all=True)['features']
        self.real_stats = metric_main.feature_moments(self.real_feats)

    def features(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([self.det(images[i:i + 1000]) for i in range(0, len(images), 1000)])

    def fd(self, images: np.ndarray) -> float:
        from stylegan2_tf.metrics.metric_main import feature_moments
        gen = feature_moments(self.features(images))
        return self._fd(gen['mu'], gen['sigma'], self.real_stats['mu'], self.real_stats['sigma'])

    def kid(self, images: np.ndarray) -> float:
        return self._kid(self.real_feats, self.features(images), num_subsets=100, max_subset_size=1000, seed=0)


def load_test_images(data_dir: str) -> np.ndarray:
    """The 10,000 test images, zero-padded to uint8 [N, 32, 32, 1] as the training data."""
    from stylegan2_tf.data import sources
    return sources.load_idx_dataset(data_dir, pad_to=32, splits=('t10k',))[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    p.add_argument('--cache-dir', default=None)
    args = p.parse_args(argv)
    start = time.time()
    scorer = ImageSetScorer(args.data, args.cache_dir)
    test = load_test_images(args.data)
    rows = {}
    for name, images in (('test', test), ('blur_sigma1', gaussian_blur(test, 1.0)),
                         ('blur_sigma2', gaussian_blur(test, 2.0)), ('shuffled', shuffle_pixels(test))):
        rows[name] = dict(n=len(images), fd=scorer.fd(images), kid=scorer.kid(images))
    small = [scorer.fd(test[i:i + 1000]) for i in range(0, 10000, 1000)]
    rows['test_n1000'] = dict(n=1000, sets=len(small), fd_mean=float(np.mean(small)), fd_std=float(np.std(small)))
    print(json.dumps(dict(reference='fashion-mnist train (60,000)', rows=rows, seconds=round(time.time() - start, 1)),
                     indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
