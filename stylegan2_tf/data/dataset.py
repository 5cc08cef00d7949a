"""Image datasets: one reading API over TFRecord dirs, image folders/zips and IDX (Fashion-MNIST) dirs.

``open_dataset(path, mirror=False)`` returns an :class:`ImageDataset`:

* ``.iterate(batch_size, max_images=None)`` goes once through the data in a fixed order and yields
  ``(images uint8 [N, H, W, C], labels float32 [N, label_dim])`` numpy batches (for metrics, grids);
* ``.tf_dataset(batch_size, ...)`` is the training input pipeline (``tf.data``): per-epoch
  deterministic shuffle from ``seed``, repeat, optional random x-flip, one shard per worker,
  parallel decode, prefetch; it can start at any image offset so a resumed run reads exactly the
  batches an uninterrupted run would have read.

With ``mirror=True`` the dataset is conceptually doubled: ``num_images`` is twice the stored count,
``iterate`` yields all originals and then all x-flipped copies, and ``tf_dataset`` flips each image
with probability 1/2 (a stateless draw keyed by ``seed`` and the image's position in the stream).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import Iterator, Optional, Tuple

import numpy as np

from stylegan2_tf.data import sources
from stylegan2_tf.data.sources import DatasetError
from stylegan2_tf.data import tfrecords

_FLIP_SALT = 0x5F11F
_SHUFFLE_BLOCK = 20000  # TFRecord records permuted together (as many serialized images held in memory)


class ImageDataset:
    """Base class. Subclasses provide the raw images; this class adds mirroring and the tf.data pipeline.

    Attributes:
      name: short name (directory / file name).
      resolution: image height = width (a power of two).
      num_channels: 1 or 3.
      label_dim: number of classes (one-hot label size); 0 if unlabelled.
      num_images: number of images, counting x-flipped copies when ``mirror``.
      raw_num_images: number of stored images.
      mirror: whether x-flips are added.
      fingerprint: hex string that changes when the data (or ``mirror``) changes; for caches.
    """

    name: str
    resolution: int
    num_channels: int
    label_dim: int
    raw_num_images: int
    mirror: bool

    def __init__(self, mirror: bool = False):
        self.mirror = bool(mirror)

    # -- subclass interface -------------------------------------------------------------------
    def _raw_fingerprint(self) -> str:
        raise NotImplementedError

    def _iterate_raw(self, batch_size: int, max_images: Optional[int]) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yields (uint8 [n,H,W,C], int64 class labels [n] or None) in stored order."""
        raise NotImplementedError

    def _element_stream(self, epoch, seed: int, shuffle: bool, num_shards: int, shard_index: int):
        """tf.data.Dataset of per-image elements for one epoch (this shard), in read order."""
        raise NotImplementedError

    def _decode_batch(self, elements):
        """Map a batch of elements to (uint8 images [B,H,W,C], int64 labels [B])."""
        raise NotImplementedError

    def _shard_size(self, num_shards: int, shard_index: int) -> int:
        """Number of images one epoch of this shard yields."""
        raise NotImplementedError

    # -- public API -----------------------------------------------------------------------------
    @property
    def num_images(self) -> int:
        return self.raw_num_images * (2 if self.mirror else 1)

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        return (self.resolution, self.resolution, self.num_channels)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f'{self._raw_fingerprint()}|mirror={int(self.mirror)}'.encode()).hexdigest()

    def class_labels(self) -> Optional[np.ndarray]:
        """Every stored image's class, int64 [raw_num_images] in stored order; None if unlabelled.

        The training loop draws the generator's labels from these, as stylegan2-ada does (mirroring duplicates
        every image, so it does not change their distribution).
        """
        if self.label_dim == 0:
            return None
        return np.asarray(self._raw_class_labels(), np.int64)

    def _raw_class_labels(self) -> np.ndarray:
        return np.concatenate([y for _, y in self._iterate_raw(1024, None)])

    def _one_hot(self, labels: Optional[np.ndarray], n: int) -> np.ndarray:
        if self.label_dim == 0 or labels is None:
            return np.zeros([n, self.label_dim], np.float32)
        out = np.zeros([n, self.label_dim], np.float32)
        out[np.arange(n), labels] = 1.0
        return out

    def iterate(self, batch_size: int, max_images: Optional[int] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Go once through the dataset in order.

        Yields (images uint8 [N, H, W, C], labels float32 [N, label_dim]); the last batch may be short.
        With ``mirror`` the originals come first, then their x-flipped copies.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        total = self.num_images if max_images is None else min(int(max_images), self.num_images)
        done = 0
        passes = (False, True) if self.mirror else (False,)
        for flip in passes:
            remaining = total - done
            if remaining <= 0:
                break
            for imgs, labs in self._iterate_raw(batch_size, min(remaining, self.raw_num_images)):
                if flip:
                    imgs = imgs[:, :, ::-1, :]
                done += len(imgs)
                yield np.ascontiguousarray(imgs), self._one_hot(labs, len(imgs))

    def tf_dataset(self, batch_size: int, shuffle: bool = True, repeat: bool = True, seed: int = 0,
                   num_shards: int = 1, shard_index: int = 0, start_image: int = 0,
                   drop_remainder: Optional[bool] = None, prefetch: bool = True):
        """The training pipeline: a tf.data.Dataset of (uint8 [B,H,W,C], float32 [B,label_dim]).

        Args:
          batch_size: images per batch (the per-worker batch under multi-worker training).
          shuffle: shuffle each epoch deterministically from (seed, epoch).
          repeat: repeat forever (else one epoch).
          seed: shuffling / flipping seed.
          num_shards, shard_index: this worker's share of the data (disjoint, covering all images).
          start_image: number of images of this stream already consumed; the stream starts there
            (used on resume so that the batches equal those of an uninterrupted run).
          drop_remainder: drop a short final batch; defaults to ``repeat``.
        """
        import tensorflow as tf
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        if not (num_shards >= 1 and 0 <= shard_index < num_shards):
            raise ValueError(f'bad shard {shard_index} of {num_shards}')
        per_epoch = self._shard_size(num_shards, shard_index)
        if per_epoch <= 0:
            raise DatasetError(f'{self.name}: shard {shard_index}/{num_shards} is empty '
                               f'({self.raw_num_images} images for {num_shards} shards)')
        if drop_remainder is None:
            drop_remainder = repeat
        start_epoch, offset = divmod(int(start_image), per_epoch)
        if not repeat and start_epoch > 0:
            raise ValueError(f'start_image={start_image} is past the single epoch of {per_epoch} images')

        def epoch_stream(epoch):
            return self._element_stream(epoch, seed, shuffle, num_shards, shard_index)

        if repeat:
            ds = tf.data.Dataset.range(start_epoch, 2**62).flat_map(epoch_stream)
        else:
            ds = epoch_stream(tf.constant(start_epoch, tf.int64))
        if offset:
            ds = ds.skip(offset)
        # Absolute position of each element in this shard's stream: seeds the random x-flips.
        positions = tf.data.Dataset.range(int(start_image), 2**62)
        ds = tf.data.Dataset.zip((ds, positions))
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        label_dim = self.label_dim
        mirror = self.mirror

        def decode(elements, pos):
            images, labels = self._decode_batch(elements)
            images = tf.ensure_shape(images, [None, self.resolution, self.resolution, self.num_channels])
            if mirror:
                # One stateless uniform per image, keyed by its absolute stream position.
                u = tf.map_fn(lambda p: tf.random.stateless_uniform(
                    [], seed=tf.stack([tf.cast(seed + _FLIP_SALT, tf.int64), p])), pos, fn_output_signature=tf.float32)
                images = tf.where(tf.reshape(u < 0.5, [-1, 1, 1, 1]), tf.reverse(images, axis=[2]), images)
            if label_dim > 0:
                onehot = tf.one_hot(labels, label_dim, dtype=tf.float32)
            else:
                onehot = tf.zeros([tf.shape(images)[0], 0], tf.float32)
            return images, onehot

        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if prefetch:
            ds = ds.prefetch(tf.data.AUTOTUNE)
        return ds

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(name={self.name!r}, num_images={self.num_images}, '
                f'shape={self.image_shape}, label_dim={self.label_dim}, mirror={self.mirror})')


class TFRecordImageDataset(ImageDataset):
    """A directory written by ``dataset_tool`` (sharded TFRecords + manifest.json)."""

    def __init__(self, path: str, mirror: bool = False):
        super().__init__(mirror)
        self.path = os.path.abspath(path)
        self.manifest = tfrecords.read_manifest(self.path)
        m = self.manifest
        self.name = str(m.get('name') or os.path.basename(self.path))
        self.resolution = int(m['resolution'])
        self.num_channels = int(m['num_channels'])
        self.label_dim = int(m['label_dim'])
        self.raw_num_images = int(m['num_images'])
        self.files = [os.path.join(self.path, s['file']) for s in m['shards']]
        self.shard_counts = [int(s['num_images']) for s in m['shards']]

    def _raw_fingerprint(self) -> str:
        m = self.manifest
        return sources.sequence_fingerprint([
            'tfrecords', m['resolution'], m['num_channels'], m['num_images'], m['label_dim'],
            m.get('content_sha256'),
            [(s['file'], s['num_images'], s.get('sha256'), os.path.getsize(os.path.join(self.path, s['file'])))
             for s in m['shards']]])

    def _parse(self, serialized):
        import tensorflow as tf
        spec = {'image': tf.io.FixedLenFeature([], tf.string)}
        if self.label_dim > 0:
            spec['label'] = tf.io.FixedLenFeature([], tf.int64)
        ex = tf.io.parse_example(serialized, spec)
        images = tf.io.decode_raw(ex['image'], tf.uint8)
        images = tf.reshape(images, [-1, self.resolution, self.resolution, self.num_channels])
        labels = ex['label'] if self.label_dim > 0 else tf.zeros([tf.shape(images)[0]], tf.int64)
        return images, labels

    def _raw_class_labels(self):
        import tensorflow as tf
        spec = {'label': tf.io.FixedLenFeature([], tf.int64)}
        ds = tf.data.TFRecordDataset(self.files).batch(4096).map(lambda x: tf.io.parse_example(x, spec)['label'])
        return np.concatenate([b.numpy() for b in ds])

    def _iterate_raw(self, batch_size, max_images):
        import tensorflow as tf
        ds = tf.data.TFRecordDataset(self.files)
        if max_images is not None:
            ds = ds.take(max_images)
        ds = ds.batch(batch_size).map(self._parse, num_parallel_calls=tf.data.AUTOTUNE,
                                      deterministic=True).prefetch(2)
        for images, labels in ds:
            yield images.numpy(), (labels.numpy() if self.label_dim > 0 else None)

    def _file_sharding(self, num_shards: int) -> bool:
        # Whole files per worker when they split evenly; otherwise every worker filters records.
        return num_shards > 1 and len(self.files) % num_shards == 0 and \
            len(set(self.shard_counts)) == 1

    def _shard_size(self, num_shards, shard_index):
        if num_shards == 1:
            return self.raw_num_images
        if self._file_sharding(num_shards):
            return sum(self.shard_counts[shard_index::num_shards])
        return len(range(shard_index, self.raw_num_images, num_shards))

    def _element_stream(self, epoch, seed, shuffle, num_shards, shard_index):
        import tensorflow as tf
        files = self.files
        file_sharded = self._file_sharding(num_shards)
        if file_sharded:
            files = files[shard_index::num_shards]
        files_t = tf.constant(files)
        # Every random choice below is a stateless function of (seed, epoch): an epoch's order depends neither on
        # TensorFlow's global seed (tf.random.set_seed) nor on what ran before, so tf_dataset(start_image=...)
        # reproduces the stream of an uninterrupted run. (Dataset.shuffle would not do: its order depends on the
        # global seed, and with the global seed set it rejects a tensor op seed.)
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
        if shuffle and len(files) > 1:
            files_t = tf.random.experimental.stateless_shuffle(files_t, seed=key)
        ds = tf.data.Dataset.from_tensor_slices(files_t)
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8), block_length=16,
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if num_shards > 1 and not file_sharded:
            ds = ds.shard(num_shards, shard_index)
        if shuffle:
            # Records have no random access: permute them within consecutive blocks of the (file-shuffled,
            # interleaved) stream, block i with the key folded with i. A shard of up to _SHUFFLE_BLOCK records is
            # one block, i.e. a uniform permutation per epoch.
            block = min(self._shard_size(num_shards, shard_index), _SHUFFLE_BLOCK)
            ds = ds.batch(block).enumerate().map(
                lambda i, records: tf.random.experimental.stateless_shuffle(
                    records, seed=tf.random.experimental.stateless_fold_in(key, i))).unbatch()
        return ds

    def _decode_batch(self, elements):
        return self._parse(elements)


