"""Readers for the raw inputs that datasets are made from.

* image folders and zip archives (PNG/JPEG/BMP/WEBP/...), read with Pillow;
* IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not;
* label files (``dataset.json`` in the stylegan2-ada layout, or a plain ``{name: int}`` map).

Everything here is plain numpy + Pillow; no TensorFlow.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import threading
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.gif', '.tif', '.tiff', '.ppm', '.pgm')


class DatasetError(ValueError):
    """A dataset or source file is unusable; the message names the file and the problem."""


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


# ---------------------------------------------------------------------------------------------
# Image folders and zips.
# ---------------------------------------------------------------------------------------------

class ImageSource:
    """Random access to the image files of a folder or a zip archive, in sorted name order.

    ``names`` are paths relative to the folder / inside the zip, with '/' separators.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._zip: Optional[zipfile.ZipFile] = None
        self._lock = threading.Lock()  # zipfile objects are not safe for concurrent reads.
        if os.path.isdir(self.path):
            self.kind = 'dir'
            names = []
            for root, _dirs, files in os.walk(self.path):
                for f in files:
                    rel = os.path.relpath(os.path.join(root, f), self.path).replace(os.sep, '/')
                    names.append(rel)
        elif os.path.isfile(self.path) and zipfile.is_zipfile(self.path):
            self.kind = 'zip'
            with zipfile.ZipFile(self.path) as z:
                names = [n for n in z.namelist() if not n.endswith('/')]
        elif os.path.exists(self.path):
            raise DatasetError(f'{self.path}: not a directory and not a zip archive')
        else:
            raise DatasetError(f'{self.path}: no such file or directory')
        self.all_names = sorted(names)
        self.names = [n for n in self.all_names if n.lower().endswith(IMAGE_EXTENSIONS)]

    def open_file(self, name: str) -> bytes:
        """Raw bytes of the file ``name`` (relative path)."""
        if self.kind == 'dir':
            with open(os.path.join(self.path, name), 'rb') as f:
                return f.read()
        with self._lock:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.path)
            return self._zip.read(name)

    def has_file(self, name: str) -> bool:
        return name in self.all_names

    def stat_signature(self) -> List[Tuple[str, int]]:
        """(name, size) for every image; used for fingerprints."""
        out = []
        if self.kind == 'dir':
            for n in self.names:
                out.append((n, os.path.getsize(os.path.join(self.path, n))))
        else:
            with zipfile.ZipFile(self.path) as z:
                for n in self.names:
                    info = z.getinfo(n)
                    out.append((n, info.file_size, info.CRC))
        return out

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_zip'] = None
        state['_lock'] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode image bytes to uint8 HWC (C = 1 for grayscale, 3 for colour).

    Raises DatasetError naming ``name`` if the bytes are not a readable image.
    """
    import PIL.Image  # local import: Pillow is only needed for image sources.
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode in ('L', 'I;16', 'I', 'F', '1', 'LA'):
                arr = np.asarray(img.convert('L'))[:, :, None]
            else:
                arr = np.asarray(img.convert('RGB'))
    except PIL.UnidentifiedImageError:
        raise DatasetError(f'{name}: cannot read image (not a recognised image format)') from None
    except Exception as e:  # Pillow raises many exception types for broken files.
        raise DatasetError(f'{name}: cannot read image ({type(e).__name__}: {e})') from None
    return np.ascontiguousarray(arr, dtype=np.uint8)


def center_crop_resize(img: np.ndarray, resolution: int) -> np.ndarray:
    """Center-crop ``img`` [H, W, C] to a square and resize it to ``resolution`` (Lanczos)."""
    import PIL.Image
    h, w, c = img.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    img = img[top:top + s, left:left + s]
    if s != resolution:
        pil = PIL.Image.fromarray(img[:, :, 0] if c == 1 else img)
        pil = pil.resize((resolution, resolution), PIL.Image.LANCZOS)
        img = np.asarray(pil)
        if img.ndim == 2:
            img = img[:, :, None]
    return np.ascontiguousarray(img, dtype=np.uint8)


def convert_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Convert uint8 HWC between 1 (luma, ITU-R 601-2 as Pillow does) and 3 channels."""
    if img.shape[2] == channels:
        return img
    if channels == 3:
        return np.repeat(img, 3, axis=2)
    # Pillow's L = R*299/1000 + G*587/1000 + B*114/1000.
    y = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
    return np.clip(np.round(y), 0, 255).astype(np.uint8)[:, :, None]


# ---------------------------------------------------------------------------------------------
# Labels.
# ---------------------------------------------------------------------------------------------

def parse_labels(obj, source_desc: str) -> Dict[str, int]:
    """Parse a label mapping.

    Accepts ``{"labels": [[name, int], ...]}`` (stylegan2-ada ``dataset.json``),
    ``{"labels": {name: int}}``, or a plain ``{name: int}`` map. Names are relative paths.
    """
    if isinstance(obj, dict) and 'labels' in obj:
        obj = obj['labels']
        if obj is None:
            return {}
    if isinstance(obj, list):
        items = []
        for entry in obj:
            if not (isinstance(entry, (list, tuple)) and len(entry) == 2):
                raise DatasetError(f'{source_desc}: label entries must be [name, int], got {entry!r}')
            items.append((entry[0], entry[1]))
    elif isinstance(obj, dict):
        items = list(obj.items())
    else:
        raise DatasetError(f'{source_desc}: expected a JSON object or list of [name, label] pairs')
    out = {}
    for name, lab in items:
        if isinstance(lab, bool) or not isinstance(lab, (int, np.integer)) or lab < 0:
            raise DatasetError(f'{source_desc}: label of {name!r} must be a non-negative integer, got {lab!r}')
        out[str(name).replace('\\', '/')] = int(lab)
    return out


