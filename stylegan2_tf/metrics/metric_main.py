"""Metric registry, feature statistics of datasets and generators, and result reporting.

Metrics (counts as in StyleGAN2-ADA; ``--num-gen`` / ``--max-real`` override them for quick runs):

=============  ===================================================================================
fid50k_full    FID, 50k generated vs. all real images
fid50k         FID, 50k generated vs. at most 50k real images
kid50k_full    KID, 50k generated vs. up to 1M real; 100 subsets of 1000
kid50k         KID, 50k generated vs. at most 50k real
pr50k3_full    precision & recall, k=3, VGG16 fc2 features, 50k generated vs. up to 200k real
pr50k3         precision & recall, k=3, 50k generated vs. at most 50k real
ppl_zfull      PPL in Z, t ~ U(0,1), face crop, 50k samples, eps 1e-4
ppl_wfull      PPL in W, t ~ U(0,1), face crop
ppl_zend       PPL in Z, t = 0 (end points), face crop
ppl_wend       PPL in W, t = 0, face crop
ppl2_wend      PPL in W, t = 0, no crop
is50k          Inception score, 50k generated, 10 splits
fd_fmnist10k   Frechet distance in the features of the shipped Fashion-MNIST classifier, 10k generated
               (seeds 0..N-1, noise const) vs. the 60,000 Fashion-MNIST training images; 32x32x1 networks only
kid_fmnist10k  kernel distance (KID's kernel, 100 subsets of 1000), same features and images
ppl_fmnist_wend  PPL in W, t = 0, 10k samples, eps 1e-4, with the squared L2 distance of the same classifier's
               features (unquantized float images) instead of LPIPS: the offline path length
eqt50k_int     StyleGAN3's EQ-T: PSNR (dB) between images of integer-translated inputs and translated images,
               50k samples in batches of 4 (generators with a Fourier-feature input, metrics/equivariance.py)
eqt50k_frac    EQ-T_frac: the same with fractional translations (windowed-sinc shift)
eqr50k         EQ-R: rotations, both sides band-limited as a rotation would
eqt5k_int, eqt5k_frac, eqr5k   the same on 5k samples (cheap enough to run at training snapshots)
=============  ===================================================================================

Generated images are converted to uint8 as ``clip(x * 127.5 + 128, 0, 255)`` (StyleGAN2-ADA's
rounding); conditional generators get labels drawn at random from the dataset.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import math as mm
from .cache import StatsCache
from .detectors import FeatureNetworks
from .ppl import ppl_distances
from stylegan2_tf.data.images import to_uint8
from .weights import atomic_write_bytes

__all__ = ["MetricOptions", "list_valid_metrics", "is_valid_metric", "calc_metric", "report_metric",
           "run_snapshot_metrics", "required_networks", "generate_uint8_images"]


@dataclasses.dataclass
class MetricOptions:
    """Everything a metric needs.

    G: generator (``z_dim, c_dim, img_resolution, img_channels``, ``G(z, c, **G_kwargs)`` -> NHWC in
       [-1, 1], ``G.mapping(z, c, truncation_psi=, truncation_cutoff=)``, ``G.synthesis(ws, noise_mode=)``).
    dataset: ``ImageDataset`` (``name, fingerprint, resolution, num_channels, label_dim, num_images,
       iterate(batch_size, max_images)``).
    """
    G: Any = None
    dataset: Any = None
    networks: FeatureNetworks = dataclasses.field(default_factory=FeatureNetworks)
    G_kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)
    batch_size: int = 32
    num_gen: Optional[int] = None
    max_real: Optional[int] = None
    cache: Optional[StatsCache] = dataclasses.field(default_factory=StatsCache)
    seed: int = 0
    progress: bool = True
    _labels: Optional[np.ndarray] = None

    def log(self, msg: str) -> None:
        if self.progress:
            print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Feature statistics.


class _Progress:
    def __init__(self, opts: MetricOptions, what: str, total: int):
        self.opts, self.what, self.total = opts, what, total
        self.start = self.last = time.time()

    def __call__(self, done: int, total: Optional[int] = None) -> None:
        now = time.time()
        if now - self.last >= 5.0 or done >= (total or self.total):
            self.last = now
            self.opts.log(f"  {self.what}: {done}/{total or self.total} ({now - self.start:.1f}s)")


class _Accumulator:
    """Feature mean/covariance in float64, or all features."""

    def __init__(self, capture_all: bool):
        self.capture_all = capture_all
        self.n, self.s, self.ss, self.all = 0, None, None, []

    def add(self, f: np.ndarray) -> None:
        f64 = f.astype(np.float64)
        if self.capture_all:
            self.all.append(f.astype(np.float32))
            return
        if self.s is None:
            self.s, self.ss = np.zeros(f.shape[1]), np.zeros((f.shape[1], f.shape[1]))
        self.n += f.shape[0]
        self.s += f64.sum(0)
        self.ss += f64.T @ f64

    def result(self) -> Dict[str, np.ndarray]:
        if self.capture_all:
            return {"features": np.concatenate(self.all) if self.all else np.zeros((0, 0), np.float32)}
        if self.n < 2:
            raise ValueError(f"need at least 2 images for feature statistics, got {self.n}")
        mu = self.s / self.n
        cov = (self.ss - self.n * np.outer(mu, mu)) / (self.n - 1)
        return {"mu": mu, "sigma": cov, "num": np.array(self.n)}


def feature_moments(features: np.ndarray) -> Dict[str, np.ndarray]:
    """{'mu', 'sigma', 'num'} of features [N, D], accumulated in float64 as the streaming statistics are."""
    acc = _Accumulator(capture_all=False)
    acc.add(features)
    return acc.result()


def _check_dataset(opts: MetricOptions) -> None:
    if opts.dataset is None:
        raise ValueError("this metric needs a dataset (--data)")


def dataset_features(opts: MetricOptions, detector_name: str, max_items: Optional[int],
                     capture_all: bool) -> Dict[str, np.ndarray]:
    """Features (or their mean/cov) of the first ``max_items`` dataset images, cached on disk."""
    _check_dataset(opts)
    ds = opts.dataset
    if opts.max_real is not None:
        max_items = opts.max_real if max_items is None else min(max_items, opts.max_real)
    num = ds.num_images if max_items is None else min(ds.num_images, max_items)
    det = opts.networks.detector(detector_name)
    key = dict(dataset_name=str(ds.name), dataset_fingerprint=str(ds.fingerprint), resolution=int(ds.resolution),
               num_channels=int(ds.num_channels), num_images=int(num), detector=det.name,
               detector_identity=det.identity, capture="all" if capture_all else "mean_cov")
    if opts.cache is not None:
        hit = opts.cache.load(key)
        if hit is not None:
            opts.log(f"  dataset {det.name} statistics: cache hit {opts.cache.path(key)}")
            return hit
    acc = _Accumulator(capture_all)
    prog = _Progress(opts, f"dataset features ({det.name})", num)
    done = 0
    for images, _ in ds.iterate(opts.batch_size, max_images=num):
        acc.add(det(images))
        done += images.shape[0]
        prog(done)
    result = acc.result()
    if opts.cache is not None:
        path = opts.cache.save(key, result)
        opts.log(f"  dataset {det.name} statistics cached at {path}")
    return result


def _label_sampler(opts: MetricOptions) -> Optional[Callable[[np.random.Generator, int], np.ndarray]]:
    c_dim = int(getattr(opts.G, "c_dim", 0) or 0)
    if c_dim == 0:
        return None
    if opts._labels is None:
        _check_dataset(opts)
        labels = [lab for _, lab in opts.dataset.iterate(opts.batch_size)]
        opts._labels = np.concatenate(labels).astype(np.float32)
        if opts._labels.shape[1] != c_dim:
            raise ValueError(f"generator c_dim={c_dim} but dataset labels have {opts._labels.shape[1]} dims")
    labels = opts._labels
    return lambda rng, n: labels[rng.integers(0, labels.shape[0], n)]


def generate_uint8_images(opts: MetricOptions, num: int, seed: int):
    """Yield batches of generated images as uint8 [N, H, W, C]."""
    G = opts.G
    if G is None:
        raise ValueError("this metric needs a generator (--network)")
    rng = np.random.default_rng(seed)
    sample_labels = _label_sampler(opts)
    done = 0
    while done < num:
        n = min(opts.batch_size, num - done)
        z = rng.standard_normal((n, G.z_dim)).astype(np.float32)
        c = sample_labels(rng, n) if sample_labels else np.zeros((n, 0), np.float32)
        yield to_uint8(np.asarray(G(z, c, **opts.G_kwargs), dtype=np.float32))
        done += n


def generator_features(opts: MetricOptions, detector_name: str, num: int, capture_all: bool, images=None):
    """Features (or their statistics) of ``num`` generated images; ``images``: the uint8 batches to use
    (default: :func:`generate_uint8_images` from ``opts.seed``)."""
    det = opts.networks.detector(detector_name)
    acc = _Accumulator(capture_all)
    prog = _Progress(opts, f"generated images ({det.name})", num)
    done = 0
    for images in (generate_uint8_images(opts, num, seed=opts.seed) if images is None else images):
        acc.add(det(images))
        done += images.shape[0]
        prog(done)
    return acc.result()


def _num_gen(opts: MetricOptions, default: int) -> int:
    return int(opts.num_gen) if opts.num_gen is not None else default


# ------------------------------------------------------------------------------------------------
# Metrics.


def _fid(opts: MetricOptions, max_real: Optional[int], num_gen: int) -> float:
    real = dataset_features(opts, "inception", max_real, capture_all=False)
    gen = generator_features(opts, "inception", _num_gen(opts, num_gen), capture_all=False)
    return mm.frechet_distance(gen["mu"], gen["sigma"], real["mu"], real["sigma"])


def _kid(opts: MetricOptions, max_real: Optional[int], num_gen: int) -> float:
    real = dataset_features(opts, "inception", max_real, capture_all=True)["features"]
    gen = generator_features(opts, "inception", _num_gen(opts, num_gen), capture_all=True)["features"]
    return mm.kernel_distance(real, gen, num_subsets=100, max_subset_size=1000, seed=opts.seed)


def _pr(opts: MetricOptions, max_real: Optional[int], num_gen: int, k: int = 3):
    real = dataset_features(opts, "vgg16", max_real, capture_all=True)["features"]
    gen = generator_features(opts, "vgg16", _num_gen(opts, num_gen), capture_all=True)["features"]
    return mm.precision_recall(real, gen, k=k, batch_size=10000, distance_fn=tf_pairwise_distances)


def tf_pairwise_distances(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Euclidean distance block [R, C] in float32 with TensorFlow (on the GPU when there is one)."""
    import tensorflow as tf
    r = tf.convert_to_tensor(rows, tf.float32)
    c = tf.convert_to_tensor(cols, tf.float32)
    sq = (tf.reduce_sum(r * r, 1)[:, None] + tf.reduce_sum(c * c, 1)[None, :]
          - 2.0 * tf.matmul(r, c, transpose_b=True))
    return tf.sqrt(tf.maximum(sq, 0.0)).numpy()