class _RandomAccessDataset(ImageDataset):
    """Datasets whose images can be fetched by index (arrays in memory, image folders, zips)."""

    _labels: Optional[np.ndarray]  # int64 [raw_num_images] or None

    def _load(self, indices: np.ndarray) -> np.ndarray:
        """uint8 [len(indices), H, W, C]."""
        raise NotImplementedError

    def _iterate_raw(self, batch_size, max_images):
        n = self.raw_num_images if max_images is None else min(max_images, self.raw_num_images)
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            yield self._load(idx), (self._labels[idx] if self._labels is not None else None)

    def _raw_class_labels(self):
        return self._labels

    def _shard_size(self, num_shards, shard_index):
        return len(range(shard_index, self.raw_num_images, num_shards))

    def _element_stream(self, epoch, seed, shuffle, num_shards, shard_index):
        import tensorflow as tf
        idx = tf.range(shard_index, self.raw_num_images, num_shards, dtype=tf.int64)
        if shuffle:
            idx = tf.random.experimental.stateless_shuffle(
                idx, seed=tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)]))
        return tf.data.Dataset.from_tensor_slices(idx)

    def _decode_batch(self, indices):
        import tensorflow as tf
        images = tf.numpy_function(lambda i: self._load(i), [indices], tf.uint8, stateful=False)
        images = tf.reshape(images, [-1, self.resolution, self.resolution, self.num_channels])
        if self._labels is not None:
            labels = tf.gather(tf.constant(self._labels, tf.int64), indices)
        else:
            labels = tf.zeros_like(indices)
        return images, labels


