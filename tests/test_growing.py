"""Progressive-growing networks of configs A-D (StyleGAN's G_style / D_basic, the revised synthesis / D_stylegan):
official-pickle import against the numpy statement of the official definitions (tests/official_format.py), the
lod blending, snapshots, and errors.

Tolerance of the comparisons with the float64 numpy references: |ours - ref| <= 2e-5 * max|ref| + 2e-5 * |ref|
(float32 networks; instance normalization and 2-4 layers of convolutions accumulate ~1e-6 relative rounding).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from official_format import (adain_ref, box_downsample_ref, make_growing_pickle, nearest_upsample_ref,  # noqa: E402
                             reference_growing_discriminator, reference_revised_generator, reference_v1_generator,
                             v1_fused_conv_downscale_ref, v1_fused_upscale_conv_ref, _conv_same)
from stylegan2_tf.networks import (AdaIN, Discriminator, Generator, GrowingDiscriminator,  # noqa: E402
                                   RevisedSynthesis, StyleGAN1Synthesis, active_style_layers)
from stylegan2_tf.networks.growing.base import box_downsample, nearest_upsample  # noqa: E402
from stylegan2_tf.networks.growing.stylegan1 import StyleGAN1Layer  # noqa: E402
from stylegan2_tf.official import import_official_pickle  # noqa: E402
from stylegan2_tf.serialization import (clone_network, load_network, network_values, save_network,  # noqa: E402
                                        update_ema)

RTOL = 2e-5


def _close(out, ref):
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())


def _write(tmp_path, data, name="net.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _params(nets, gname):
    g_vars, m_vars, s_vars = nets[gname]
    params = dict(g_vars)
    params.update({f"mapping/{k}": v for k, v in m_vars})
    params.update({f"synthesis/{k}": v for k, v in s_vars})
    return params


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _nchw(x):
    return x.transpose(0, 3, 1, 2)


TINY = dict(z_dim=8, w_dim=8, img_channels=3, mapping_layers=2, fmap_base=32, fmap_max=8, structure="growing")


# ---------------------------------------------------------------------------------------------------------------------
# Building blocks.

def test_reference_fused_resampling_is_tensorflows():
    """The numpy statements of the official fused upscale/downscale convs equal tf.nn.conv2d_transpose / conv2d
    ('SAME', stride 2) on the shift-summed kernel, which is what the official code runs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((3, 3, 3, 5))
    wp = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
    k = wp[1:, 1:] + wp[:-1, 1:] + wp[1:, :-1] + wp[:-1, :-1]
    up = tf.nn.conv2d_transpose(_nhwc(x), k.transpose(0, 1, 3, 2), output_shape=[2, 12, 12, 5], strides=2,
                                padding="SAME").numpy()
    np.testing.assert_allclose(_nhwc(v1_fused_upscale_conv_ref(x, w)), up, rtol=1e-10, atol=1e-10)
    down = tf.nn.conv2d(_nhwc(x), k * 0.25, strides=2, padding="SAME").numpy()
    np.testing.assert_allclose(_nhwc(v1_fused_conv_downscale_ref(x, w)), down, rtol=1e-10, atol=1e-10)
    # The fused downscale is exactly conv + 2x2 average; the fused upscale is NOT upscale + correlation with w, but
    # with the spatially flipped w (a true convolution), which is what our fused StyleGAN1 layer computes.
    np.testing.assert_allclose(v1_fused_conv_downscale_ref(x, w), box_downsample_ref(_conv_same(x, w), 2), atol=1e-10)
    np.testing.assert_allclose(v1_fused_upscale_conv_ref(x, w),
                               _conv_same(nearest_upsample_ref(x, 2), w[::-1, ::-1]), atol=1e-10)
    assert not np.allclose(v1_fused_upscale_conv_ref(x, w), _conv_same(nearest_upsample_ref(x, 2), w), atol=1e-3)


