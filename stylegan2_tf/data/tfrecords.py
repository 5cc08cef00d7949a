"""Sharded TFRecord datasets: writer and manifest.

Layout of a dataset directory::

    OUT/manifest.json            # format, shapes, counts, labels, per-shard sha256
    OUT/data-00000-of-00003.tfrecord
    ...

Each record is a ``tf.train.Example`` with

* ``image``: bytes, the raw uint8 pixels in HWC order (``resolution * resolution * num_channels`` bytes);
* ``label``: int64 class index (only present when the dataset has labels).

Raw pixels (not PNG) make decoding a ``decode_raw`` + reshape, cheap enough to never bottleneck training.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable, List, Optional, Tuple

import numpy as np

from stylegan2_tf.atomic_io import atomic_directory, atomic_write_text
from stylegan2_tf.data.sources import DatasetError, is_power_of_two

MANIFEST_NAME = 'manifest.json'
FORMAT_NAME = 'stylegan2_tf.tfrecords'
FORMAT_VERSION = 1


def _example_bytes(image: np.ndarray, label: Optional[int]) -> bytes:
    import tensorflow as tf
    feature = {'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()]))}
    if label is not None:
        feature['label'] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecord_dataset(dest: str,
                           samples: Iterable[Tuple[np.ndarray, Optional[int]]],
                           resolution: int,
                           num_channels: int,
                           label_dim: int = 0,
                           name: Optional[str] = None,
                           shard_mb: float = 256.0,
                           overwrite: bool = False,
                           extra: Optional[dict] = None) -> dict:
    """Write ``samples`` as a sharded TFRecord dataset at ``dest`` and return its manifest.

    Args:
      dest: output directory. Must not exist (or be empty) unless ``overwrite``.
      samples: iterable of (uint8 image [resolution, resolution, num_channels], label int or None).
      label_dim: number of classes (labels must be in [0, label_dim)); 0 for an unlabelled dataset.
      shard_mb: target shard size in MiB of pixel data.
      extra: extra JSON-serialisable fields stored under ``manifest['extra']``.

    The directory is built under a temporary name next to ``dest`` and renamed into place at the end,
    so an interrupted conversion never leaves a half-written dataset at ``dest``.
    """
    import tensorflow as tf
    dest = os.path.abspath(os.fspath(dest))
    if not is_power_of_two(resolution) or resolution < 4:
        raise DatasetError(f'{dest}: resolution must be a power of two >= 4, got {resolution}')
    if num_channels not in (1, 3):
        raise DatasetError(f'{dest}: num_channels must be 1 or 3, got {num_channels}')
    if os.path.exists(dest):
        if not os.path.isdir(dest):
            raise DatasetError(f'{dest}: exists and is not a directory')
        if os.listdir(dest) and not overwrite:
            raise DatasetError(f'{dest}: directory exists and is not empty (pass --overwrite to replace it)')
    # An existing (empty, or --overwrite) dest is replaced in one rename.
    with atomic_directory(dest, replace=True) as tmp:
        image_bytes = resolution * resolution * num_channels
        per_shard = max(1, int(shard_mb * 2**20) // image_bytes)
        shards: List[dict] = []
        writer = None
        count = 0

        def close_shard():
            nonlocal writer
            if writer is not None:
                writer.close()
                shards[-1]['sha256'] = file_sha256(os.path.join(tmp, shards[-1]['file']))
                writer = None

        expected_shape = (resolution, resolution, num_channels)
        for image, label in samples:
            image = np.asarray(image)
            if image.shape != expected_shape or image.dtype != np.uint8:
                raise DatasetError(f'{dest}: sample {count} has {image.dtype} {image.shape}, '
                                   f'expected uint8 {expected_shape}')
            if label_dim > 0:
                if label is None or not (0 <= int(label) < label_dim):
                    raise DatasetError(f'{dest}: sample {count} has label {label!r}, expected 0..{label_dim - 1}')
            else:
                label = None
            if writer is None or shards[-1]['num_images'] >= per_shard:
                close_shard()
                fname = f'data-{len(shards):05d}.tfrecord'
                shards.append({'file': fname, 'num_images': 0})
                writer = tf.io.TFRecordWriter(os.path.join(tmp, fname))
            writer.write(_example_bytes(np.ascontiguousarray(image), label))
            shards[-1]['num_images'] += 1
            count += 1
        close_shard()
        if count == 0:
            raise DatasetError(f'{dest}: no images to write')
        # Final names carry the shard count, so a listing shows whether all shards are present.
        for i, s in enumerate(shards):
            final = f'data-{i:05d}-of-{len(shards):05d}.tfrecord'
            os.rename(os.path.join(tmp, s['file']), os.path.join(tmp, final))
            s['file'] = final
        manifest = {
            'format': FORMAT_NAME,
            'version': FORMAT_VERSION,
            'name': name or os.path.basename(dest),
            'resolution': int(resolution),
            'num_channels': int(num_channels),
            'num_images': int(count),
            'label_dim': int(label_dim),
            'content_sha256': hashlib.sha256(''.join(s['sha256'] for s in shards).encode()).hexdigest(),
            'shards': shards,
            'extra': extra or {},
        }
        # 0644 like the shards: a dataset is read by whoever trains on it.
        atomic_write_text(os.path.join(tmp, MANIFEST_NAME), json.dumps(manifest, indent=2), file_mode=0o644)
    return manifest


def read_manifest(directory: str) -> dict:
    """Load and validate ``directory/manifest.json``; raises DatasetError with the reason."""
    path = os.path.join(directory, MANIFEST_NAME)
    try:
        with open(path) as f:
            m = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f'{directory}: no {MANIFEST_NAME}; not a dataset made by dataset_tool') from None
    except json.JSONDecodeError as e:
        raise DatasetError(f'{path}: corrupt manifest ({e})') from None
    if not isinstance(m, dict) or m.get('format') != FORMAT_NAME:
        raise DatasetError(f'{path}: unknown format {m.get("format") if isinstance(m, dict) else m!r}')
    if m.get('version') != FORMAT_VERSION:
        raise DatasetError(f'{path}: unsupported version {m.get("version")} (this code reads {FORMAT_VERSION})')
    for key in ('resolution', 'num_channels', 'num_images', 'label_dim', 'shards'):
        if key not in m:
            raise DatasetError(f'{path}: manifest lacks {key!r}')
    if sum(int(s['num_images']) for s in m['shards']) != m['num_images']:
        raise DatasetError(f'{path}: shard counts do not add up to num_images={m["num_images"]}')
    for s in m['shards']:
        p = os.path.join(directory, s['file'])
        if not os.path.isfile(p):
            raise DatasetError(f'{p}: shard listed in the manifest is missing')
    return m


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def verify_shards(directory: str, manifest: dict) -> None:
    """Check every shard file's sha256 against the manifest (reads all data)."""
    for s in manifest['shards']:
        p = os.path.join(directory, s['file'])
        if file_sha256(p) != s.get('sha256'):
            raise DatasetError(f'{p}: content does not match the manifest checksum (corrupt or modified shard)')