class ArrayImageDataset(_RandomAccessDataset):
    """In-memory images, e.g. Fashion-MNIST read from its IDX files."""

    def __init__(self, images: np.ndarray, labels: Optional[np.ndarray] = None, label_dim: Optional[int] = None,
                 name: str = 'array', fingerprint_parts=None, mirror: bool = False):
        super().__init__(mirror)
        images = np.asarray(images)
        if images.ndim != 4 or images.dtype != np.uint8 or images.shape[1] != images.shape[2]:
            raise DatasetError(f'{name}: images must be uint8 [N, R, R, C], got {images.dtype} {images.shape}')
        if not sources.is_power_of_two(images.shape[1]) or images.shape[3] not in (1, 3):
            raise DatasetError(f'{name}: need power-of-two size and 1 or 3 channels, got {images.shape[1:]}')
        self._images = images
        self.name = name
        self.resolution = images.shape[1]
        self.num_channels = images.shape[3]
        self.raw_num_images = len(images)
        if labels is not None:
            labels = np.asarray(labels, np.int64)
            if labels.shape != (len(images),):
                raise DatasetError(f'{name}: labels must have shape [{len(images)}], got {labels.shape}')
            self.label_dim = int(label_dim if label_dim is not None else labels.max() + 1)
            if labels.min() < 0 or labels.max() >= self.label_dim:
                raise DatasetError(f'{name}: labels outside [0, {self.label_dim})')
        else:
            self.label_dim = 0
        self._labels = labels
        self._fp_parts = fingerprint_parts

    def _raw_fingerprint(self):
        if self._fp_parts is not None:
            return sources.sequence_fingerprint(['array', self._fp_parts])
        h = hashlib.sha256(self._images.tobytes())
        if self._labels is not None:
            h.update(self._labels.tobytes())
        return h.hexdigest()

    def _load(self, indices):
        return self._images[np.asarray(indices, np.int64)]


