"""Perceptual path length (Karras et al. 2019, as used by StyleGAN2).

For each sample: draw z0, z1 ~ N(0, I) and t ~ U(0, 1) ('full') or t = 0 ('end');
* space 'z': interpolate with slerp at t and t + eps, then map both to W;
* space 'w': map z0, z1 to W and interpolate linearly at t and t + eps;
synthesize both images with the same noise, optionally crop the center of the face
(rows 3/8..7/8, columns 2/8..6/8 of a square image), box-downsample to 256 px if larger,
and record ``LPIPS(img_t, img_t+eps) / eps^2``.  The PPL is the mean of the samples that lie
within the 1st..99th percentile.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .math import filter_ppl_distances, lerp, slerp

__all__ = ["ppl_distances", "preprocess_for_lpips", "compute_ppl"]


def preprocess_for_lpips(images: np.ndarray, crop: bool) -> np.ndarray:
    """[N, H, W, C] in [-1, 1] -> [N, h, w, 3]: optional face crop, box downsample to <= 256, gray tiled."""
    img = np.asarray(images)
    if crop:
        if img.shape[1] != img.shape[2]:
            raise ValueError(f"PPL face crop needs square images, got {img.shape[1]}x{img.shape[2]}")
        c = img.shape[1] // 8
        img = img[:, c * 3:c * 7, c * 2:c * 6, :]
    factor = max(img.shape[1], img.shape[2]) // 256 if max(img.shape[1], img.shape[2]) > 256 else 1
    if factor > 1:
        n, h, w, ch = img.shape
        img = img[:, :h // factor * factor, :w // factor * factor]
        img = img.reshape(n, h // factor, factor, w // factor, factor, ch).mean(axis=(2, 4))
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    if min(img.shape[1], img.shape[2]) < 16:
        raise ValueError(f"LPIPS needs images of at least 16x16 (after the face crop), got "
                         f"{img.shape[1]}x{img.shape[2]}; use ppl2_wend (no crop) or a larger generator")
    return img


def ppl_distances(
    mapping: Callable[[np.ndarray, np.ndarray], np.ndarray],
    synthesis: Callable[[np.ndarray], np.ndarray],
    distance: Callable[[np.ndarray, np.ndarray], np.ndarray],
    z_dim: int,
    num_samples: int,
    epsilon: float = 1e-4,
    space: str = "w",
    sampling: str = "end",
    crop: bool = False,
    batch_size: int = 8,
    label_sampler: Optional[Callable[[np.random.Generator, int], np.ndarray]] = None,
    seed: int = 0,
    latent_dtype=np.float32,
    progress: Optional[Callable[[int, int], None]] = None,
    preprocess: Optional[Callable[[np.ndarray], np.ndarray]] = None,
) -> np.ndarray:
    """Scaled path-length samples ``distance(img_t, img_t+eps) / eps^2`` [num_samples] (float64).

    Args:
        mapping: (z [N, z_dim], c [N, c_dim]) -> ws [N, ...]  (e.g. ``G.mapping``).
        synthesis: ws -> images [N, H, W, C] in [-1, 1] (deterministic noise).
        distance: (img0, img1) -> [N] (LPIPS).
        space: 'z' (slerp in Z) or 'w' (lerp in W).  sampling: 'full' (t ~ U(0,1)) or 'end' (t = 0).
        latent_dtype: dtype of the latents handed to the networks.
        preprocess: images -> what ``distance`` takes (default: :func:`preprocess_for_lpips` with ``crop``).
    """
    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w', got {space!r}")
    if sampling not in ("full", "end"):
        raise ValueError(f"sampling must be 'full' or 'end', got {sampling!r}")
    if num_samples < 1 or batch_size < 1:
        raise ValueError("num_samples and batch_size must be positive")
    rng = np.random.default_rng(seed)
    out = []
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        t = rng.uniform(size=(n, 1)) * (1.0 if sampling == "full" else 0.0)
        z0 = rng.standard_normal((n, z_dim))
        z1 = rng.standard_normal((n, z_dim))
        c = label_sampler(rng, n) if label_sampler is not None else np.zeros((n, 0), np.float32)
        cc = np.concatenate([c, c])
        if space == "w":
            w = np.asarray(mapping(np.concatenate([z0, z1]).astype(latent_dtype), cc), dtype=np.float64)
            w0, w1 = w[:n], w[n:]
            tt = t.reshape((n,) + (1,) * (w0.ndim - 1))
            wt = np.concatenate([lerp(w0, w1, tt), lerp(w0, w1, tt + epsilon)])
        else:
            zt = np.concatenate([slerp(z0, z1, t), slerp(z0, z1, t + epsilon)])
            wt = np.asarray(mapping(zt.astype(latent_dtype), cc))
        img = np.asarray(synthesis(wt.astype(latent_dtype)))
        img = preprocess(img) if preprocess is not None else preprocess_for_lpips(img, crop)
        d = np.asarray(distance(img[:n], img[n:]), dtype=np.float64).reshape(-1)
        out.append(d / epsilon ** 2)
        done += n
        if progress is not None:
            progress(done, num_samples)
    return np.concatenate(out)


def compute_ppl(*args, **kwargs) -> float:
    """``filter_ppl_distances(ppl_distances(...))``: the PPL value."""
    return filter_ppl_distances(ppl_distances(*args, **kwargs))
