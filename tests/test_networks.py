"""StyleGAN2 networks: equivalences, conventions, parameter counts, configs, snapshots."""
import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from stylegan2_tf.networks import (Discriminator, EqualizedConv2D, EqualizedDense, Generator,  # noqa: E402
                                   MappingNetwork, ModulatedConv2D, SynthesisLayer, ToRGB, minibatch_stddev,
                                   mix_styles, nf, style_mixing_cutoff)
from stylegan2_tf.ops import bias_act, custom_ops_available  # noqa: E402
from stylegan2_tf.serialization import (clone_network, load_network, network_values, save_network,  # noqa: E402
                                        update_ema)

TINY_G = dict(z_dim=8, w_dim=8, img_resolution=16, img_channels=3, mapping_layers=2, fmap_base=64, fmap_max=16)
TINY_D = dict(img_resolution=16, img_channels=3, fmap_base=64, fmap_max=16)


def _z(n=4, dim=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


# ---------------------------------------------------------------------------------------------------------------------
# Channel counts and parameter counts of the official configurations.

def test_channel_formula():
    # config F (fmap_base 16384, fmap_max 512): 512 up to 64x64, then halving.
    assert [nf(s, 16384) for s in range(0, 10)] == [512, 512, 512, 512, 512, 512, 256, 128, 64, 32]
    # config E (fmap_base 8192).
    assert [nf(s, 8192) for s in range(0, 10)] == [512, 512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert nf(12, 16384, fmap_min=8) == 8


def test_config_e_layer_channels_256():
    # Config E (fmap_base 8192): 512 channels up to 32x32, then 256, 128, 64 at 64, 128, 256.
    expected = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64}
    G = Generator(img_resolution=256, fmap_base=8192)
    D = Discriminator(img_resolution=256, fmap_base=8192)
    gv, dv = G.named_variables(), D.named_variables()
    assert gv["synthesis/4x4/Const/const"].shape == (4, 4, 512)
    for r, c in expected.items():
        if r > 4:
            assert gv[f"synthesis/{r}x{r}/Conv0_up/weight"].shape == (3, 3, expected[r // 2], c)
            assert dv[f"{r}x{r}/Conv0/weight"].shape == (3, 3, c, c)
            assert dv[f"{r}x{r}/Conv1_down/weight"].shape == (3, 3, c, expected[r // 2])
        assert gv[f"synthesis/{r}x{r}/{'Conv' if r == 4 else 'Conv1'}/weight"].shape[-1] == c
    assert dv["256x256/FromRGB/weight"].shape == (1, 1, 3, 64)
    assert dv["4x4/Conv/weight"].shape == (3, 3, 513, 512) and dv["4x4/Dense0/weight"].shape == (8192, 512)


@pytest.mark.parametrize("res,g_count,d_count", [(1024, 30_370_060, 29_012_513), (256, 30_034_338, 28_864_129)])
def test_config_f_parameter_counts(res, g_count, d_count):
    G = Generator(img_resolution=res)
    D = Discriminator(img_resolution=res)
    assert _count(G.trainable_weights) == g_count
    assert _count(D.trainable_weights) == d_count
    assert _count(G.mapping.trainable_weights) == 2_101_248
    # Non-trainable state: w_avg and one noise buffer per conv layer.
    noise = sum(4 ** ((i + 5) // 2) for i in range(G.num_ws - 1))
    assert _count(G.non_trainable_weights) == 512 + noise
    assert G.num_ws == 2 * int(math.log2(res)) - 2
    assert set(G.named_variables()) and len(G.named_variables()) == len(G.weights)
    assert len(D.named_variables()) == len(D.weights)


# ---------------------------------------------------------------------------------------------------------------------
# Layers against closed forms.

def test_equalized_dense_formula():
    layer = EqualizedDense(5, lr_mul=0.01, activation="lrelu")
    layer.build((None, 7))
    layer.bias.assign(np.arange(5, dtype=np.float32))
    # Stored weights ~ N(0, 1/lr_mul).
    assert 20 < np.std(layer.weight.numpy()) < 300
    x = _z(3, 7)
    y = x @ (layer.weight.numpy() * 0.01 / np.sqrt(7)) + np.arange(5) * 0.01
    ref = np.where(y > 0, y, 0.2 * y) * np.sqrt(2)
    np.testing.assert_allclose(layer(x).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_modulated_conv_matches_per_sample_numpy():
    layer = ModulatedConv2D(4, 3, 6)
    layer.build((None, 5, 5, 3))
    layer.mod_bias.assign(np.random.default_rng(1).standard_normal(3).astype(np.float32))
    x = np.random.default_rng(2).standard_normal((2, 5, 5, 3)).astype(np.float32)
    w = _z(2, 6)
    wt = layer.weight.numpy() / np.sqrt(27)
    s = w @ (layer.mod_weight.numpy() / np.sqrt(6)) + layer.mod_bias.numpy() + 1
    out = layer(x, w, fused_modconv=False).numpy()
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    for b in range(2):
        ww = wt * s[b][None, None, :, None]
        ww = ww / np.sqrt((ww ** 2).sum(axis=(0, 1, 2)) + 1e-8)
        ref = np.zeros((5, 5, 4))
        for i in range(3):
            for j in range(3):
                ref += np.einsum("hwc,co->hwo", xp[b, i:i + 5, j:j + 5], ww[i, j])
        np.testing.assert_allclose(out[b], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("up,k,demod", [(False, 3, True), (True, 3, True), (False, 1, False)])
def test_fused_equals_non_fused(up, k, demod):
    layer = ModulatedConv2D(5, k, 7, up=up, demodulate=demod)
    layer.build((None, 8, 8, 4))
    layer.mod_bias.assign(np.random.default_rng(0).standard_normal(4).astype(np.float32))
    x = np.random.default_rng(1).standard_normal((3, 8, 8, 4)).astype(np.float32)
    w = _z(3, 7)
    a = layer(x, w, fused_modconv=True).numpy()
    b = layer(x, w, fused_modconv=False).numpy()
    assert a.shape == (3, 16 if up else 8, 16 if up else 8, 5)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
def test_generator_fused_equals_non_fused(arch):
    G = Generator(**TINY_G, architecture=arch)
    z = _z()
    a = G(z, noise_mode="const", fused_modconv=True).numpy()
    b = G(z, noise_mode="const", fused_modconv=False).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_minibatch_stddev_strided_groups():
    x = np.random.default_rng(0).standard_normal((8, 3, 3, 6)).astype(np.float32)
    y = minibatch_stddev(x, group_size=4, num_features=2).numpy()
    assert y.shape == (8, 3, 3, 8)
    np.testing.assert_array_equal(y[..., :6], x)
    for i in range(8):
        members = x[i % 2::2]  # official grouping: sample i is in group i mod (N / G)
        for f in range(2):
            sd = np.sqrt(members[..., f * 3:(f + 1) * 3].var(axis=0) + 1e-8).mean()
            np.testing.assert_allclose(y[i, :, :, 6 + f], sd, rtol=1e-5)
    # group size larger than the batch -> whole batch.
    y3 = minibatch_stddev(x[:3], group_size=4).numpy()
    np.testing.assert_allclose(y3[0, 0, 0, 6], np.sqrt(x[:3].var(axis=0) + 1e-8).mean(), rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------------
# Generator behaviour.

def test_api_shapes_and_attributes():
    G = Generator(**TINY_G)
    D = Discriminator(**TINY_D)
    assert (G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution, G.img_channels) == (8, 8, 0, 6, 16, 3)
    ws = G.mapping(_z())
    assert ws.shape == (4, 6, 8)
    img = G.synthesis(ws, noise_mode="const")
    assert img.shape == (4, 16, 16, 3) and img.dtype == tf.float32
    assert D(img).shape == (4, 1)

    # float64 numpy / tensor inputs are accepted (cast to float32).
    np.testing.assert_allclose(G.mapping(_z().astype(np.float64)).numpy(), ws.numpy(), rtol=1e-6)
    np.testing.assert_allclose(G.mapping(tf.constant(_z(), tf.float64)).numpy(), ws.numpy(), rtol=1e-6)

    @tf.function
    def step(z):
        return D(G(z, noise_mode="random"))
    assert step(tf.constant(_z())).shape == (4, 1)

    # Graph with an unknown batch size and a tensor psi, fused form (grouped conv) against eager non-fused.
    @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32), tf.TensorSpec([], tf.float32)])
    def gen(z, psi):
        img = G(z, truncation_psi=psi, noise_mode="const", fused_modconv=True)
        return img, D(img)
    img_g, logits_g = gen(_z(), tf.constant(0.7))
    img_e = G(_z(), truncation_psi=0.7, noise_mode="const", fused_modconv=False)
    np.testing.assert_allclose(img_g.numpy(), img_e.numpy(), rtol=1e-5, atol=1e-5 * np.abs(img_e.numpy()).max())
    np.testing.assert_allclose(logits_g.numpy(), D(img_e).numpy(), rtol=1e-4, atol=1e-5)


def test_truncation_psi_one_is_identity_and_formula():
    G = Generator(**TINY_G)
    G.mapping.w_avg.assign(np.linspace(-1, 1, 8).astype(np.float32))
    z = _z()
    ws = G.mapping(z).numpy()
    np.testing.assert_array_equal(G.mapping(z, truncation_psi=1.0).numpy(), ws)
    np.testing.assert_array_equal(G.mapping(z, truncation_psi=1.0, truncation_cutoff=3).numpy(), ws)
    avg = G.mapping.w_avg.numpy()
    wt = G.mapping(z, truncation_psi=0.7, truncation_cutoff=3).numpy()
    np.testing.assert_allclose(wt[:, :3], avg + 0.7 * (ws[:, :3] - avg), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(wt[:, 3:], ws[:, 3:])
    np.testing.assert_allclose(G.mapping(z, truncation_psi=0.0).numpy(), np.broadcast_to(avg, ws.shape), atol=1e-6)


def test_noise_modes():
    G = Generator(**TINY_G)
    for layer_name in ("4x4/Conv", "8x8/Conv0_up", "16x16/Conv1"):
        G.synthesis.blocks[layer_name].noise_strength.assign(0.5)
    z = _z()
    a = G(z, noise_mode="const").numpy()
    np.testing.assert_array_equal(a, G(z, noise_mode="const").numpy())
    r1, r2 = G(z, noise_mode="random").numpy(), G(z, noise_mode="random").numpy()
    assert not np.allclose(r1, r2)
    n = G(z, noise_mode="none").numpy()
    np.testing.assert_array_equal(n, G(z, noise_mode="none").numpy())
    assert not np.allclose(n, a)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="loud")


@pytest.mark.skipif(not custom_ops_available(), reason="needs the compiled ops (the addend is the custom op's path)")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("up,noise_mode", [(False, "random"), (True, "random"), (True, "const")])
def test_synthesis_noise_add_in_the_demodulation_is_bit_identical(dtype, up, noise_mode):
    """The synthesis layer adds noise * strength in the demodulation's pass (channel_scale's addend). Its output is
    bit-identical to the modulated conv followed by a separate broadcasting add and bias_act (the layer before the
    add moved), in float32 and bfloat16, with given, drawn and constant noise."""
    layer = SynthesisLayer(6, 7, up=up, conv_clamp=256.0, impl="custom")
    x = tf.cast(np.random.default_rng(1).standard_normal((3, 5, 5, 4)) * 2, dtype)
    layer.build(x.shape)
    layer.noise_strength.assign(0.7)
    layer.bias.assign(np.random.default_rng(2).standard_normal(6).astype(np.float32))
    w = _z(3, 7)
    res = 10 if up else 5
    noise_const = tf.constant(np.random.default_rng(3).standard_normal((res, res)).astype(np.float32))
    noise = tf.constant(np.random.default_rng(4).standard_normal((3, res, res, 1)).astype(np.float32))
    kw = dict(noise=noise) if noise_mode == "random" else dict(noise_const=noise_const)
    got = layer(x, w, noise_mode=noise_mode, fused_modconv=False, **kw)
    y = layer.conv(x, w, fused_modconv=False)
    n = noise if noise_mode == "random" else noise_const[tf.newaxis, :, :, tf.newaxis]
    y = y + tf.cast(n * layer.noise_strength, y.dtype)
    want = bias_act(y, layer.bias, act="lrelu", clamp=256.0, impl="custom")
    assert got.dtype == want.dtype == tf.as_dtype(dtype)
    np.testing.assert_array_equal(tf.cast(got, tf.float64).numpy(), tf.cast(want, tf.float64).numpy())


def test_w_avg_update_formula():
    G = Generator(**TINY_G)
    prev = np.linspace(0, 1, 8).astype(np.float32)
    G.mapping.w_avg.assign(prev)
    z = _z()
    w = G.mapping(z).numpy()[:, 0]  # inference: no update
    np.testing.assert_array_equal(G.mapping.w_avg.numpy(), prev)
    G(z, training=True)
    expected = w.mean(axis=0) + (prev - w.mean(axis=0)) * 0.995
    np.testing.assert_allclose(G.mapping.w_avg.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_style_mixing_switches_at_crossover():
    G = Generator(**TINY_G)
    ws1, ws2 = G.mapping(_z(seed=1)), G.mapping(_z(seed=2))
    for cutoff in (1, 3, 5):
        mixed = mix_styles(ws1, ws2, cutoff).numpy()
        np.testing.assert_array_equal(mixed[:, :cutoff], ws1.numpy()[:, :cutoff])
        np.testing.assert_array_equal(mixed[:, cutoff:], ws2.numpy()[:, cutoff:])
    # Inside the generator call: every mixed ws equals the unmixed ones on a prefix and differs after it.
    z = _z(seed=1)
    tf.random.set_seed(3)
    cutoffs = set()
    for _ in range(6):
        _, ws = G(z, style_mixing_prob=1.0, return_ws=True, noise_mode="const")
        ws = ws.numpy()
        same = np.all(np.isclose(ws, ws1.numpy()), axis=(0, 2))
        cutoff = int(np.argmin(same)) if not same.all() else G.num_ws
        assert 1 <= cutoff < G.num_ws and same[:cutoff].all() and not same[cutoff:].any()
        cutoffs.add(cutoff)
    assert len(cutoffs) > 1
    _, ws = G(z, style_mixing_prob=0.0, return_ws=True)
    np.testing.assert_array_equal(ws.numpy(), ws1.numpy())


def test_style_mixing_cutoff_is_stateless():
    """Same seed, same crossover; P(no mixing) = 1 - prob; a mixing draw is uniform in [1, num_ws)."""
    def draws(prob):
        return np.array([int(style_mixing_cutoff(6, prob, tf.constant([7, s]))) for s in range(300)])
    d = draws(0.5)
    np.testing.assert_array_equal(d, draws(0.5))
    counts = np.bincount(d, minlength=7)
    assert counts[0] == 0 and np.all(counts[1:6] > 0)
    assert abs(counts[6] - 150) <= 3 * np.sqrt(300 * 0.25)     # binomial 3-sigma
    assert np.all(draws(0.0) == 6) and np.all(draws(1.0) < 6)


def test_training_gradients_on_cpu():
    G = Generator(**TINY_G)
    D = Discriminator(**TINY_D)
    z = _z()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(D(G(z, training=True, style_mixing_prob=0.9), training=True))
    grads = tape.gradient(loss, G.trainable_weights + D.trainable_weights)
    assert all(g is not None for g in grads)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
def test_resolution_4(arch):
    G = Generator(**dict(TINY_G, img_resolution=4, architecture=arch))
    D = Discriminator(**dict(TINY_D, img_resolution=4, architecture=arch))
    assert G.num_ws == 2
    assert D(G(_z(2))).shape == (2, 1)


def test_grayscale_and_conditional():
    G = Generator(**dict(TINY_G, img_channels=1, img_resolution=8, c_dim=3, label_embed="embed"))
    D = Discriminator(**dict(TINY_D, img_channels=1, img_resolution=8, c_dim=3, label_mapping="embed",
                             mapping_layers=1))
    c = np.eye(3, dtype=np.float32)[[0, 1]]
    img = G(_z(2), c)
    assert img.shape == (2, 8, 8, 1)
    assert D(img, c).shape == (2, 1)
    with pytest.raises(ValueError, match="conditional"):
        G(_z(2))
    with pytest.raises(ValueError, match="conditional"):
        D(img)


def test_bad_inputs_are_clear_errors():
    G = Generator(**TINY_G)
    D = Discriminator(**TINY_D)
    with pytest.raises(ValueError, match=r"z must have shape \[N, 8\]"):
        G(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 6, 8\]"):
        G.synthesis(np.zeros((2, 5, 8), np.float32))
    with pytest.raises(ValueError, match="NHWC"):
        D(np.zeros((2, 3, 16, 16), np.float32))
    with pytest.raises(ValueError, match="must be divisible by the mbstd group size 4"):
        D(np.zeros((6, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="power of two"):
        Generator(**dict(TINY_G, img_resolution=48))
    with pytest.raises(ValueError, match="architecture"):
        Discriminator(**dict(TINY_D, architecture="unet"))


# ---------------------------------------------------------------------------------------------------------------------
# custom ops vs reference ops through the whole networks.

@pytest.mark.skipif(not custom_ops_available(), reason="compiled custom ops library not built")
@pytest.mark.parametrize("g_arch,d_arch", [("skip", "resnet"), ("resnet", "skip")])
def test_custom_ops_match_reference_through_networks(g_arch, d_arch):
    G_ref = Generator(**TINY_G, architecture=g_arch, impl="ref")
    G_cus = clone_network(G_ref, impl="custom")
    D_ref = Discriminator(**TINY_D, architecture=d_arch, impl="ref")
    D_cus = clone_network(D_ref, impl="custom")
    z = _z()
    a = G_ref(z, noise_mode="const", fused_modconv=False)
    b = G_cus(z, noise_mode="const", fused_modconv=False)
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5 * np.abs(a.numpy()).max())
    np.testing.assert_allclose(D_cus(a).numpy(), D_ref(a).numpy(), rtol=1e-4, atol=1e-5)

    def grads(G, D):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(D(G(z, noise_mode="const", training=True), training=True))
        return tape.gradient(loss, G.trainable_weights + D.trainable_weights)
    for gr, gc in zip(grads(G_ref, D_ref), grads(G_cus, D_cus)):
        np.testing.assert_allclose(gc.numpy(), gr.numpy(), rtol=1e-3, atol=1e-4 * (np.abs(gr.numpy()).max() + 1e-12))

    # Second order (R1 penalty): d/dD-weights of |d D(x) / dx|^2.
    def r1_grads(D):
        x = tf.constant(a.numpy())
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                score = tf.reduce_sum(D(x, training=True))
            penalty = tf.reduce_sum(tf.square(inner.gradient(score, x)))
        return outer.gradient(penalty, D.trainable_weights)
    r_ref, r_cus = r1_grads(D_ref), r1_grads(D_cus)
    # A None gradient means "does not depend" (e.g. the output bias, or a bias seen only through piecewise-linear
    # lrelu slopes when the op's second derivative is known to vanish): compare it as zeros.
    dense = lambda g, v: np.zeros(v.shape, np.float32) if g is None else g.numpy()  # noqa: E731
    assert sum(g is not None for g in r_ref) > len(r_ref) // 2
    for var, gr, gc in zip(D_ref.trainable_weights, r_ref, r_cus):
        gr, gc = dense(gr, var), dense(gc, var)
        np.testing.assert_allclose(gc, gr, rtol=1e-3, atol=1e-4 * (np.abs(gr).max() + 1e-6), err_msg=var.path)


# ---------------------------------------------------------------------------------------------------------------------
# Configs and snapshots.

def test_get_config_round_trip():
    G = Generator(**TINY_G, architecture="resnet")
    G2 = Generator.from_config(G.get_config())
    assert G2.get_config() == G.get_config()
    D = Discriminator(**TINY_D, mbstd_group_size=None)
    assert Discriminator.from_config(D.get_config()).get_config() == D.get_config()
    for layer in (EqualizedDense(3), EqualizedConv2D(3, 3, down=True), MappingNetwork(4, 0, 4, 2, mapping_layers=1),
                  ModulatedConv2D(3, 3, 4, up=True), SynthesisLayer(3, 4, up=True, conv_clamp=8.0), ToRGB(1, 4),
                  G.synthesis):
        cfg = layer.get_config()
        assert type(layer).from_config(cfg).get_config() == cfg


def test_keras_native_save_load(tmp_path):
    import keras
    G = Generator(**dict(TINY_G, img_resolution=8))
    D = Discriminator(**dict(TINY_D, img_resolution=8))
    G.save(tmp_path / "g.keras")
    D.save(tmp_path / "d.keras")
    G2, D2 = keras.models.load_model(tmp_path / "g.keras"), keras.models.load_model(tmp_path / "d.keras")
    z = _z(2)
    img = G(z, noise_mode="const").numpy()
    np.testing.assert_array_equal(G2(z, noise_mode="const").numpy(), img)
    np.testing.assert_array_equal(D2(img).numpy(), D(img).numpy())


def test_snapshot_round_trip_and_errors(tmp_path):
    G = Generator(**TINY_G)
    D = Discriminator(**TINY_D)
    G_ema = clone_network(G)
    G_ema.mapping.w_avg.assign(np.ones(8, np.float32))
    path = save_network(str(tmp_path / "snap.npz"), G=G, D=D, G_ema=G_ema, metadata={"kimg": 12})
    assert sorted(os.listdir(tmp_path)) == ["snap.npz"]  # no temporary left behind
    with np.load(path, allow_pickle=False) as data:
        assert "G_ema/synthesis/16x16/Conv0_up/weight" in data.files
    net = load_network(path)
    assert net.metadata == {"kimg": 12}
    for a, b in ((G, net.G), (D, net.D), (G_ema, net.G_ema)):
        va, vb = network_values(a), network_values(b)
        assert va.keys() == vb.keys()
        for k in va:
            np.testing.assert_array_equal(va[k], vb[k])
    z = _z()
    np.testing.assert_array_equal(net.G_ema(z, noise_mode="const").numpy(), G_ema(z, noise_mode="const").numpy())

    with pytest.raises(FileNotFoundError):
        load_network(str(tmp_path / "missing.npz"))
    (tmp_path / "junk.bin").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="junk.bin is not a network file this package reads"):
        load_network(str(tmp_path / "junk.bin"))
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a stylegan2_tf snapshot"):
        load_network(str(tmp_path / "other.npz"))
    # Variable/config mismatch: drop one variable and change a shape.
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    bad = dict(arrays)
    del bad["D/4x4/Dense0/bias"]
    np.savez(tmp_path / "bad1.npz", **bad)
    with pytest.raises(ValueError, match=r"D does not match its configuration: missing variables \['4x4/Dense0/bias'\]"):
        load_network(str(tmp_path / "bad1.npz"))
    bad = dict(arrays)
    bad["G/mapping/Dense0/weight"] = np.zeros((3, 3), np.float32)
    np.savez(tmp_path / "bad2.npz", **bad)
    with pytest.raises(ValueError, match=r"shape mismatch.*mapping/Dense0/weight"):
        load_network(str(tmp_path / "bad2.npz"))
    with pytest.raises(ValueError, match="JSON"):
        save_network(str(tmp_path / "x.npz"), G=G, metadata={"bad": object()})
    with pytest.raises(ValueError, match="at least one"):
        save_network(str(tmp_path / "x.npz"))


def test_update_ema():
    G = Generator(**TINY_G)
    G_ema = clone_network(G)
    before = network_values(G_ema)
    for v in G.weights:
        v.assign(v + 1.0)
    G.mapping.w_avg.assign(np.full(8, 3.0, np.float32))
    update_ema(G_ema, G, 0.9)
    after, src = network_values(G_ema), network_values(G)
    trainable = {id(v) for v in G.trainable_weights}
    for name, var in G.named_variables().items():
        if id(var) in trainable:
            np.testing.assert_allclose(after[name], src[name] + (before[name] - src[name]) * 0.9, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(after[name], src[name])
    np.testing.assert_array_equal(after["dlatent_avg"], np.full(8, 3.0))
    with pytest.raises(ValueError, match="models differ"):
        update_ema(Generator(**dict(TINY_G, fmap_max=8)), G, 0.9)
    # One implementation behind the public name, serialization and the training import point.
    import stylegan2_tf
    from stylegan2_tf.networks import weights_util
    from stylegan2_tf.training import ema
    assert stylegan2_tf.update_ema is update_ema is weights_util.update_ema
    assert ema.update_ema is weights_util.update_ema_pairs and ema.copy_weights is weights_util.copy_weights