def test_nearest_upsample_and_box_downsample():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)  # NCHW
    for f in (1, 2, 4):
        np.testing.assert_array_equal(np.asarray(nearest_upsample(tf.constant(_nhwc(x)), f)),
                                      _nhwc(nearest_upsample_ref(x, f)))
        np.testing.assert_allclose(np.asarray(box_downsample(tf.constant(_nhwc(x)), f)),
                                   _nhwc(box_downsample_ref(x.astype(np.float64), f)), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_adain_block_matches_numpy(noise_mode):
    rng = np.random.default_rng(2)
    layer = AdaIN(5, 6)
    layer.build()
    values = {"L/Noise/weight": rng.standard_normal(5), "L/bias": rng.standard_normal(5),
              "L/StyleMod/weight": rng.standard_normal((6, 10)), "L/StyleMod/bias": 0.3 * rng.standard_normal(10)}
    for name, var in layer.named_variables().items():
        var.assign(values[f"L/{name}"].astype(np.float32))
    x = rng.standard_normal((3, 5, 4, 4)).astype(np.float32) * 2 + 1
    w = rng.standard_normal((3, 6)).astype(np.float32)
    noise = rng.standard_normal((4, 4)).astype(np.float32)
    out = layer(_nhwc(x), w, noise_const=noise, noise_mode=noise_mode).numpy()
    ref = adain_ref(x.astype(np.float64), w.astype(np.float64), values, "L",
                    noise=noise[None, None] if noise_mode == "const" else None)
    _close(out, _nhwc(ref))


# ---------------------------------------------------------------------------------------------------------------------
# Official pickles vs the numpy statement of the official networks, at several levels of detail.

@pytest.mark.parametrize("fused_scale", ["auto", True])
def test_stylegan1_import_matches_official_definition(tmp_path, fused_scale):
    """G_style / D_basic at 16x16 (L = 4): lod 0.5 from the pickle, then 0, 1, 1.25, 2. fused_scale=True makes the
    official fused up/down-scaling convs (used at >= 128 px) run at this small size."""
    data, nets = make_growing_pickle("stylegan1", seed=1, resolution=16, label_size=3, lod=0.5,
                                     extra_g_kwargs={"fused_scale": fused_scale},
                                     extra_d_kwargs={"fused_scale": fused_scale})
    snap = load_network(_write(tmp_path, data))
    G, D = snap.G_ema, snap.D
    assert isinstance(D, GrowingDiscriminator) and D.architecture == "stylegan1"
    assert isinstance(G.synthesis, StyleGAN1Synthesis) and G.synthesis.fused_scale == fused_scale
    assert (G.num_ws, len(G.synthesis.noise_shapes), G.c_dim) == (6, 6, 3)
    assert snap.metadata["official_truncation"] == {"truncation_psi": 0.7, "truncation_cutoff": 8}
    assert snap.metadata["official_build_functions"] == {"G": "G_style", "D": "D_basic", "Gs": "G_style"}
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 8)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 2]]
    img = rng.standard_normal((4, 16, 16, 3)).astype(np.float32)
    cd = np.eye(3, dtype=np.float32)[[1, 0, 2, 2]]
    params, d_vars = _params(nets, "Gs"), dict(nets["D"])
    for lod in (None, 0.0, 1.0, 1.25, 2.0):
        if lod is None:
            lod = 0.5  # as imported
            assert float(G.synthesis.lod.numpy()) == 0.5 and float(D.lod.numpy()) == 0.5
        else:
            G.synthesis.lod.assign(lod)
            D.lod.assign(lod)
        ref = reference_v1_generator(params, z, c, lod=lod, fused_scale=fused_scale)
        _close(G(z, c, noise_mode="const").numpy(), _nhwc(ref))
        for fused in (False, True):  # the official D computes the same function fused or not
            ref_d = reference_growing_discriminator(d_vars, _nchw(img), cd, lod=lod, fused_scale=fused)
            _close(D(img, cd).numpy(), ref_d)
    # Truncation with the imported dlatent_avg, cutoff on the first layers (what --trunc/--trunc-cutoff give).
    ref = reference_v1_generator(params, z, c, lod=2.0, psi=0.7, cutoff=4, fused_scale=fused_scale)
    _close(G(z, c, truncation_psi=0.7, truncation_cutoff=4, noise_mode="const").numpy(), _nhwc(ref))
    # G carries its own weights.
    assert not np.allclose(snap.G(z, c, noise_mode="const").numpy(), G(z, c, noise_mode="const").numpy())


