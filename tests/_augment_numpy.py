"""A numpy statement of stylegan2-ada-pytorch's AugmentPipe execution, given its random parameters (NHWC, float64).

Written from upstream's definitions, step by step as upstream composes them, independently of
stylegan2_tf.training.augment: the geometric stage computes its margin from the batch, reflect-pads by exactly that
margin, upsamples with the sym6 filter, conjugates the inverse transform into the normalised coordinates of torch's
affine_grid / grid_sample (align_corners=False, zeros outside), samples bilinearly and downsamples; the colour stage
applies the 4x4 matrix; the filter stage pads by reflection and convolves separably.
"""
import numpy as np

from _upfirdn_numpy import upfirdn2d_numpy

SYM6 = np.array([0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
                 0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
                 -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148])


def _translate(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


def _scale(sx, sy):
    return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], np.float64)


def _upsample2d(x, f):
    """upstream upsample2d(x, f, up=2): zero insertion, pad [(fw+1)//2, (fw-2)//2], filter with gain 4."""
    fw = len(f)
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return upfirdn2d_numpy(x, f / f.sum(), up=(2, 2), pad=(p0, p1, p0, p1), gain=4.0)


def _downsample2d(x, f, padding):
    """upstream downsample2d(x, f, down=2, padding, flip_filter=True)."""
    fw = len(f)
    p0, p1 = padding + (fw - 1) // 2, padding + (fw - 2) // 2
    return upfirdn2d_numpy(x, f / f.sum(), down=(2, 2), pad=(p0, p1, p0, p1), flip_filter=True)


def _grid_sample_bilinear(img, gx, gy):
    """torch grid_sample(mode='bilinear', padding_mode='zeros', align_corners=False) of one image [H, W, C] at
    normalised coordinates gx, gy [Ho, Wo]."""
    h, w, c = img.shape
    ix = ((gx + 1) * w - 1) / 2
    iy = ((gy + 1) * h - 1) / 2
    x0, y0 = np.floor(ix).astype(int), np.floor(iy).astype(int)
    out = np.zeros(gx.shape + (c,))
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - np.abs(ix - xi)) * (1 - np.abs(iy - yi))
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            vals = img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out += np.where(ok[..., None], vals * wgt[..., None], 0.0)
    return out


def geometric(images, G_inv):
    """images [N, H, W, C], G_inv [N, 3, 3] (output pixel -> input pixel, centred) -> [N, H, W, C]."""
    images = np.asarray(images, np.float64)
    n, h, w, c = images.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = np.array([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], np.float64).T   # [xyz, 4]
    pts = G_inv @ corners                                                    # [N, xyz, 4]
    hz_pad = len(SYM6) // 4
    reach = pts[:, :2, :].transpose(1, 0, 2).reshape(2, -1)                  # [xy, N*4]
    margin = np.concatenate([-reach, reach]).max(axis=1)                    # [x0, y0, x1, y1]
    margin = margin + np.array([hz_pad * 2 - cx, hz_pad * 2 - cy] * 2)
    margin = np.minimum(np.maximum(margin, 0), np.array([w - 1, h - 1] * 2))
    mx0, my0, mx1, my1 = np.ceil(margin).astype(int)
    x = np.pad(images, [(0, 0), (my0, my1), (mx0, mx1), (0, 0)], mode='reflect')
    G = np.stack([_translate((mx0 - mx1) / 2, (my0 - my1) / 2) @ g for g in G_inv])
    x = _upsample2d(x, SYM6)
    G = np.stack([_scale(2, 2) @ g @ _scale(0.5, 0.5) for g in G])
    G = np.stack([_translate(-0.5, -0.5) @ g @ _translate(0.5, 0.5) for g in G])
    out_h, out_w = (h + hz_pad * 2) * 2, (w + hz_pad * 2) * 2
    in_h, in_w = x.shape[1], x.shape[2]
    G = np.stack([_scale(2 / in_w, 2 / in_h) @ g @ _scale(out_w / 2, out_h / 2) for g in G])
    # affine_grid(align_corners=False): base coordinates at pixel centres in [-1, 1].
    bx = (2 * np.arange(out_w) + 1) / out_w - 1
    by = (2 * np.arange(out_h) + 1) / out_h - 1
    BX, BY = np.meshgrid(bx, by)
    y = np.zeros([n, out_h, out_w, c])
    for i in range(n):
        gx = G[i, 0, 0] * BX + G[i, 0, 1] * BY + G[i, 0, 2]
        gy = G[i, 1, 0] * BX + G[i, 1, 1] * BY + G[i, 1, 2]
        y[i] = _grid_sample_bilinear(x[i], gx, gy)
    return _downsample2d(y, SYM6, padding=-hz_pad * 2)


def color(images, C):
    """images [N, H, W, C] (C = 1 or 3), C [N, 4, 4] acting on homogeneous RGB."""
    images = np.asarray(images, np.float64)
    if images.shape[3] == 3:
        return np.einsum('nij,nhwj->nhwi', C[:, :3, :3], images) + C[:, None, None, :3, 3]
    rows = C[:, :3, :].mean(axis=1)                                            # [N, 4]
    return images * rows[:, :3].sum(axis=1)[:, None, None, None] + rows[:, 3][:, None, None, None]


def filter_bank():
    """The 4 x 43 bank, built as upstream describes it: dyadic upsampling of the rows and convolution with
    H(z)H(1/z)/2, the band-pass H(-z)H(-1/z)/2 added to the new band, starting from a unit impulse in band 0."""
    lo = np.array([-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025])
    hi = lo * ((-1) ** np.arange(lo.size))
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for i in range(1, 4):
        up = np.zeros([4, bank.shape[1] * 2 - 1])
        up[:, ::2] = bank
        bank = np.array([np.convolve(r, lo2) for r in up])
        s = (bank.shape[1] - hi2.size) // 2
        bank[i, s:s + hi2.size] += hi2
    return bank


def image_filter(images, gains):
    """Separable filtering with gains @ bank per sample, after reflect padding of (taps - 1) / 2."""
    images = np.asarray(images, np.float64)
    taps = gains @ filter_bank()                                              # [N, 43]
    p = taps.shape[1] // 2
    x = np.pad(images, [(0, 0), (p, p), (p, p), (0, 0)], mode='reflect')
    n, h, w, c = images.shape
    out = np.zeros_like(images)
    for i in range(n):
        tmp = np.stack([np.einsum('hkc,k->hc', x[i, :, j:j + taps.shape[1]], taps[i]) for j in range(w)], axis=1)
        out[i] = np.stack([np.einsum('kwc,k->wc', tmp[j:j + taps.shape[1]], taps[i]) for j in range(h)], axis=0)
    return out


def cutout(images, size, centre):
    n, h, w, _ = images.shape
    xs, ys = (np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h
    keep_x = np.abs(xs[None, :] - centre[:, 0:1]) >= size[:, None] / 2
    keep_y = np.abs(ys[None, :] - centre[:, 1:2]) >= size[:, None] / 2
    return images * (keep_y[:, :, None] | keep_x[:, None, :])[..., None]
