"""3x3 convolutions by Winograd's minimal filtering, F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
Neural Networks", 2016): a 'SAME' stride-1 convolution in a quarter of the multiplies.

Per 4x4 output tile and channel pair the direct convolution takes 144 multiply-adds; F(4x4, 3x3) takes 36 in the
batched matrix product plus the transforms, which are linear in the channels (not quadratic):

    V = B^T d B    the input tiles d (6x6, stride 4, the image padded by 1)      `to_tiles(x, B^T)`
    U = G g G^T    the 3x3 filter g, once per call (a small einsum)
    M = V @ U      36 matrix products [tiles, Cin] @ [Cin, Cout] (BatchMatMul, oneDNN on the CPU)
    Y = A^T M A    the 4x4 output tiles                                           `from_tiles(M, A)`

The transforms are the compiled ops `Sg2WinogradToTiles` and its adjoint `Sg2WinogradFromTiles`
(custom_ops/cc/kernels/winograd.h); each one's gradient is the other with the same matrix, and BatchMatMul's is two
BatchMatMuls, so the input and weight gradients (and R1's and path length's higher orders) are Winograd
convolutions too, with no extra code. `impl='ref'` states the same transforms with TensorFlow ops (strided slices,
small matmuls): the same numbers up to the order of the transforms' sums.

Round-off: the transforms add and scale (by 1, 2, 4, 5, 8 and the filter transform's 1/4, 1/6, 1/12, 1/24) before
the product, so a float32 result is further from the exact one than a direct convolution's (about 5-10x here,
tests/test_ops_winograd.py states the bound), as with cuDNN's Winograd algorithms, which NVIDIA's StyleGAN training
uses on GPUs (`torch.backends.cudnn.benchmark`). float32 and float64 only: bfloat16 and float16 keep TF's direct
convolution.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from stylegan2_tf.ops import _library

#: Output tile size m of F(m x m, 3 x 3).
TILE = 4

# F(4x4, 3x3) with interpolation points 0, 1, -1, 2, -2 and infinity (Lavin & Gray's matrices).
_BT = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], np.float64)
_G = np.array([[1 / 4, 0, 0],
               [-1 / 6, -1 / 6, -1 / 6],
               [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6],
               [0, 0, 1]], np.float64)
_A = np.array([[1, 0, 0, 0],
               [1, 1, 1, 1],
               [1, -1, 1, -1],
               [1, 2, 4, 8],
               [1, -2, 4, -8],
               [0, 0, 0, 1]], np.float64)  # [t, m]; the output transform is A^T M A

_DTYPES = (tf.float32, tf.float64)

_gradients_registered = False


def _attrs(op) -> dict:
    return {k: op.get_attr(k) for k in ("matrix", "window", "stride", "pad")}


def _library_with_gradients():
    global _gradients_registered
    if not _gradients_registered:
        lib = _library.get_library()

        @tf.RegisterGradient("Sg2WinogradToTiles")
        def _to_tiles_grad(op, g):
            x = op.inputs[0]
            return lib.sg2_winograd_from_tiles(g, height=x.shape[1], width=x.shape[2], **_attrs(op))

        @tf.RegisterGradient("Sg2WinogradFromTiles")
        def _from_tiles_grad(op, g):
            return lib.sg2_winograd_to_tiles(g, **_attrs(op))

        _gradients_registered = True
    return _library.get_library()


def _tile_count(size: int, window: int, stride: int, pad: int) -> int:
    span = size + 2 * pad - window
    if span < 0 or span % stride:
        raise ValueError(f"an axis of {size} pixels padded by {pad} is not covered exactly by windows of {window} "
                         f"at stride {stride}")
    return span // stride + 1


def _to_tiles_ref(x: tf.Tensor, matrix: np.ndarray, stride: int, pad: int) -> tf.Tensor:
    t, s = matrix.shape
    n, h, w, c = x.shape
    th, tw = _tile_count(h, s, stride, pad), _tile_count(w, s, stride, pad)
    m = tf.constant(matrix, x.dtype)
    xp = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    rows = tf.stack([xp[:, a:a + (th - 1) * stride + 1:stride] for a in range(s)])        # [s, N, Th, Wp, C]
    rows = tf.tensordot(m, rows, axes=[[1], [0]])                                          # [t, N, Th, Wp, C]
    cols = tf.stack([rows[:, :, :, b:b + (tw - 1) * stride + 1:stride] for b in range(s)])  # [s, t, N, Th, Tw, C]
    tiles = tf.tensordot(m, cols, axes=[[1], [0]])                                         # [t(q), t(p), N, Th, Tw, C]
    return tf.reshape(tf.transpose(tiles, [1, 0, 2, 3, 4, 5]), [t * t, n * th * tw, c])


def _from_tiles_ref(tiles: tf.Tensor, matrix: np.ndarray, stride: int, pad: int, height: int,
                    width: int) -> tf.Tensor:
    t, s = matrix.shape
    th, tw = _tile_count(height, s, stride, pad), _tile_count(width, s, stride, pad)
    c = tiles.shape[2]
    m = tf.constant(matrix, tiles.dtype)
    v = tf.reshape(tiles, [t, t, -1, th, tw, c])
    v = tf.tensordot(m, v, axes=[[0], [1]])            # [s(b), t(p), N, Th, Tw, C]
    v = tf.tensordot(m, v, axes=[[0], [1]])            # [s(a), s(b), N, Th, Tw, C]
    hp, wp = height + 2 * pad, width + 2 * pad
    out = 0
    for a in range(s):
        for b in range(s):
            # Tile (i, j) puts its window pixel (a, b) at (i stride + a, j stride + b) of the padded image.
            placed = tf.pad(v[a, b][:, :, tf.newaxis, :, tf.newaxis, :],
                            [[0, 0], [0, 0], [0, stride - 1], [0, 0], [0, stride - 1], [0, 0]])
            ph, pw = (th - 1) * stride + 1, (tw - 1) * stride + 1
            placed = tf.reshape(placed, [-1, th * stride, tw * stride, c])[:, :ph, :pw]
            out += tf.pad(placed, [[0, 0], [a, hp - a - ph], [b, wp - b - pw], [0, 0]])
    return out[:, pad:pad + height, pad:pad + width, :]


def to_tiles(x, matrix: np.ndarray, stride: int, pad: int, impl: str = "auto") -> tf.Tensor:
    """tiles[p t + q, (n, i, j), c] = sum_ab M[p, a] M[q, b] x[n, i stride - pad + a, j stride - pad + b, c].

    Args:
        x: [N, H, W, C], float32 or float64, static H and W.
        matrix: M [t, s] (s: the window; its entries must be exact in float32).
    Returns:
        [t * t, N * Th * Tw, C], Th = (H + 2 pad - s) / stride + 1 (must be exact), likewise Tw.
    """
    x = tf.convert_to_tensor(x)
    s = matrix.shape[1]
    for size in (x.shape[1], x.shape[2]):
        _tile_count(size, s, stride, pad)  # a clear error before TF's
    if _library.resolve_impl(impl) == "ref":
        return _to_tiles_ref(x, matrix, stride, pad)
    return _library_with_gradients().sg2_winograd_to_tiles(x, matrix=matrix.reshape(-1).tolist(), window=s,
                                                           stride=stride, pad=pad)


def from_tiles(tiles, matrix: np.ndarray, stride: int, pad: int, height: int, width: int,
               impl: str = "auto") -> tf.Tensor:
    """The adjoint of `to_tiles` for an image of height x width: [t * t, N * Th * Tw, C] -> [N, height, width, C]."""
    tiles = tf.convert_to_tensor(tiles)
    s = matrix.shape[1]
    if _library.resolve_impl(impl) == "ref":
        return _from_tiles_ref(tiles, matrix, stride, pad, height, width)
    return _library_with_gradients().sg2_winograd_from_tiles(tiles, matrix=matrix.reshape(-1).tolist(), window=s,
                                                             stride=stride, pad=pad, height=height, width=width)


def supports(x: tf.Tensor, w: tf.Tensor) -> bool:
    """Whether `winograd_conv2d` takes this convolution: a 3x3 filter with static channels that match x's (not a
    grouped convolution), float32/float64, static H and W that are multiples of the tile."""
    return (x.dtype in _DTYPES and w.shape.rank == 4 and tuple(w.shape[:2]) == (3, 3) and x.shape.rank == 4
            and None not in (x.shape[1], x.shape[2], x.shape[3], w.shape[3]) and x.shape[3] == w.shape[2]
            and x.shape[1] % TILE == 0 and x.shape[2] % TILE == 0)


#: Smallest channel count (in and out) and pixel count for which `preferred` picks F(4x4, 3x3) on the CPU. Measured
#: on 2 cores (forward + both gradients against TF's oneDNN convolution, float32, docs/training.md): 1.7-2.2x less
#: time at 128 channels and 16x16-32x32, 1.1-1.6x at 64; slower at 32 channels or 8x8 pixels.
MIN_CHANNELS = 64
MIN_PIXELS = 16 * 16


def preferred(x: tf.Tensor, w: tf.Tensor, impl: str = "auto") -> bool:
    """Whether `conv2d_resample` should run this 'SAME' convolution as `winograd_conv2d`: the compiled ops are in
    use, no GPU is visible (cuDNN picks its own algorithms there), float32 (float64 keeps TF's convolution as the
    exact reference), a 3x3 filter, H and W multiples of 4 with H * W >= MIN_PIXELS, and at least MIN_CHANNELS
    channels in and out."""
    if x.dtype != tf.float32 or not supports(x, w) or _library.resolve_impl(impl) != "custom":
        return False
    if x.shape[1] * x.shape[2] < MIN_PIXELS or min(w.shape[2], w.shape[3]) < MIN_CHANNELS:
        return False
    return not tf.config.list_logical_devices("GPU")


def winograd_conv2d(x, w, impl: str = "auto") -> tf.Tensor:
    """`tf.nn.conv2d(x, w, 1, 'SAME')` for a 3x3 w by F(4x4, 3x3).

    Args:
        x: [N, H, W, Cin], float32 or float64; H and W static multiples of 4.
        w: [3, 3, Cin, Cout] (tf.nn.conv2d orientation), cast to x's dtype.
    Returns:
        [N, H, W, Cout] in x's dtype.
    """
    x = tf.convert_to_tensor(x)
    w = tf.cast(w, x.dtype)
    if not supports(x, w):
        raise ValueError(f"winograd_conv2d needs float32/float64 x [N, H, W, C] with H, W multiples of {TILE} and a "
                         f"3x3 w [3, 3, C, Cout], got x {x.shape} {x.dtype.name}, w {w.shape}")
    n, h, wd, cin = x.shape
    t = TILE + 2
    cout = w.shape[3]
    v = to_tiles(x, _BT, TILE, 1, impl=impl)                               # [36, P, Cin]
    g = tf.constant(_G, x.dtype)
    u = tf.reshape(tf.einsum("pa,abio,qb->pqio", g, w, g), [t * t, cin, cout])
    m = tf.matmul(v, u)                                                    # [36, P, Cout]
    return from_tiles(m, _A, TILE, 0, h, wd, impl=impl)