def test_revised_import_matches_official_definition(tmp_path):
    """G_main(G_synthesis_stylegan_revised) / D_stylegan at 16x16: lod 1.5 from the pickle, then 0, 0.5, 2."""
    data, nets = make_growing_pickle("revised", seed=3, resolution=16, lod=1.5, extra_d_kwargs={"mbstd_group_size": 2})
    snap = load_network(_write(tmp_path, data))
    G, D = snap.G_ema, snap.D
    assert isinstance(G.synthesis, RevisedSynthesis) and D.architecture == "orig" and D.mbstd_group_size == 2
    assert "official_truncation" not in snap.metadata
    rng = np.random.default_rng(4)
    z = rng.standard_normal((2, 8)).astype(np.float32)
    img = rng.standard_normal((4, 16, 16, 3)).astype(np.float32)
    params, d_vars = _params(nets, "Gs"), dict(nets["D"])
    for lod in (None, 0.0, 0.5, 2.0):
        if lod is None:
            lod = 1.5
            assert float(G.synthesis.lod.numpy()) == 1.5 and float(D.lod.numpy()) == 1.5
        else:
            G.synthesis.lod.assign(lod)
            D.lod.assign(lod)
        _close(G(z, noise_mode="const").numpy(), _nhwc(reference_revised_generator(params, z, lod=lod)))
        ref_d = reference_growing_discriminator(d_vars, _nchw(img), lod=lod, variant="revised", group_size=2)
        _close(D(img).numpy(), ref_d)


def test_gs_only_v1_pickle_and_generator_lod_governs(tmp_path):
    """A lone Gs imports; the synthesis lod is G_style's own `lod` (which G_style assigns before every run)."""
    def stale(nets):
        s = nets["Gs"][2]
        s[:] = [(k, np.float32(0.0) if k == "lod" else v) for k, v in s]
    data, _ = make_growing_pickle("stylegan1", seed=5, lod=1.0, tamper=stale, gs_only=True)
    snap = import_official_pickle(_write(tmp_path, data))
    assert snap.G is None and snap.D is None and float(snap.G_ema.synthesis.lod.numpy()) == 1.0


def test_unknown_build_functions_are_named(tmp_path):
    from official_format import dump_official, _network_state

    def pickle_with(g_func, syn_func, d_func):
        def build(Network):
            kw = dict(resolution=8, num_channels=3)
            g = _network_state(Network, "G", g_func, kw, [], {
                "mapping": _network_state(Network, "G_mapping", "G_mapping", kw, []),
                "synthesis": _network_state(Network, "G_synthesis", syn_func, kw, [])})
            return g, _network_state(Network, "D", d_func, kw, []), g
        return _write(tmp_path, dump_official(build), f"{g_func}-{syn_func}-{d_func}.pkl")

    with pytest.raises(ValueError, match="unsupported generator build function 'G_fancy'"):
        load_network(pickle_with("G_fancy", "G_synthesis", "D_basic"))
    with pytest.raises(ValueError, match="unsupported synthesis network 'G_synthesis_stylegan2' under G_style"):
        load_network(pickle_with("G_style", "G_synthesis_stylegan2", "D_basic"))
    with pytest.raises(ValueError, match="unsupported synthesis network 'G_synthesis_mystery' under G_main"):
        load_network(pickle_with("G_main", "G_synthesis_mystery", "D_basic"))
    data, _ = make_growing_pickle("stylegan1", seed=6)
    data = data.replace(b"D_basic", b"D_weird")
    with pytest.raises(ValueError, match="unsupported discriminator build function 'D_weird'"):
        load_network(_write(tmp_path, data, "dweird.pkl"))
    data, _ = make_growing_pickle("stylegan1", seed=6, extra_g_kwargs={"structure": "fixed"})
    with pytest.raises(ValueError, match="unsupported structure='fixed'"):
        load_network(_write(tmp_path, data, "fixed.pkl"))
    data, _ = make_growing_pickle("stylegan1", seed=6, extra_g_kwargs={"use_pixel_norm": True})
    with pytest.raises(ValueError, match="unsupported use_pixel_norm=True"):
        load_network(_write(tmp_path, data, "pn.pkl"))


# ---------------------------------------------------------------------------------------------------------------------
# Level of detail, independently of the numpy statement.