class IDXImageDataset(ArrayImageDataset):
    """A directory of IDX files (Fashion-MNIST / MNIST), loaded into memory, padded to 32x32."""

    def __init__(self, path: str, mirror: bool = False):
        x, y = sources.load_idx_dataset(path)
        parts = []
        for img, lab in sources.find_idx_pairs(path):
            for p in (img, lab):
                with open(p, 'rb') as f:
                    parts.append((os.path.basename(p), hashlib.sha256(f.read()).hexdigest()))
        super().__init__(x, y, label_dim=int(y.max()) + 1, name=os.path.basename(os.path.normpath(path)),
                         fingerprint_parts=['idx', parts], mirror=mirror)
        self.path = os.path.abspath(path)


class ImageFolderDataset(_RandomAccessDataset):
    """Images read directly from a folder or zip (all the same square power-of-two size).

    Optional labels come from ``dataset.json`` at the top of the folder/zip
    (``{"labels": [[relative/name.png, class], ...]}``).
    """

    def __init__(self, path: str, mirror: bool = False):
        super().__init__(mirror)
        self.src = sources.ImageSource(path)
        self.path = os.path.abspath(path)
        self.name = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
        if not self.src.names:
            raise DatasetError(f'{path}: contains no image files ({", ".join(sources.IMAGE_EXTENSIONS)})')
        first = sources.decode_image(self.src.open_file(self.src.names[0]), self._desc(self.src.names[0]))
        h, w, c = first.shape
        if h != w or not sources.is_power_of_two(h) or h < 4:
            raise DatasetError(f'{self._desc(self.src.names[0])}: image is {w}x{h}; reading a folder directly '
                               'needs square power-of-two images (convert with dataset_tool '
                               'create_from_images --resolution R to resize)')
        self.resolution, self.num_channels = h, c
        self.raw_num_images = len(self.src.names)
        self._labels = None
        self.label_dim = 0
        if self.src.has_file('dataset.json'):
            import json
            try:
                obj = json.loads(self.src.open_file('dataset.json'))
            except ValueError as e:
                raise DatasetError(f'{self._desc("dataset.json")}: not valid JSON ({e})') from None
            mapping = sources.parse_labels(obj, self._desc('dataset.json'))
            if mapping:
                missing = [n for n in self.src.names if n not in mapping]
                if missing:
                    raise DatasetError(f'{self._desc("dataset.json")}: no label for {len(missing)} image(s), '
                                       f'e.g. {missing[0]!r}')
                self._labels = np.array([mapping[n] for n in self.src.names], np.int64)
                self.label_dim = int(self._labels.max()) + 1

    def _desc(self, name: str) -> str:
        return f'{self.src.path}:{name}' if self.src.kind == 'zip' else os.path.join(self.src.path, name)

    def _raw_fingerprint(self):
        return sources.sequence_fingerprint(['folder', self.resolution, self.num_channels,
                                             self.src.stat_signature(),
                                             None if self._labels is None else self._labels.tolist()])

    def _load(self, indices):
        out = np.empty([len(indices), self.resolution, self.resolution, self.num_channels], np.uint8)
        for k, i in enumerate(np.asarray(indices)):
            name = self.src.names[int(i)]
            img = sources.decode_image(self.src.open_file(name), self._desc(name))
            if img.shape != out.shape[1:]:
                raise DatasetError(f'{self._desc(name)}: image is {img.shape[1]}x{img.shape[0]}x{img.shape[2]}, '
                                   f'expected {self.resolution}x{self.resolution}x{self.num_channels} like the '
                                   'first image; convert the folder with dataset_tool create_from_images')
            out[k] = img
        return out


