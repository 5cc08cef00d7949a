"""Dataset tool round trips, the reading API, the tf.data pipeline, and bad inputs."""

import gzip
import json
import os
import struct
import sys
import zipfile

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tools'))

import PIL.Image  # noqa: E402

from stylegan2_tf.data import (DatasetError, create_fashion_mnist, create_from_images, open_dataset,  # noqa: E402
                               read_manifest, verify_shards)
import dataset_tool  # noqa: E402


def _write_images(folder, n=10, res=8, channels=3, seed=0, labels=True):
    rng = np.random.RandomState(seed)
    os.makedirs(folder, exist_ok=True)
    imgs, labs = [], {}
    for i in range(n):
        x = rng.randint(0, 256, size=(res, res, channels), dtype=np.uint8)
        name = f'sub/img{i:03d}.png' if i % 3 == 0 else f'img{i:03d}.png'
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
        PIL.Image.fromarray(x[:, :, 0] if channels == 1 else x).save(os.path.join(folder, name))
        imgs.append((name, x))
        labs[name] = i % 4
    if labels:
        with open(os.path.join(folder, 'dataset.json'), 'w') as f:
            json.dump({'labels': [[k, v] for k, v in labs.items()]}, f)
    imgs.sort(key=lambda t: t[0])  # the tool reads files in sorted name order
    return [x for _, x in imgs], [labs[n] for n, _ in imgs]


def _all(ds, batch=3):
    xs, ys = [], []
    for x, y in ds.iterate(batch):
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def test_round_trip_folder_zip_and_direct(tmp_path):
    src = str(tmp_path / 'src')
    imgs, labs = _write_images(src, n=10)
    out = str(tmp_path / 'ds')
    rep = create_from_images(src, out, shard_mb=2 * 8 * 8 * 3 / 2**20)  # 2 images per shard -> 5 shards
    assert rep.written == 10 and not rep.skipped
    m = read_manifest(out)
    assert len(m['shards']) == 5 and m['num_images'] == 10 and m['label_dim'] == 4
    verify_shards(out, m)
    ds = open_dataset(out)
    assert (ds.resolution, ds.num_channels, ds.label_dim, ds.num_images, ds.name) == (8, 3, 4, 10, 'ds')
    x, y = _all(ds)
    assert x.dtype == np.uint8 and x.shape == (10, 8, 8, 3)
    np.testing.assert_array_equal(x, np.stack(imgs))
    assert y.dtype == np.float32 and y.shape == (10, 4)
    np.testing.assert_array_equal(y, np.eye(4, dtype=np.float32)[labs])
    assert len(list(ds.iterate(4, max_images=5))) == 2

    # The same images read directly from the folder and from a zip.
    z = str(tmp_path / 'src.zip')
    with zipfile.ZipFile(z, 'w') as zf:
        for root, _, files in os.walk(src):
            for f in files:
                p = os.path.join(root, f)
                zf.write(p, os.path.relpath(p, src))
    for direct in (open_dataset(src), open_dataset(z)):
        xd, yd = _all(direct, batch=4)
        np.testing.assert_array_equal(xd, x)
        np.testing.assert_array_equal(yd, y)
        assert direct.label_dim == 4

    # Mirroring doubles the dataset: originals, then x-flipped copies.
    dm = open_dataset(out, mirror=True)
    assert dm.num_images == 20 and dm.fingerprint != ds.fingerprint
    xm, ym = _all(dm, batch=4)
    np.testing.assert_array_equal(xm[:10], x)
    np.testing.assert_array_equal(xm[10:], x[:, :, ::-1])
    np.testing.assert_array_equal(ym[10:], y)

    # The CLI over the same functions, and info.
    out2 = str(tmp_path / 'ds2')
    assert dataset_tool.main(['create_from_images', '--source', z, '--dest', out2]) == 0
    np.testing.assert_array_equal(_all(open_dataset(out2))[0], x)
    assert dataset_tool.main(['info', out2, '--grid', str(tmp_path / 'g.png'), '--verify']) == 0
    g = np.asarray(PIL.Image.open(str(tmp_path / 'g.png')))
    assert g.shape == (3 * 8, 4 * 8, 3)  # 10 images -> 3 rows of 4
    np.testing.assert_array_equal(g[:8, 8:16], x[1])