def _copy_shifted(src, dst):
    """dst (2**(L-1) px) <- src's weights (2**L px) for the shared layers: the lod-k ToRGB/FromRGB of dst is
    src's lod-(k+1); noise buffers, mapping and blocks keep their names."""
    values = network_values(src)
    for name, var in dst.named_variables().items():
        key = name
        for tag in ("ToRGB_lod", "FromRGB_lod"):
            if tag in name:
                head, tail = name.split(tag)
                k, rest = tail.split("/", 1)
                key = f"{head}{tag}{int(k) + 1}/{rest}"
        if name.endswith("lod") and "_lod" not in name:
            continue
        var.assign(values[key])


@pytest.mark.parametrize("arch", ["stylegan1", "orig"])
def test_integer_lod_is_the_upsampled_lower_resolution(arch):
    """At lod k the 16x16 generator's image is the 2**k-times nearest-upsampled image of the (16/2**k)-px network
    with the same weights, and the discriminator sees the 2**k box-downsampled image; a fractional lod blends the
    generator's images linearly."""
    G16 = Generator(img_resolution=16, architecture=arch, **TINY)
    G8 = Generator(img_resolution=8, architecture=arch, **TINY)
    D16 = GrowingDiscriminator(img_resolution=16, architecture=arch, fmap_base=32, fmap_max=8)
    D8 = GrowingDiscriminator(img_resolution=8, architecture=arch, fmap_base=32, fmap_max=8)
    rng = np.random.default_rng(7)
    for net in (G16, D16):
        for var in net.trainable_variables:
            var.assign(var + 0.3 * rng.standard_normal(var.shape).astype(np.float32))
    _copy_shifted(G16, G8)
    _copy_shifted(D16, D8)
    z = rng.standard_normal((2, 8)).astype(np.float32)
    img = rng.standard_normal((4, 16, 16, 3)).astype(np.float32)
    full = G16(z, noise_mode="const").numpy()
    G16.synthesis.lod.assign(1.0)
    half = G16(z, noise_mode="const").numpy()
    np.testing.assert_allclose(half, nearest_upsample(G8(z, noise_mode="const"), 2).numpy(), rtol=1e-6, atol=1e-6)
    assert not np.allclose(half, full, atol=1e-3)
    D16.lod.assign(1.0)
    np.testing.assert_allclose(D16(img).numpy(), D8(box_downsample(img, 2)).numpy(), rtol=1e-5, atol=1e-5)
    G16.synthesis.lod.assign(0.25)
    np.testing.assert_allclose(G16(z, noise_mode="const").numpy(), 0.75 * full + 0.25 * half, rtol=1e-5, atol=1e-5)
    G16.synthesis.lod.assign(2.0)
    G8.synthesis.lod.assign(1.0)
    np.testing.assert_allclose(G16(z, noise_mode="const").numpy(),
                               nearest_upsample(G8(z, noise_mode="const"), 2).numpy(), rtol=1e-6, atol=1e-6)