class SubsetDataset(_RandomAccessDataset):
    """A fixed subset of another dataset's images (``indices`` into its stored order), e.g. stylegan2-ada-pytorch's
    --subset. Random-access datasets are read through; the images of a TFRecord dataset's subset are read once into
    memory (a subset is meant to be small)."""

    MAX_IN_MEMORY_BYTES = 8 << 30

    def __init__(self, base: ImageDataset, indices, mirror: bool = False):
        super().__init__(mirror)
        indices = np.unique(np.asarray(indices, np.int64))
        if len(indices) == 0 or indices[0] < 0 or indices[-1] >= base.raw_num_images:
            raise DatasetError(f'{base.name}: subset indices must lie in [0, {base.raw_num_images})')
        self.base, self.indices = base, indices
        self.name = f'{base.name}[subset of {len(indices)}]'
        self.resolution, self.num_channels, self.label_dim = base.resolution, base.num_channels, base.label_dim
        self.raw_num_images = len(indices)
        labels = base.class_labels()
        self._labels = None if labels is None else labels[indices]
        self._images = None
        if not isinstance(base, _RandomAccessDataset):
            size = len(indices) * base.resolution ** 2 * base.num_channels
            if size > self.MAX_IN_MEMORY_BYTES:
                raise DatasetError(f'{base.name}: a subset of {len(indices)} images needs {size / 2**30:.1f} GiB of '
                                   'memory; write it as its own dataset (dataset_tool) instead')
            self._images = self._read_subset()

    def _read_subset(self) -> np.ndarray:
        out = np.empty([self.raw_num_images, self.resolution, self.resolution, self.num_channels], np.uint8)
        start, k = 0, 0
        for images, _ in self.base._iterate_raw(4096, int(self.indices[-1]) + 1):
            stop = start + len(images)
            take = self.indices[(self.indices >= start) & (self.indices < stop)]
            out[k:k + len(take)] = images[take - start]
            k, start = k + len(take), stop
        return out

    def _raw_fingerprint(self):
        return sources.sequence_fingerprint(['subset', self.base._raw_fingerprint(),
                                             hashlib.sha256(self.indices.tobytes()).hexdigest()])

    def _load(self, indices):
        indices = np.asarray(indices, np.int64)
        if self._images is not None:
            return self._images[indices]
        return self.base._load(self.indices[indices])