def test_fingerprint_tracks_content(tmp_path):
    src = str(tmp_path / 'src')
    _write_images(src, n=4, labels=False)
    fp1 = open_dataset(src).fingerprint
    assert open_dataset(src).fingerprint == fp1  # stable
    create_from_images(src, str(tmp_path / 'a'))
    create_from_images(src, str(tmp_path / 'b'))
    assert open_dataset(str(tmp_path / 'a')).fingerprint == open_dataset(str(tmp_path / 'b')).fingerprint
    x = np.zeros((8, 8, 3), np.uint8)
    PIL.Image.fromarray(x).save(os.path.join(src, 'img001.png'))
    assert open_dataset(src).fingerprint != fp1
    create_from_images(src, str(tmp_path / 'c'))
    assert open_dataset(str(tmp_path / 'c')).fingerprint != open_dataset(str(tmp_path / 'a')).fingerprint
    assert open_dataset(str(tmp_path / 'c')).label_dim == 0


def test_resize_grayscale_and_channel_conversion(tmp_path):
    src = str(tmp_path / 'src')
    os.makedirs(src)
    rng = np.random.RandomState(1)
    PIL.Image.fromarray(rng.randint(0, 256, (12, 20), dtype=np.uint8)).save(os.path.join(src, 'a.png'))
    PIL.Image.fromarray(rng.randint(0, 256, (16, 16, 3), dtype=np.uint8)).save(os.path.join(src, 'b.jpg'))
    out = str(tmp_path / 'out')
    create_from_images(src, out, resolution=8)
    ds = open_dataset(out)
    assert (ds.resolution, ds.num_channels, ds.num_images, ds.label_dim) == (8, 1, 2, 0)
    x, y = _all(ds)
    assert y.shape == (2, 0)
    # The first image is center-cropped (12x12 from columns 4..16) and Lanczos-resized like Pillow does.
    a = np.asarray(PIL.Image.open(os.path.join(src, 'a.png')))[:, 4:16]
    ref = np.asarray(PIL.Image.fromarray(a).resize((8, 8), PIL.Image.LANCZOS))
    np.testing.assert_array_equal(x[0, :, :, 0], ref)


def test_bad_inputs(tmp_path):
    src = str(tmp_path / 'src')
    _write_images(src, n=5, labels=False)
    with open(os.path.join(src, 'img002.png'), 'wb') as f:
        f.write(b'not a png at all')
    with pytest.raises(DatasetError, match=r'img002\.png: cannot read image \(not a recognised image format\).*stopping; 1 image'):
        create_from_images(src, str(tmp_path / 'o1'))
    assert not os.path.exists(str(tmp_path / 'o1'))  # nothing half-written
    rep = create_from_images(src, str(tmp_path / 'o2'), on_error='skip', log=lambda s: None)
    assert rep.written == 4 and len(rep.skipped) == 1 and 'img002.png' in rep.skipped[0]
    assert open_dataset(str(tmp_path / 'o2')).num_images == 4
    assert dataset_tool.main(['create_from_images', '--source', src, '--dest', str(tmp_path / 'o3')]) == 2

    # Mismatched sizes, non-square, non power of two.
    src2 = str(tmp_path / 'src2')
    os.makedirs(src2)
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(src2, 'a.png'))
    PIL.Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(os.path.join(src2, 'b.png'))
    with pytest.raises(DatasetError, match=r'b\.png: image is 16x16 but earlier images are 8x8'):
        create_from_images(src2, str(tmp_path / 'o4'))
    with pytest.raises(DatasetError, match=r'b\.png: image is 16x16x3, expected 8x8x3'):
        _all(open_dataset(src2))
    src3 = str(tmp_path / 'src3')
    os.makedirs(src3)
    PIL.Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(os.path.join(src3, 'a.png'))
    with pytest.raises(DatasetError, match=r'a\.png: image is 6x6, not a square power-of-two'):
        create_from_images(src3, str(tmp_path / 'o5'))
    with pytest.raises(DatasetError, match='power of two'):
        create_from_images(src3, str(tmp_path / 'o5'), resolution=12)
    # Missing label, bad label file, non-empty destination, missing paths, empty folder.
    lab = str(tmp_path / 'labels.json')
    with open(lab, 'w') as f:
        json.dump({'a.png': 1}, f)
    with pytest.raises(DatasetError, match=r"no label for 1 image.*'b\.png'"):
        create_from_images(src2, str(tmp_path / 'o6'), labels=lab, resolution=8)
    with open(lab, 'w') as f:
        f.write('{oops')
    with pytest.raises(DatasetError, match='not valid JSON'):
        create_from_images(src2, str(tmp_path / 'o6'), labels=lab)
    with pytest.raises(DatasetError, match='not empty'):
        create_from_images(src, str(tmp_path / 'o2'), on_error='skip', log=lambda s: None)
    with pytest.raises(DatasetError, match='no such'):
        open_dataset(str(tmp_path / 'nope'))
    os.makedirs(str(tmp_path / 'empty'))
    with pytest.raises(DatasetError, match='contains no image files'):
        open_dataset(str(tmp_path / 'empty'))
    # A shard that vanished or was modified.
    out = str(tmp_path / 'o2')
    m = read_manifest(out)
    shard = os.path.join(out, m['shards'][0]['file'])
    with open(shard, 'ab') as f:
        f.write(b'x')
    with pytest.raises(DatasetError, match='does not match the manifest checksum'):
        verify_shards(out, m)
    os.remove(shard)
    with pytest.raises(DatasetError, match='shard listed in the manifest is missing'):
        open_dataset(out)