def _ppl(opts: MetricOptions, space: str, sampling: str, crop: bool, num_samples: int = 50000,
         epsilon: float = 1e-4, distance: str = "lpips") -> float:
    """distance 'lpips' (the paper's), or 'fmnist': squared L2 in the shipped Fashion-MNIST classifier's features
    (offline; 32x32x1 generators only, no crop)."""
    G = opts.G
    if G is None:
        raise ValueError("PPL needs a generator (--network)")
    preprocess = None
    if distance == "fmnist":
        _check_fmnist_generator(opts, f"ppl_fmnist_{space}{sampling}")
        dist, preprocess = opts.networks.fmnist_distance(), (lambda img: img)
    else:
        dist = opts.networks.lpips_distance()
    kw = dict(opts.G_kwargs)
    psi = kw.pop("truncation_psi", 1.0)
    cutoff = kw.pop("truncation_cutoff", None)
    kw.pop("noise_mode", None)
    import tensorflow as tf

    def mapping(z, c):
        return np.asarray(G.mapping(tf.constant(z), tf.constant(c, tf.float32), truncation_psi=psi,
                                    truncation_cutoff=cutoff))

    def synthesis(ws):
        # 'const' noise: both images of a pair see the same noise, as the metric requires.
        return np.asarray(G.synthesis(tf.constant(ws), noise_mode="const", **kw))

    n = _num_gen(opts, num_samples)
    d = ppl_distances(mapping, synthesis, dist, G.z_dim, n, epsilon=epsilon, space=space, sampling=sampling,
                      crop=crop, batch_size=opts.batch_size, label_sampler=_label_sampler(opts), seed=opts.seed,
                      progress=_Progress(opts, "PPL samples", n), preprocess=preprocess)
    return mm.filter_ppl_distances(d)