def random_subset_indices(num_images: int, size: int, seed: int) -> np.ndarray:
    """stylegan2-ada-pytorch's subset: numpy RandomState(seed) shuffles range(num_images), the first `size` are kept,
    sorted."""
    order = np.arange(num_images)
    np.random.RandomState(seed).shuffle(order)
    return np.sort(order[:size])


def open_dataset(path: str, mirror: bool = False, subset: Optional[int] = None, subset_seed: int = 0) -> ImageDataset:
    """Open a dataset for reading.

    Args:
      path: a directory made by ``tools/dataset_tool.py`` (sharded TFRecords + manifest.json), its
        ``manifest.json``, a folder of images, a zip of images, or a directory of IDX files
        (Fashion-MNIST / MNIST; 28x28 is padded to 32x32).
      mirror: add x-flipped copies (see module docstring), after taking the subset.
      subset: keep a fixed random subset of this many images (chosen by ``subset_seed`` as stylegan2-ada-pytorch
        does); at least 1; larger than the dataset warns and keeps all images.
    Raises:
      DatasetError (a ValueError) naming the path and the problem.
    """
    if subset is None:
        return _open(path, mirror)
    if int(subset) < 1:
        raise DatasetError(f'subset must be >= 1 image, got {subset}')
    full = _open(path, mirror=False)
    if subset >= full.raw_num_images:
        if subset > full.raw_num_images:
            warnings.warn(f'the subset of {subset} images is larger than {full.name} ({full.raw_num_images} images); '
                          'training on all of them', stacklevel=2)
        full.mirror = bool(mirror)
        return full
    return SubsetDataset(full, random_subset_indices(full.raw_num_images, int(subset), subset_seed), mirror=mirror)


def _open(path: str, mirror: bool) -> ImageDataset:
    path = os.fspath(path)
    if os.path.basename(path) == tfrecords.MANIFEST_NAME and os.path.isfile(path):
        path = os.path.dirname(path) or '.'
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, tfrecords.MANIFEST_NAME)):
            return TFRecordImageDataset(path, mirror=mirror)
        if sources.is_idx_dir(path):
            return IDXImageDataset(path, mirror=mirror)
        return ImageFolderDataset(path, mirror=mirror)
    if os.path.isfile(path):
        return ImageFolderDataset(path, mirror=mirror)
    raise DatasetError(f'{path}: no such dataset (expected a dataset_tool directory, an image folder, '
                       'a zip of images, or a directory of IDX files)')