def _write_idx(path, arr, compress):
    arr = np.asarray(arr, np.uint8)
    data = bytes([0, 0, 0x08, arr.ndim]) + struct.pack('>' + 'I' * arr.ndim, *arr.shape) + arr.tobytes()
    with open(path, 'wb') as f:
        f.write(gzip.compress(data) if compress else data)


def test_fashion_mnist_idx(tmp_path):
    d = str(tmp_path / 'fm')
    os.makedirs(d)
    rng = np.random.RandomState(0)
    xtr = rng.randint(0, 256, (5, 28, 28), dtype=np.uint8)
    xte = rng.randint(0, 256, (3, 28, 28), dtype=np.uint8)
    ytr, yte = np.array([0, 1, 2, 9, 4]), np.array([5, 6, 7])
    _write_idx(os.path.join(d, 'train-images-idx3-ubyte.gz'), xtr, True)
    _write_idx(os.path.join(d, 'train-labels-idx1-ubyte.gz'), ytr, True)
    _write_idx(os.path.join(d, 't10k-images-idx3-ubyte'), xte, False)   # uncompressed works too
    _write_idx(os.path.join(d, 't10k-labels-idx1-ubyte'), yte, False)
    out = str(tmp_path / 'out')
    assert dataset_tool.main(['create_fashion_mnist', '--source', d, '--dest', out]) == 0
    for ds in (open_dataset(out), open_dataset(d)):
        assert (ds.resolution, ds.num_channels, ds.num_images, ds.label_dim) == (32, 1, 8, 10)
        x, y = _all(ds)
        expect = np.zeros((8, 32, 32, 1), np.uint8)
        expect[:, 2:30, 2:30, 0] = np.concatenate([xtr, xte])
        np.testing.assert_array_equal(x, expect)
        np.testing.assert_array_equal(y.argmax(1), np.concatenate([ytr, yte]))
    # Bad magic and truncated data name the file.
    with open(os.path.join(d, 't10k-images-idx3-ubyte'), 'wb') as f:
        f.write(b'\x00\x00\x08\x03' + struct.pack('>III', 3, 28, 28) + b'\x00' * 10)
    with pytest.raises(DatasetError, match=r't10k-images-idx3-ubyte: IDX size mismatch'):
        open_dataset(d)
    with open(os.path.join(d, 't10k-images-idx3-ubyte'), 'wb') as f:
        f.write(b'PK\x03\x04garbage')
    with pytest.raises(DatasetError, match='not an IDX file'):
        create_fashion_mnist(d, str(tmp_path / 'out2'))