def _is(opts: MetricOptions, num_gen: int, num_splits: int = 10):
    probs = generator_features(opts, "inception_probs", _num_gen(opts, num_gen), capture_all=True)["features"]
    return mm.inception_score(probs, num_splits=min(num_splits, probs.shape[0]))


# ------------------------------------------------------------------------------------------------
# Offline metrics in the features of the shipped Fashion-MNIST classifier (no downloadable weights needed).

FMNIST_ENV = "STYLEGAN2_TF_FMNIST"
FMNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def fmnist_train_dir(opts: MetricOptions) -> str:
    """Where the 60,000 Fashion-MNIST training images are read from: the IDX directory of ``opts.dataset`` if it
    is one, else ``$STYLEGAN2_TF_FMNIST``, else Debian's ``/usr/share/datasets/fashion-mnist``."""
    candidates = []
    path = getattr(opts.dataset, "path", None)
    if path and os.path.isdir(path):
        candidates.append(path)
    candidates += [d for d in (os.environ.get(FMNIST_ENV), FMNIST_DEFAULT_DIR) if d]
    for d in candidates:
        if _fmnist_train_pair(d) is not None:
            return d
    raise FileNotFoundError(
        "the Fashion-MNIST metrics need the 60,000 training images (train-images-idx3-ubyte[.gz] and "
        f"train-labels-idx1-ubyte[.gz]); looked in {', '.join(candidates)}. Install Debian's dataset-fashion-mnist, "
        f"pass --data DIR with the IDX files, or set {FMNIST_ENV}=DIR")