def test_revised_at_lod_0_is_the_orig_architecture():
    """lod = 0: the revised synthesis / D_stylegan compute StyleGAN2's 'orig' G and D with the same weights."""
    Gg = Generator(img_resolution=16, architecture="orig", **TINY)
    Gf = Generator(img_resolution=16, architecture="orig", **{k: v for k, v in TINY.items() if k != "structure"})
    Dg = GrowingDiscriminator(img_resolution=16, architecture="orig", fmap_base=32, fmap_max=8)
    Df = Discriminator(img_resolution=16, architecture="orig", fmap_base=32, fmap_max=8)
    rng = np.random.default_rng(8)
    for grow, fixed, rename in ((Gg, Gf, {"synthesis/ToRGB_lod0/": "synthesis/16x16/ToRGB/"}),
                                (Dg, Df, {"FromRGB_lod0/": "16x16/FromRGB/"})):
        for var in grow.trainable_variables:
            var.assign(var + 0.3 * rng.standard_normal(var.shape).astype(np.float32))
        targets = fixed.named_variables()
        for name, value in network_values(grow).items():
            for a, b in rename.items():
                name = name.replace(a, b)
            if name in targets:
                targets[name].assign(value)
    z = rng.standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(Gg(z, noise_mode="const").numpy(), Gf(z, noise_mode="const").numpy(), rtol=1e-6,
                               atol=1e-6)
    img = rng.standard_normal((4, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(Dg(img).numpy(), Df(img).numpy(), rtol=1e-6, atol=1e-6)


def test_active_style_layers_and_growing_style_mixing():
    assert [active_style_layers(10, lod) for lod in (0, 0.5, 1, 2.7, -1)] == [10, 10, 8, 6, 10]
    assert int(active_style_layers(10, tf.constant(2.7))) == 6
    G = Generator(img_resolution=16, architecture="orig", **TINY)
    G.synthesis.lod.assign(1.0)
    assert int(G.active_style_layers()) == 4
    tf.random.set_seed(3)
    z = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    crossovers = set()
    for _ in range(25):  # the official crossover is drawn in [1, active layers): layers 4, 5 always mixed
        _, ws = G(z, style_mixing_prob=1.0, return_ws=True)
        ws = ws.numpy()
        assert not np.allclose(ws[:, 4], ws[:, 0]) and np.array_equal(ws[:, 4], ws[:, 5])
        crossovers.add(int(np.argmax([not np.array_equal(ws[0, i], ws[0, 0]) for i in range(6)])))
    assert crossovers == {1, 2, 3}


def test_input_gradient_through_the_lod_blend():
    """D's input gradient through the nested tf.cond at fractional and integer lods agrees with central differences
    (a smooth activation, so that finite differences are accurate)."""
    # Fixed weights: the test used to inherit the global RNG state of the tests before it, and for some weight
    # draws float32 round-off in D's output (not the gradient) exceeds the 1e-3 tolerance of a directional
    # derivative this small (~5e-3); with these weights the check has a 10x margin.
    import keras
    keras.utils.set_random_seed(4)
    D = GrowingDiscriminator(img_resolution=8, img_channels=1, architecture="orig", fmap_base=16, fmap_max=4,
                             nonlinearity="softplus", impl="ref")
    rng = np.random.default_rng(9)
    x = tf.constant(rng.standard_normal((2, 8, 8, 1)), tf.float32)
    for lod in (0.0, 0.5, 1.0):
        D.lod.assign(lod)
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(D(x))
        grad = tape.gradient(score, x).numpy().astype(np.float64)
        for _ in range(2):
            v = rng.standard_normal(x.shape)
            eps = 1e-2
            num = (float(tf.reduce_sum(D(x + eps * v))) - float(tf.reduce_sum(D(x - eps * v)))) / (2 * eps)
            np.testing.assert_allclose(np.sum(grad * v), num, rtol=1e-3, atol=1e-3 * np.abs(grad * v).sum())


@pytest.mark.parametrize("arch", ["stylegan1", "orig"])
def test_gradients_through_the_lod_conditions(arch):
    """In a tf.function, weights of resolutions the lod does not use get exactly zero gradient (also R1's, second
    order, through D's nested tf.cond), the others finite nonzero ones."""
    D = GrowingDiscriminator(img_resolution=8, img_channels=1, architecture=arch, fmap_base=16, fmap_max=4,
                             impl="ref")
    G = Generator(img_resolution=8, img_channels=1, architecture=arch, impl="ref",
                  **{k: v for k, v in TINY.items() if k != "img_channels"})
    G.synthesis.lod.assign(1.0)
    D.lod.assign(1.0)
    z = tf.constant(np.random.default_rng(10).standard_normal((2, 8)), tf.float32)

    @tf.function
    def grads():
        with tf.GradientTape(persistent=True) as tape:
            img = G(z, noise_mode="const")
            with tf.GradientTape() as inner:
                inner.watch(img)
                score = tf.reduce_sum(D(img))
            r1 = tf.reduce_sum(tf.square(inner.gradient(score, img)))
        return tape.gradient(score, G.trainable_variables), tape.gradient(r1, D.trainable_variables)
    g_grads, r1_grads = grads()
    g_names = {id(v): n for n, v in G.named_variables().items()}
    d_names = {id(v): n for n, v in D.named_variables().items()}
    for grads_, variables, names in ((g_grads, G.trainable_variables, g_names),
                                     (r1_grads, D.trainable_variables, d_names)):
        for grad, var in zip(grads_, variables):
            name = names[id(var)]
            unused = "8x8/" in name or "_lod0/" in name
            if unused:
                assert grad is None or not np.any(grad.numpy()), name
            elif not (grads_ is r1_grads and name.endswith("bias")):  # R1 is piecewise constant in D's biases
                assert grad is not None and np.all(np.isfinite(grad.numpy())) and np.any(grad.numpy()), name


@pytest.mark.parametrize("arch", ["stylegan1", "orig"])
def test_static_lod_level_graph_equals_the_dynamic_one_and_has_second_order_gradients(arch):
    """The training step's graph (lod_level = floor(lod): one level's layers, no tf.cond) computes what the nested
    tf.cond computes, at integer and fractional lods of a 32x32 network (three levels). Its second-order gradients
    (R1 through D, path length through G) exist: through the nested conds TensorFlow fails them at 32x32
    ("Trying to add unsupported dtype 10" in AddN), which is why the trainer uses the static graph."""
    kw = dict(img_resolution=32, img_channels=1, architecture=arch, fmap_base=32, fmap_max=4, impl="ref")
    G = Generator(structure="growing", z_dim=8, w_dim=8, mapping_layers=1, **kw)
    D = GrowingDiscriminator(mbstd_group_size=2, **kw)
    z = tf.constant(np.random.default_rng(11).standard_normal((4, 8)), tf.float32)
    for lod in (0.0, 0.25, 0.999998, 1.0, 1.5, 2.0, 2.75, 3.0):
        level = int(np.floor(lod))
        G.synthesis.lod.assign(lod)
        D.lod.assign(lod)
        ws = G.mapping(z)
        img = G.synthesis(ws, noise_mode="const")
        np.testing.assert_allclose(G.synthesis(ws, noise_mode="const", lod_level=level).numpy(), img.numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=str(lod))
        np.testing.assert_allclose(D(img, lod_level=level).numpy(), D(img).numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=str(lod))
    for lod in (0.5, 0.999998, 1.5):
        level = int(np.floor(lod))
        G.synthesis.lod.assign(lod)
        D.lod.assign(lod)

        @tf.function
        def second_order():
            with tf.GradientTape(persistent=True) as tape:
                ws = G.mapping(z)
                with tf.GradientTape(persistent=True) as inner:
                    inner.watch(ws)
                    img = G.synthesis(ws, noise_mode="const", lod_level=level)
                    inner.watch(img)
                    score = tf.reduce_sum(D(img, lod_level=level))
                    y = tf.reduce_sum(img * tf.ones_like(img))
                r1 = tf.reduce_sum(tf.square(inner.gradient(score, img)))
                pl = tf.reduce_sum(tf.square(inner.gradient(y, ws)))
            d_vars = [v.value for v in D.trainable_variables]
            g_vars = [v.value for v in G.trainable_variables]
            zero = tf.UnconnectedGradients.ZERO
            return tape.gradient(r1, d_vars, unconnected_gradients=zero), tape.gradient(pl, g_vars,
                                                                                      unconnected_gradients=zero)
        r1_grads, pl_grads = second_order()
        for g in r1_grads + pl_grads:
            assert np.all(np.isfinite(g.numpy()))
        assert sum(np.abs(g.numpy()).sum() for g in r1_grads) > 0 and sum(np.abs(g.numpy()).sum() for g in pl_grads) > 0
    with pytest.raises(ValueError, match="lod_level must be an int in \\[0, 3\\]"):
        D(img, lod_level=4)


# ---------------------------------------------------------------------------------------------------------------------
# Snapshots, configs, EMA, bad input.

@pytest.mark.parametrize("arch", ["stylegan1", "orig"])
def test_snapshot_round_trip_clone_and_ema(tmp_path, arch):
    G = Generator(img_resolution=16, architecture=arch, **TINY)
    D = GrowingDiscriminator(img_resolution=16, architecture=arch, fmap_base=32, fmap_max=8, mbstd_group_size=2)
    G.synthesis.lod.assign(1.5)
    D.lod.assign(1.5)
    G_ema = clone_network(G)
    assert float(G_ema.synthesis.lod.numpy()) == 1.5
    G.synthesis.lod.assign(1.25)
    update_ema(G_ema, G, 0.9)  # lod is non-trainable: copied, not averaged
    assert float(G_ema.synthesis.lod.numpy()) == 1.25
    path = save_network(str(tmp_path / "snap.npz"), G=G, D=D, G_ema=G_ema, metadata={"kimg": 1})
    with np.load(path, allow_pickle=False) as data:
        assert "G/synthesis/lod" in data.files and "D/lod" in data.files and "D/FromRGB_lod2/weight" in data.files
    net = load_network(path)
    assert isinstance(net.D, GrowingDiscriminator) and net.G.get_config() == G.get_config()
    assert net.D.get_config() == D.get_config()
    for a, b in ((G, net.G), (D, net.D), (G_ema, net.G_ema)):
        va, vb = network_values(a), network_values(b)
        assert va.keys() == vb.keys() and all(np.array_equal(va[k], vb[k]) for k in va)
    z = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    img = G(z, noise_mode="const")
    np.testing.assert_array_equal(net.G(z, noise_mode="const").numpy(), img.numpy())
    np.testing.assert_array_equal(net.D(img).numpy(), D(img).numpy())
    Dc = clone_network(D)
    np.testing.assert_array_equal(Dc(img).numpy(), D(img).numpy())


def test_layer_configs_round_trip():
    G = Generator(img_resolution=16, architecture="stylegan1", fused_scale=True, blur_filter=[1, 4, 6, 4, 1], **TINY)
    assert Generator.from_config(G.get_config()).get_config() == G.get_config()
    for layer in (G.synthesis, Generator(img_resolution=8, architecture="orig", **TINY).synthesis,
                  AdaIN(4, 3, use_noise=False, activation="relu"), StyleGAN1Layer(3, 4, up=True, fused_up=True)):
        cfg = layer.get_config()
        assert type(layer).from_config(cfg).get_config() == cfg


def test_bad_configurations_are_clear_errors():
    fixed = {k: v for k, v in TINY.items() if k != "structure"}
    with pytest.raises(ValueError, match="'stylegan1'.*only with structure='growing'"):
        Generator(img_resolution=8, architecture="stylegan1", **fixed)
    with pytest.raises(ValueError, match="structure='growing' supports architecture.*got 'skip'"):
        Generator(img_resolution=8, architecture="skip", **TINY)
    with pytest.raises(ValueError, match="structure must be one of"):
        Generator(img_resolution=8, **dict(TINY, structure="recursive"))
    with pytest.raises(ValueError, match="blur_filter must be None or odd-length and symmetric"):
        Generator(img_resolution=8, architecture="stylegan1", blur_filter=[1, 1], **TINY)
    with pytest.raises(ValueError, match="fused_scale must be"):
        Generator(img_resolution=8, architecture="stylegan1", fused_scale="yes", **TINY)
    with pytest.raises(ValueError, match="architecture must be one of"):
        GrowingDiscriminator(img_resolution=8, architecture="resnet")
    with pytest.raises(ValueError, match="nonlinearity"):
        GrowingDiscriminator(img_resolution=8, architecture="stylegan1", nonlinearity="swish")
    G = Generator(img_resolution=8, architecture="stylegan1", **TINY)
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 4, 8\]"):
        G.synthesis(np.zeros((1, 3, 8), np.float32))
    with pytest.raises(ValueError, match="noise_inputs: expected 4 tensors"):
        G.synthesis(np.zeros((1, 4, 8), np.float32), noise_inputs=[None])


def test_projector_accepts_growing_generator(tmp_path):
    """The projector optimizes the StyleGAN1 network's noise maps too (6 maps, the 4x4 const layer's included)."""
    from stylegan2_tf import projector
    G = Generator(img_resolution=8, architecture="stylegan1", **TINY)
    G.synthesis.lod.assign(0.5)
    target = G(np.zeros((1, 8), np.float32), noise_mode="const").numpy()[0]
    res = projector.project(G, target, projector.ProjectorConfig(steps=2, w_avg_samples=64))
    assert sorted(res.noise) == [f"noise{i}" for i in range(4)] and np.all(np.isfinite(res.losses))
    np.testing.assert_allclose(projector.render_projected(G, res.w, res.noise), res.image, rtol=1e-5, atol=1e-5)
