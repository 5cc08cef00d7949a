"""The one set of image helpers (stylegan2_tf.data.images): uint8 rule, its TF-graph twin, grids, PNG/GIF files."""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from stylegan2_tf import cli_utils  # noqa: E402
from stylegan2_tf.data import images as I  # noqa: E402
from stylegan2_tf.export.savedmodel import to_uint8 as to_uint8_graph  # noqa: E402


def _values():
    """Random values plus every level boundary (k - 128) / 127.5 and its float32 neighbours, and out-of-range ones."""
    edges = (np.arange(-1, 258, dtype=np.float64) - 128) / 127.5
    e32 = edges.astype(np.float32)
    near = np.concatenate([e32, np.nextafter(e32, np.float32(-3)), np.nextafter(e32, np.float32(3))])
    rnd = np.random.default_rng(0).uniform(-1.2, 1.2, 5000).astype(np.float32)
    return np.concatenate([near, rnd, np.float32([-5, 5, 0, 1, -1])])


def test_to_uint8_official_rule_and_graph_twin():
    x = _values()
    got = I.to_uint8(x)
    # Independent statement, in float64: level = floor(x * 127.5 + 128) clipped to [0, 255]; float32 rounding may
    # move a value sitting exactly on a level boundary, so compare away from boundaries and bound the rest by one.
    exact = np.clip(np.floor(x.astype(np.float64) * 127.5 + 128), 0, 255)
    frac = (x.astype(np.float64) * 127.5 + 128) % 1
    safe = (frac > 1e-4) & (frac < 1 - 1e-4)
    np.testing.assert_array_equal(got[safe], exact[safe])
    assert np.max(np.abs(got.astype(int) - exact)) <= 1
    assert got.dtype == np.uint8 and I.to_uint8(np.float32([-1, 0, 1])).tolist() == [0, 128, 255]
    # The SavedModel's TF op gives the very same bytes, also inside a tf.function (graph mode).
    np.testing.assert_array_equal(to_uint8_graph(tf.constant(x)).numpy(), got)
    np.testing.assert_array_equal(tf.function(to_uint8_graph)(tf.constant(x)).numpy(), got)
    # Another drange maps its ends to 0 and 255.
    assert I.to_uint8(np.float32([0, 0.5, 1]), drange=(0, 1)).tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="drange"):
        I.to_uint8(x, drange=(1, 1))


def test_one_set_of_helpers():
    for name in ("to_uint8", "to_pil", "make_grid", "save_png", "save_gif"):
        assert getattr(cli_utils, name) is getattr(I, name), name


def test_make_grid_layout_and_errors():
    imgs = np.arange(5 * 2 * 3 * 1, dtype=np.uint8).reshape(5, 2, 3, 1)
    g = I.make_grid(imgs)                                   # 5 images -> 2 rows x 3 cols
    assert g.shape == (4, 9, 1)
    for i in range(5):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(g[2 * r:2 * r + 2, 3 * c:3 * c + 3], imgs[i])
    np.testing.assert_array_equal(g[2:, 6:], 0)              # the missing cell is black
    assert I.make_grid(imgs, (1, 5)).shape == (2, 15, 1)
    with pytest.raises(ValueError, match="too small"):
        I.make_grid(imgs, (2, 2))
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        I.make_grid(imgs[0])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_save_png_round_trip(tmp_path, channels):
    img = np.random.default_rng(channels).integers(0, 256, (5, 7, channels)).astype(np.uint8)
    path = tmp_path / "a.png"
    I.save_png(str(path), img)
    back = np.asarray(Image.open(path))
    np.testing.assert_array_equal(back.reshape(img.shape), img)
    assert os.listdir(tmp_path) == ["a.png"]                 # atomic: no temporary left behind


def test_save_png_and_gif_errors_and_gif_frames(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(TypeError, match="path first"):
        I.save_png(img, str(tmp_path / "x.png"))             # the old (image, path) order
    with pytest.raises(ValueError, match="uint8"):
        I.save_png(str(tmp_path / "x.png"), img.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        I.save_png(str(tmp_path / "x.png"), np.zeros((4, 4, 2), np.uint8))
    frames = [np.full((4, 4, 3), v, np.uint8) for v in (0, 255, 0)]
    path = tmp_path / "a.gif"
    I.save_gif(str(path), frames, duration_ms=40)
    gif = Image.open(path)
    assert gif.n_frames == 3 and gif.info["duration"] == 40
    gif.seek(1)
    assert np.asarray(gif.convert("RGB")).min() == 255
    with pytest.raises(ValueError, match="at least one"):
        I.save_gif(str(tmp_path / "b.gif"), [], duration_ms=40)
    I.save_image_grid(str(tmp_path / "g.png"), np.stack(frames))
    assert np.asarray(Image.open(tmp_path / "g.png")).shape == (8, 8, 3)