def _fmnist_train_pair(directory: str):
    """(images, labels) paths of the training split in ``directory``, or None."""
    from stylegan2_tf.data import sources
    pairs = sources.find_idx_pairs(directory, splits=("train",)) if os.path.isdir(directory) else []
    return pairs[0] if pairs else None


@functools.lru_cache(maxsize=2)
def fmnist_train_dataset(directory: str):
    """The Fashion-MNIST training split (60,000 images zero-padded to 32x32x1) as an ImageDataset (read once per
    directory and process: every evaluation of a run uses it)."""
    from stylegan2_tf.data import sources
    from stylegan2_tf.data.dataset import ArrayImageDataset
    from stylegan2_tf.data.tfrecords import file_sha256
    pair = _fmnist_train_pair(directory)
    if pair is None:
        raise FileNotFoundError(f"{directory}: no train-images-idx3-ubyte[.gz] / train-labels-idx1-ubyte[.gz]")
    img_path = pair[0]
    shape = sources.idx_shape(img_path)  # load_idx_dataset would zero-pad any size up to 32x32
    if shape[1:] != (28, 28):
        raise ValueError(f"{img_path}: expected 28x28 Fashion-MNIST training images, got shape {shape}")
    x, y = sources.load_idx_dataset(directory, pad_to=32, splits=("train",))
    return ArrayImageDataset(x, y, label_dim=10, name="fashion-mnist-train",
                             fingerprint_parts=["fmnist-train", file_sha256(img_path)])