def load_labels_file(path: str) -> Dict[str, int]:
    try:
        with open(path, 'r') as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f'{path}: labels file not found') from None
    except json.JSONDecodeError as e:
        raise DatasetError(f'{path}: not valid JSON ({e})') from None
    return parse_labels(obj, path)


# ---------------------------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST).
# ---------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
               0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed, detected from the magic bytes)."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise DatasetError(f'{path}: cannot read ({e})') from None
    if raw[:2] == b'\x1f\x8b':
        try:
            raw = gzip.decompress(raw)
        except Exception as e:
            raise DatasetError(f'{path}: corrupt gzip data ({e})') from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f'{path}: not an IDX file (bad magic number)')
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f'{path}: truncated IDX header')
    shape = struct.unpack('>' + 'I' * ndim, raw[4:header])
    count = int(np.prod(shape)) if ndim else 1
    if len(raw) != header + count * dtype.itemsize:
        raise DatasetError(f'{path}: IDX size mismatch: header says shape {shape}, '
                           f'file has {len(raw) - header} data bytes')
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def idx_shape(path: str) -> Tuple[int, ...]:
    """The shape an IDX file's header declares (optionally gzip-compressed); reads only the header."""
    try:
        with open(path, 'rb') as f:
            compressed = f.read(2) == b'\x1f\x8b'
        with (gzip.open(path, 'rb') if compressed else open(path, 'rb')) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
                raise DatasetError(f'{path}: not an IDX file (bad magic number)')
            dims = f.read(4 * magic[3])
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f'{path}: cannot read ({e})') from None
    if len(dims) != 4 * magic[3]:
        raise DatasetError(f'{path}: truncated IDX header')
    return struct.unpack('>' + 'I' * magic[3], dims)


FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                         'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')


def find_idx_pairs(directory: str, splits: Sequence[str] = ('train', 't10k')) -> List[Tuple[str, str]]:
    """(images, labels) IDX file pairs in ``directory`` for ``splits``, in that order (default: train, then t10k).

    Looks for ``{split}-images-idx3-ubyte[.gz]`` with matching ``-labels-idx1-ubyte[.gz]``.
    """
    pairs = []
    for split in splits:
        img = lab = None
        for ext in ('', '.gz'):
            p = os.path.join(directory, f'{split}-images-idx3-ubyte{ext}')
            if os.path.isfile(p) and img is None:
                img = p
            q = os.path.join(directory, f'{split}-labels-idx1-ubyte{ext}')
            if os.path.isfile(q) and lab is None:
                lab = q
        if img is not None:
            if lab is None:
                raise DatasetError(f'{img}: found images but no matching {split}-labels-idx1-ubyte[.gz]')
            pairs.append((img, lab))
    return pairs


def is_idx_dir(path: str) -> bool:
    return os.path.isdir(path) and bool(find_idx_pairs(path))


def load_idx_dataset(directory: str, pad_to: Optional[int] = 32,
                     splits: Sequence[str] = ('train', 't10k')) -> Tuple[np.ndarray, np.ndarray]:
    """Load the IDX image/label pairs of ``splits`` in ``directory`` (default: all of them).

    Returns (images uint8 [N, R, R, 1], labels int64 [N]); 28x28 images are zero-padded to
    ``pad_to`` (centered: 2 pixels on each side for 32) so that the size is a power of two.
    """
    pairs = find_idx_pairs(directory, splits)
    if not pairs:
        raise DatasetError(f'{directory}: no IDX files found (expected {splits[0]}-images-idx3-ubyte[.gz] '
                           f'and {splits[0]}-labels-idx1-ubyte[.gz]; install them with '
                           '`apt-get install dataset-fashion-mnist`)')
    images, labels = [], []
    for img_path, lab_path in pairs:
        x = read_idx(img_path)
        y = read_idx(lab_path)
        if x.ndim != 3 or x.dtype != np.uint8:
            raise DatasetError(f'{img_path}: expected uint8 images [N, H, W], got {x.dtype} {x.shape}')
        if y.ndim != 1 or len(y) != len(x):
            raise DatasetError(f'{lab_path}: expected {len(x)} labels, got shape {y.shape}')
        images.append(x)
        labels.append(y.astype(np.int64))
    x = np.concatenate(images)
    y = np.concatenate(labels)
    h, w = x.shape[1:]
    if h != w:
        raise DatasetError(f'{directory}: IDX images are not square ({h}x{w})')
    if pad_to is not None and h != pad_to:
        if h > pad_to:
            raise DatasetError(f'{directory}: images are {h}x{w}, larger than pad size {pad_to}')
        a = (pad_to - h) // 2
        b = pad_to - h - a
        x = np.pad(x, ((0, 0), (a, b), (a, b)))
    if not is_power_of_two(x.shape[1]):
        raise DatasetError(f'{directory}: image size {x.shape[1]} is not a power of two; pass pad_to')
    return np.ascontiguousarray(x[..., None]), y


def sequence_fingerprint(parts: Sequence) -> str:
    import hashlib
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode('utf-8'))
        h.update(b'\0')
    return h.hexdigest()