def _stream(ds, batch, n_batches, **kw):
    it = iter(ds.tf_dataset(batch, **kw))
    return [tuple(t.numpy() for t in next(it)) for _ in range(n_batches)]


@pytest.mark.parametrize('kind', ['tfrecords', 'folder'])
def test_tf_dataset_epochs_shards_and_resume(tmp_path, kind):
    src = str(tmp_path / 'src')
    imgs, labs = _write_images(src, n=10)
    path = src
    if kind == 'tfrecords':
        path = str(tmp_path / 'ds')
        create_from_images(src, path, shard_mb=2 * 8 * 8 * 3 / 2**20)
    ds = open_dataset(path)
    key = lambda x: x.reshape(len(x), -1)[:, :8].tobytes()  # noqa: E731
    all_keys = sorted(key(x[None]) for x in imgs)
    # One epoch, shuffled: a permutation of all images; labels travel with images.
    (x, y), = _stream(ds, 10, 1, repeat=False, seed=3)
    assert sorted(key(i[None]) for i in x) == all_keys
    for xi, yi in zip(x, y):
        j = [k for k, im in enumerate(imgs) if np.array_equal(im, xi)][0]
        assert yi.argmax() == labs[j]
    # Unshuffled single epoch is the stored order; same seed -> same order; new epoch -> new order.
    (x0, _), = _stream(ds, 10, 1, repeat=False, shuffle=False)
    np.testing.assert_array_equal(x0, np.stack(imgs))
    a = _stream(ds, 5, 6, seed=7)
    b = _stream(ds, 5, 6, seed=7)
    for (xa, _), (xb, _) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
    epochs = [np.concatenate([a[2 * e][0], a[2 * e + 1][0]]) for e in range(3)]
    assert all(sorted(key(i[None]) for i in ep) == all_keys for ep in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    # Resume: starting at image 15 continues exactly where the uninterrupted stream was.
    c = _stream(ds, 5, 3, seed=7, start_image=15)
    for (xa, ya), (xc, yc) in zip(a[3:], c):
        np.testing.assert_array_equal(xa, xc)
        np.testing.assert_array_equal(ya, yc)
    # Two shards: disjoint, together one full epoch.
    s0 = _stream(ds, 5, 1, repeat=False, seed=1, num_shards=2, shard_index=0)[0][0]
    s1 = _stream(ds, 5, 1, repeat=False, seed=1, num_shards=2, shard_index=1)[0][0]
    assert sorted(key(i[None]) for i in np.concatenate([s0, s1])) == all_keys
    # Mirror: each image is either the original or its x-flip, about half flipped, deterministic.
    dm = open_dataset(path, mirror=True)
    m1 = _stream(dm, 10, 4, seed=2, shuffle=False)
    m2 = _stream(dm, 10, 4, seed=2, shuffle=False)
    flips = 0
    for (xm, _), (xm2, _) in zip(m1, m2):
        np.testing.assert_array_equal(xm, xm2)
        for i in range(10):
            if np.array_equal(xm[i], imgs[i][:, ::-1]):
                flips += 1
            else:
                np.testing.assert_array_equal(xm[i], imgs[i])
    assert 8 <= flips <= 32
    with pytest.raises(ValueError, match='shard'):
        ds.tf_dataset(4, num_shards=2, shard_index=2)


def _numbered_tfrecords(dest, n=16, per_file=4):
    """n 8x8x1 images in files of per_file records; image i has column 0 = i and the other columns 100 + i, so
    x[:, 0, 0, 0] reads back which image came (mod 100) and whether it was x-flipped (>= 100)."""
    from stylegan2_tf.data.tfrecords import write_tfrecord_dataset
    x = np.empty((n, 8, 8, 1), np.uint8)
    for i in range(n):
        x[i] = 100 + i
        x[i, :, 0] = i
    write_tfrecord_dataset(dest, ((im, None) for im in x), 8, 1, shard_mb=per_file * 64 / 2**20)
    assert len(read_manifest(dest)['shards']) == -(-n // per_file)
    return dest


def _ids(ds, batch, n_batches, **kw):
    it = iter(ds.tf_dataset(batch, **kw))
    return [next(it)[0].numpy()[:, 0, 0, 0].tolist() for _ in range(n_batches)]


_GLOBAL_SEED_SCRIPT = r'''
import json, sys
import tensorflow as tf
from stylegan2_tf.data import open_dataset
path = sys.argv[1]

def ids(ds, n_batches, **kw):
    it = iter(ds.tf_dataset(8, seed=5, **kw))
    return [next(it)[0].numpy()[:, 0, 0, 0].tolist() for _ in range(n_batches)]

out = {}
for global_seed in (None, 0, 123):  # None first: this process has not set a global seed yet
    if global_seed is not None:
        tf.random.set_seed(global_seed)
    out[str(global_seed)] = dict(
        stream=ids(open_dataset(path), 5), resumed=ids(open_dataset(path), 2, start_image=20),
        mirrored=ids(open_dataset(path, mirror=True), 5), one_epoch=ids(open_dataset(path), 2, repeat=False))
print(json.dumps(out))
'''


def test_tfrecord_shuffle_ignores_the_global_seed(tmp_path):
    # tf.random.set_seed (tools/train.py calls it with --seed) used to crash the TFRecord pipeline
    # (OperatorNotAllowedInGraphError from Dataset.shuffle's tensor seed); the order must not depend on it either.
    import subprocess
    path = _numbered_tfrecords(str(tmp_path / 'ds'))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1',
               PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    p = subprocess.run([sys.executable, '-c', _GLOBAL_SEED_SCRIPT, path], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out['0'] == out['None'] and out['123'] == out['None']
    s = out['None']
    assert sorted(s['stream'][0] + s['stream'][1]) == list(range(16)) != s['stream'][0] + s['stream'][1]
    assert sum(s['resumed'], []) == sum(s['stream'], [])[20:36]  # resumed 20 images in (mid-batch, epoch 1)
    assert s['one_epoch'] == s['stream'][:2]
    assert any(v >= 100 for b in s['mirrored'] for v in b) and any(v < 100 for b in s['mirrored'] for v in b)


@pytest.mark.parametrize('block', [None, 5])  # None: one block per epoch; 5: several blocks and a short last one
def test_tfrecord_shuffle_is_a_function_of_seed_and_epoch(tmp_path, monkeypatch, block):
    from stylegan2_tf.data import dataset as dataset_mod
    if block is not None:
        monkeypatch.setattr(dataset_mod, '_SHUFFLE_BLOCK', block)
    ds = open_dataset(_numbered_tfrecords(str(tmp_path / 'ds')))
    # Batches of 4 over 16 images: batches 4e..4e+3 are epoch e.
    a = _ids(ds, 4, 12, seed=3)
    epochs = [sum(a[4 * e:4 * e + 4], []) for e in range(3)]
    assert all(sorted(ep) == list(range(16)) for ep in epochs)
    assert len({tuple(ep) for ep in epochs}) == 3 and tuple(range(16)) not in {tuple(ep) for ep in epochs}
    assert _ids(ds, 4, 12, seed=3) == a
    b = _ids(ds, 4, 12, seed=4)
    assert all(sum(b[4 * e:4 * e + 4], []) != epochs[e] for e in range(3))
    # Resume at any position (mid-batch, a block or an epoch boundary) continues the uninterrupted stream.
    flat = sum(a, [])
    for start in (1, 5, 10, 16, 23, 32):
        resumed = sum(_ids(ds, 4, 3, seed=3, start_image=start), [])
        assert resumed == flat[start:start + 12], start
    # Two record-filtering shards (4 files do not split evenly over 3 workers): disjoint, covering every image.
    shards = [sum(_ids(ds, n, 1, seed=3, num_shards=3, shard_index=k, repeat=False), [])
              for k, n in enumerate((6, 5, 5))]
    assert sorted(sum(shards, [])) == list(range(16))