def _check_fmnist_generator(opts: MetricOptions, name: str) -> None:
    G = opts.G
    if G is None:
        raise ValueError(f"{name} needs a generator (--network)")
    shape = (int(G.img_resolution), int(G.img_resolution), int(G.img_channels))
    if shape != (32, 32, 1):
        raise ValueError(f"{name} measures Fashion-MNIST generators (32x32x1 images); this network makes "
                         f"{shape[0]}x{shape[1]}x{shape[2]} images")


@functools.lru_cache(maxsize=64)
def _seed_latents(first: int, stop: int, z_dim: int) -> np.ndarray:
    """z of seeds first..stop-1, [stop - first, z_dim] float32 (cached: every snapshot evaluation reuses them)."""
    z = np.stack([np.random.RandomState(s).randn(z_dim) for s in range(first, stop)]).astype(np.float32)
    z.setflags(write=False)
    return z


def generate_seeded_uint8_images(opts: MetricOptions, num: int, first_seed: int = 0, min_batch: int = 1):
    """Yield uint8 batches of the images of seeds first_seed..first_seed+num-1 (z = RandomState(seed).randn, as
    tools/generate.py), truncation psi and noise mode from ``opts.G_kwargs`` (default psi 1, noise 'const')."""
    import tensorflow as tf
    G = opts.G
    kwargs = dict(opts.G_kwargs)
    kwargs.setdefault("noise_mode", "const")
    sample_labels = _label_sampler(opts)
    rng = np.random.default_rng(first_seed)

    # One traced graph for all batches (eager Keras calls cost more than the small networks' arithmetic).
    @tf.function(input_signature=[tf.TensorSpec([None, G.z_dim], tf.float32), tf.TensorSpec([None, None], tf.float32)])
    def generate(z, c):
        return G(z, c, **kwargs)

    batch = max(opts.batch_size, min_batch)
    for start in range(0, num, batch):
        seeds = range(first_seed + start, first_seed + min(num, start + batch))
        z = _seed_latents(seeds.start, seeds.stop, int(G.z_dim))
        c = sample_labels(rng, len(z)) if sample_labels else np.zeros((len(z), 0), np.float32)
        yield to_uint8(generate(tf.constant(z), tf.constant(c, tf.float32)).numpy())


def _fmnist_features(opts: MetricOptions, name: str, num_gen: int, capture_all: bool):
    """(real, generated) classifier features or their statistics."""
    _check_fmnist_generator(opts, name)
    ref_opts = dataclasses.replace(opts, dataset=fmnist_train_dataset(fmnist_train_dir(opts)))
    # One cached pass over the 60,000 images serves both metrics: the statistics come from the features.
    real = dataset_features(ref_opts, "fmnist", None, capture_all=True)
    if not capture_all:
        real = feature_moments(real["features"])
    num = _num_gen(opts, num_gen)
    # 32x32x1 images: batches of 256 cost little memory and halve the per-call overhead of small networks.
    images = generate_seeded_uint8_images(opts, num, first_seed=opts.seed, min_batch=256)
    return real, generator_features(opts, "fmnist", num, capture_all, images=images)


def _fd_fmnist(opts: MetricOptions, name: str, num_gen: int) -> float:
    real, gen = _fmnist_features(opts, name, num_gen, capture_all=False)
    return mm.frechet_distance(gen["mu"], gen["sigma"], real["mu"], real["sigma"])


def _kid_fmnist(opts: MetricOptions, name: str, num_gen: int) -> float:
    real, gen = _fmnist_features(opts, name, num_gen, capture_all=True)
    return mm.kernel_distance(real["features"], gen["features"], num_subsets=100, max_subset_size=1000,
                              seed=opts.seed)


def _eq(opts: MetricOptions, name: str, num: int, **which) -> float:
    from .equivariance import compute_equivariance_metrics
    prog = _Progress(opts, f"equivariance ({name})", _num_gen(opts, num))
    out = compute_equivariance_metrics(opts.G, _num_gen(opts, num), batch_size=4, seed=opts.seed,
                                       label_sampler=_label_sampler(opts), G_kwargs=opts.G_kwargs, progress=prog,
                                       **which)
    return next(iter(out.values()))


_REGISTRY: Dict[str, Callable[[MetricOptions], Dict[str, float]]] = {
    "fid50k_full": lambda o: {"fid50k_full": _fid(o, None, 50000)},
    "fid50k": lambda o: {"fid50k": _fid(o, 50000, 50000)},
    "kid50k_full": lambda o: {"kid50k_full": _kid(o, 1000000, 50000)},
    "kid50k": lambda o: {"kid50k": _kid(o, 50000, 50000)},
    "pr50k3_full": lambda o: dict(zip(("pr50k3_full_precision", "pr50k3_full_recall"), _pr(o, 200000, 50000))),
    "pr50k3": lambda o: dict(zip(("pr50k3_precision", "pr50k3_recall"), _pr(o, 50000, 50000))),
    "ppl_zfull": lambda o: {"ppl_zfull": _ppl(o, "z", "full", crop=True)},
    "ppl_wfull": lambda o: {"ppl_wfull": _ppl(o, "w", "full", crop=True)},
    "ppl_zend": lambda o: {"ppl_zend": _ppl(o, "z", "end", crop=True)},
    "ppl_wend": lambda o: {"ppl_wend": _ppl(o, "w", "end", crop=True)},
    "ppl2_wend": lambda o: {"ppl2_wend": _ppl(o, "w", "end", crop=False)},
    "is50k": lambda o: dict(zip(("is50k_mean", "is50k_std"), _is(o, 50000))),
    "fd_fmnist10k": lambda o: {"fd_fmnist10k": _fd_fmnist(o, "fd_fmnist10k", 10000)},
    "kid_fmnist10k": lambda o: {"kid_fmnist10k": _kid_fmnist(o, "kid_fmnist10k", 10000)},
    "ppl_fmnist_wend": lambda o: {"ppl_fmnist_wend": _ppl(o, "w", "end", crop=False, num_samples=10000,
                                                          distance="fmnist")},
    **{f"eqt{n}k_int": (lambda o, n=n: {f"eqt{n}k_int": _eq(o, f"eqt{n}k_int", n * 1000, eqt_int=True)})
       for n in (50, 5)},
    **{f"eqt{n}k_frac": (lambda o, n=n: {f"eqt{n}k_frac": _eq(o, f"eqt{n}k_frac", n * 1000, eqt_frac=True)})
       for n in (50, 5)},
    **{f"eqr{n}k": (lambda o, n=n: {f"eqr{n}k": _eq(o, f"eqr{n}k", n * 1000, eqr=True)}) for n in (50, 5)},
}

# Weight files each metric family needs (checked in order: the Fashion-MNIST classifier ships with the package).
_NETWORKS = {"fd_fmnist": [], "kid_fmnist": [], "ppl_fmnist": [], "eqt": [], "eqr": [], "fid": ["inception"],
             "kid": ["inception"], "is": ["inception"], "pr": ["vgg"], "ppl": ["vgg", "lpips"]}


def list_valid_metrics() -> List[str]:
    return list(_REGISTRY)


def is_valid_metric(name: str) -> bool:
    return name in _REGISTRY


def required_networks(name: str) -> List[str]:
    """Weight files a metric needs ('inception', 'vgg', 'lpips')."""
    for prefix, kinds in _NETWORKS.items():
        if name.startswith(prefix):
            return kinds
    raise ValueError(f"unknown metric {name!r}")


def calc_metric(name: str, opts: MetricOptions) -> Dict[str, Any]:
    """Compute one metric.  Returns ``{"results": {...}, "metric": name, "total_time": s, ...}``."""
    if not is_valid_metric(name):
        raise ValueError(f"unknown metric {name!r}; valid: {', '.join(list_valid_metrics())}")
    opts.log(f"Computing {name} ...")
    start = time.time()
    results = _REGISTRY[name](opts)
    import tensorflow as tf
    return dict(results={k: float(v) for k, v in results.items()}, metric=name, total_time=time.time() - start,
                num_gpus=len(tf.config.list_logical_devices("GPU")), num_gen_override=opts.num_gen,
                max_real_override=opts.max_real, random_weights=opts.networks.random_weights)


def report_metric(result: Dict[str, Any], run_dir: Optional[str] = None, snapshot_pkl: Optional[str] = None,
                  step: Optional[int] = None, summary_writer=None, kimg: Optional[float] = None) -> str:
    """Print the result, append it to ``<run_dir>/metric-<name>.jsonl``, log it to TensorBoard (at ``step``, default
    the kimg) and redraw ``<run_dir>/metric-<name>.png`` (the metric against kimg, see ``metrics/plot.py``).

    ``kimg``: training progress of the network (default: from a ``network-snapshot-KKKKKK`` name). Returns the line.
    """
    from .plot import line_kimg, plot_metric
    if kimg is None:
        kimg = line_kimg({"snapshot_pkl": snapshot_pkl})
    if step is None and kimg is not None:
        step = int(round(kimg))
    line = json.dumps(dict(result, snapshot_pkl=snapshot_pkl, kimg=kimg, timestamp=time.time()))
    tag = "  [RANDOM FEATURE-NETWORK WEIGHTS: NOT COMPARABLE TO PUBLISHED NUMBERS]" if result.get(
        "random_weights") else ""
    print(" ".join(f"{k} {v:g}" for k, v in result["results"].items()) + f"  ({result['total_time']:.1f}s){tag}",
          flush=True)
    if run_dir is not None:
        path = os.path.join(run_dir, f"metric-{result['metric']}.jsonl")
        old = b""
        if os.path.isfile(path):
            with open(path, "rb") as f:
                old = f.read()
            if old and not old.endswith(b"\n"):
                old += b"\n"
        atomic_write_bytes(path, old + (line + "\n").encode("utf-8"))
        import tensorflow as tf
        writer = summary_writer or tf.summary.create_file_writer(run_dir)
        with writer.as_default():
            for k, v in result["results"].items():
                tf.summary.scalar(f"Metrics/{k}", v, step=0 if step is None else int(step))
        writer.flush()
        if summary_writer is None:
            writer.close()
        plot_metric(run_dir, result["metric"])
    return line


def run_snapshot_metrics(metrics: List[str], G, dataset, run_dir: str, snapshot_pkl: Optional[str] = None,
                         step: Optional[int] = None, networks: Optional[FeatureNetworks] = None,
                         **option_kwargs) -> List[Dict[str, Any]]:
    """For the training loop: compute and report ``metrics`` at a snapshot.

    Metrics whose feature-network weights are not available are skipped with a message (training
    must not fail because a weight file is absent).
    """
    networks = networks or FeatureNetworks()
    opts = MetricOptions(G=G, dataset=dataset, networks=networks, **option_kwargs)
    out = []
    for name in metrics:
        if not networks.available(required_networks(name)):
            print(f"Skipping metric {name}: feature-network weights not available "
                  f"(set --inception/--vgg/--lpips or the STYLEGAN2_TF_* variables).", flush=True)
            continue
        result = calc_metric(name, opts)
        report_metric(result, run_dir=run_dir, snapshot_pkl=snapshot_pkl, step=step)
        out.append(result)
    return out
