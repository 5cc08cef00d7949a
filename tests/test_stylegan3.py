"""StyleGAN3 (configs T and R): the schedule, the filter design against scipy, the networks against a numpy statement of
upstream's forward pass (tests/sg3_format.py) through synthetic official pickles, the input transform, the moving
averages, precision placement, snapshots, and the one-line errors of the pickle import.

Tolerances: the imported float32 networks against the float64 statement with atol 1e-4 * max|ref| (15 layers of
float32 rounding; measured below 1e-5); filters against scipy to 1e-12 relative (float64 designs), J1 to 1e-12
absolute; reduced precision against float32 with atol 2e-2 * max|ref| for float16 and 0.15 * max|ref| for bfloat16
(every layer rounds its activations to 11 / 8 significant bits, through 15 layers and their resampling filters).
"""
import os

import numpy as np
import pytest
import scipy.signal
import scipy.special

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import sg3_format as s3  # noqa: E402
import torch_format as tfm  # noqa: E402
from stylegan2_tf.networks import StyleGAN3Generator, stylegan3_kwargs  # noqa: E402
from stylegan2_tf.networks.stylegan3 import filters  # noqa: E402
from stylegan2_tf.networks.stylegan3.schedule import synthesis_schedule  # noqa: E402
from stylegan2_tf.serialization import (clone_network, load_network, network_values, save_network,  # noqa: E402
                                        update_ema)

SMALL_T = dict(channel_base=128, channel_max=16)
SMALL_R = dict(channel_base=256, channel_max=16, conv_kernel=1, use_radial_filters=True)
TRAINING_SET = dict(class_name="training.dataset.ImageFolderDataset", path="/data/x.zip", use_labels=False,
                    max_size=1000, xflip=True, resolution=16, random_seed=0)


def _write(tmp_path, data, name="sg3.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _close(out, ref, rtol=1e-4):
    np.testing.assert_allclose(out, ref, rtol=0, atol=rtol * np.abs(ref).max())


def _nchw(x):
    return np.asarray(x).transpose(0, 3, 1, 2)


def _one_line_error(path, match, **kwargs):
    with pytest.raises(ValueError, match=match) as err:
        load_network(path, **kwargs)
    assert "\n" not in str(err.value), str(err.value)
    return str(err.value)


def _small_G(res=16, **kwargs):
    return StyleGAN3Generator(z_dim=8, w_dim=8, img_resolution=res, **dict(SMALL_T, **kwargs))


# -- schedule and filters --------------------------------------------------------------------------------------------

T1024 = dict(sizes=[36, 36, 52, 52, 84, 148, 148, 276, 276, 532, 1044, 1044, 1044, 1024, 1024],
             rates=[16, 16, 32, 32, 64, 128, 128, 256, 256, 512] + [1024] * 5,
             channels=[512] * 7 + [323, 203, 128, 81, 51, 32, 32, 3])
SIZES = {512: [36, 36, 52, 52, 84, 84, 148, 148, 276, 276, 532, 532, 532, 512, 512],
         256: [36, 36, 36, 52, 52, 84, 84, 148, 148, 148, 276, 276, 276, 256, 256]}
R1024_CHANNELS = [1024] * 7 + [645, 406, 256, 161, 102, 64, 64, 3]


def test_schedule_tables():
    sched = synthesis_schedule(1024, 3)
    assert [L.out_size for L in sched.layers] == T1024["sizes"]
    assert [L.out_sampling_rate for L in sched.layers] == T1024["rates"]
    assert [L.out_channels for L in sched.layers] == T1024["channels"]
    assert (sched.input.channels, sched.input.size, sched.input.sampling_rate, sched.input.bandwidth) == \
        (512, 36, 16, 2)
    assert sched.layer_names[0] == "L0_36_512" and sched.layer_names[-2:] == ("L13_1024_32", "L14_1024_3")
    assert [L.reduced(1024, 4) for L in sched.layers] == [False] * 5 + [True] * 10   # float16 from L5 (rate 128)
    r = synthesis_schedule(1024, 3, **stylegan3_kwargs("stylegan3-r"))
    assert [L.out_channels for L in r.layers] == R1024_CHANNELS
    for res, sizes in SIZES.items():
        assert [L.out_size for L in synthesis_schedule(res, 3).layers] == sizes
    # Every attribute of every layer (and the filters) against the independent restatement with scipy filters.
    for res in (256, 512, 1024):
        for kwargs in ({}, stylegan3_kwargs("r")):
            ours = synthesis_schedule(res, 3, **kwargs)
            inp, layers = s3.schedule(res, 3, **kwargs)
            assert (ours.input.channels, ours.input.size) == (inp["channels"], inp["size"])
            for spec, L in zip(ours.layers, layers):
                assert spec.name == L["name"]
                for key in ("in_channels", "out_channels", "in_sampling_rate", "out_sampling_rate",
                            "tmp_sampling_rate", "up_factor", "down_factor", "up_taps", "down_taps", "down_radial",
                            "conv_kernel", "is_torgb", "is_critically_sampled"):
                    assert getattr(spec, key) == L[key], (res, spec.name, key)
                assert list(spec.padding) == L["padding"] and spec.out_size == L["out_size"][0]
                assert spec.reduced(res, 4) == bool(L["use_fp16"])
                for f, g in ((spec.up_filter(), L["up_filter"]), (spec.down_filter(), L["down_filter"])):
                    assert (f is None) == (g is None)
                    if f is not None:
                        assert f.shape == g.shape and f.dtype == np.float32
                        np.testing.assert_allclose(f, g, rtol=0, atol=4e-7 * np.abs(g).max())


def test_filter_design_matches_scipy():
    for numtaps, cutoff, width, fs in [(12, 2, 4.57, 32), (24, 45.25, 30.5, 256), (12, 128, 60.2, 512),
                                       (6, 0.3, 0.2, 2), (13, 3.1, 2.0, 16)]:
        ours = filters.firwin_lowpass(numtaps, cutoff, width, fs)
        theirs = scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * np.abs(theirs).max())
    for a in (0, 10, 21, 21.5, 35, 50, 50.1, 80, 120):
        assert filters.kaiser_beta(a) == pytest.approx(scipy.signal.kaiser_beta(a), rel=1e-14, abs=1e-15)
    for n, w in ((12, 0.2), (24, 0.05), (6, 1.0)):
        assert filters.kaiser_atten(n, w) == pytest.approx(scipy.signal.kaiser_atten(n, w), rel=1e-14)
    x = np.concatenate([np.linspace(-80, 80, 40001), [0.0, 1e-8, 3.8317059702075125, 7.0155866698156]])
    np.testing.assert_allclose(filters.bessel_j1(x), scipy.special.j1(x), rtol=0, atol=1e-12)
    for n, cutoff, width, fs in ((12, 45.25, 30.5, 256), (12, 8.0, 9.1, 64)):
        np.testing.assert_allclose(filters.design_lowpass_filter(n, cutoff, width, fs, radial=True),
                                   s3.design_filter(n, cutoff, width, fs, radial=True), rtol=0, atol=1e-7)
    assert filters.design_lowpass_filter(1, 2.0, 1.0, 16) is None
    odd = filters.jinc_lowpass(5, 2.0, 2.0, 16)          # r = 0 at the centre: the limit f_c, not a NaN
    assert np.all(np.isfinite(odd)) and abs(odd.sum() - 1) < 1e-12


# -- the networks against the numpy statement ------------------------------------------------------------------------

@pytest.mark.parametrize("res,cfg,c_dim", [(16, "T", 0), (32, "T", 3), (16, "R", 0), (32, "R", 0)])
def test_imported_networks_match_upstream_statement(tmp_path, res, cfg, c_dim):
    sk = SMALL_T if cfg == "T" else SMALL_R
    G = s3.sg3_generator(seed=1, c_dim=c_dim, img_resolution=res, synthesis_kwargs=sk)
    G_ema = s3.sg3_generator(seed=2, c_dim=c_dim, img_resolution=res, synthesis_kwargs=sk)
    D = tfm.ada_discriminator(seed=3, c_dim=c_dim, img_resolution=res, channel_base=64, channel_max=16,
                              num_fp16_res=4, conv_clamp=256, epilogue_kwargs=dict(mbstd_group_size=2))
    data, params = s3.make_sg3_pickle(G=G, D=D, G_ema=G_ema, training_set_kwargs=dict(TRAINING_SET, resolution=res))
    snap = load_network(_write(tmp_path, data), precision="fp32")
    net = snap.G_ema
    assert isinstance(net, StyleGAN3Generator) and isinstance(snap.G, StyleGAN3Generator)
    assert (net.z_dim, net.w_dim, net.c_dim, net.num_ws, net.img_resolution, net.img_channels) == (8, 8, c_dim, 16,
                                                                                                    res, 3)
    assert net.synthesis.noise_shapes == [] and snap.metadata["source_format"] == "stylegan3_pickle"
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 8)).astype(np.float32)
    c = np.eye(c_dim, dtype=np.float32)[[0, 2]] if c_dim else None
    kw = dict(img_resolution=res, synthesis_kwargs=sk)
    _close(_nchw(net(z, c)), s3.reference_generator(params["G_ema"], z, c, **kw))
    if (res, cfg) == (16, "T"):   # G carries its own weights (one case is enough; the statement is slow)
        _close(_nchw(snap.G(z, c)), s3.reference_generator(params["G"], z, c, **kw))
    if (res, cfg) in ((32, "T"), (16, "R")):
        _close(_nchw(net(z, c, truncation_psi=0.7, truncation_cutoff=8)),
               s3.reference_generator(params["G_ema"], z, c, psi=0.7, cutoff=8, **kw))
    # A user transform (rotation by 20 degrees and a translation, as gen_images.py sets its inverse).
    a = np.deg2rad(20)
    m = np.linalg.inv(np.array([[np.cos(a), np.sin(a), 0.1], [-np.sin(a), np.cos(a), -0.05], [0, 0, 1]]))
    net.synthesis.input.transform = m
    _close(_nchw(net(z, c)), s3.reference_generator(params["G_ema"], z, c, transform=m, **kw))
    img = rng.standard_normal((2, 3, res, res)).astype(np.float32)
    ref_d = tfm.reference_discriminator(params["D"], img, c, conv_clamp=256, group_size=2)
    _close(snap.D(img.transpose(0, 2, 3, 1), c).numpy(), ref_d)


def test_pickle_precision_kwargs_and_metadata(tmp_path):
    """num_fp16_res (default 4) -> precision 'fp16' on the same layers; the reduced network stays within float16
    rounding of the statement; conv_clamp None and num_fp16_res 0 (--fp32) give a float32 network without clamp;
    training_set_kwargs and the augment pipe's p / kwargs are kept."""
    G = s3.sg3_generator(seed=4, img_resolution=32, synthesis_kwargs=dict(SMALL_T, num_fp16_res=1))
    data, params = s3.make_sg3_pickle(G_ema=G, augment=tfm.augment_pipe(0.3, xflip=1, rotate90=1),
                                      training_set_kwargs=TRAINING_SET, include=("G_ema", "augment_pipe",
                                                                                 "training_set_kwargs"))
    snap = load_network(_write(tmp_path, data))
    net = snap.G_ema
    assert (net.precision, net.num_fp16_res, net.synthesis.conv_clamp) == ("fp16", 1, 256)
    rates = [L.out_sampling_rate for L in net.synthesis.schedule.layers]
    assert [net.synthesis.layer_dtypes[n] for n in net.synthesis.layer_names] == \
        [tf.float16 if r * 2 > 32 else tf.float32 for r in rates]
    assert snap.G is None and snap.D is None
    assert snap.metadata["training_set_kwargs"] == TRAINING_SET
    assert snap.metadata["augment_pipe"]["p"] == pytest.approx(0.3) and \
        snap.metadata["augment_pipe"]["kwargs"] == dict(xflip=1, rotate90=1)
    z = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    ref = s3.reference_generator(params["G_ema"], z, img_resolution=32, synthesis_kwargs=SMALL_T)
    out = net(z).numpy()
    assert out.dtype == np.float32
    _close(_nchw(out), ref, rtol=2e-2)
    G32 = s3.sg3_generator(seed=4, img_resolution=16, synthesis_kwargs=dict(SMALL_T, num_fp16_res=0,
                                                                            conv_clamp=None))
    data, _ = s3.make_sg3_pickle(G_ema=G32, include=("G_ema",))
    net = load_network(_write(tmp_path, data, "fp32.pkl")).G_ema
    assert (net.precision, net.num_fp16_res, net.synthesis.conv_clamp) == ("fp32", 0, None)


# -- the input transform ---------------------------------------------------------------------------------------------

def test_transform_translation_moves_the_fourier_features():
    """With the input affine at its initial value (rotation 0, translation 0), transform[:2, 2] = -t translates
    the features by t: phases' = phases - freqs . t, freqs and amplitudes unchanged; a translation by whole pixels
    of the input's sampling rate shifts the feature map by those pixels."""
    G = _small_G()
    inp = G.synthesis.input
    assert np.array_equal(inp.transform.numpy(), np.eye(3))
    assert np.all(inp.affine.weight.numpy() == 0) and np.array_equal(inp.affine.bias.numpy(), [1, 0, 0, 0])
    w = np.random.default_rng(2).standard_normal((2, 8)).astype(np.float32)
    f0, p0, a0 = (x.numpy() for x in inp.fourier_parameters(w))
    feat0 = inp.features(w).numpy()
    sr = inp.sampling_rate
    t = np.array([2 / sr, -1 / sr])                  # 2 px right, 1 px up, in image widths
    m = np.eye(3)
    m[:2, 2] = -t
    inp.transform = m
    f1, p1, a1 = (x.numpy() for x in inp.fourier_parameters(w))
    np.testing.assert_allclose(f1, f0, atol=1e-7)
    np.testing.assert_allclose(a1, a0, atol=1e-7)
    np.testing.assert_allclose(p1, p0 - inp.freqs.numpy() @ t, atol=1e-6)
    feat1 = inp.features(w).numpy()
    np.testing.assert_allclose(feat1[:, :-1, 2:], feat0[:, 1:, :-2], atol=2e-5)   # out[y, x] = in[y + 1, x - 2]
    # A 3x zoom pushes frequencies past the bandwidth: upstream's fade clip(1 - (|f'| - bw) / (sr/2 - bw), 0, 1).
    inp.transform = np.diag([3.0, 3.0, 1.0])
    f2, _, a2 = (x.numpy() for x in inp.fourier_parameters(w))
    bw = inp.bandwidth
    np.testing.assert_allclose(f2, 3 * f0, rtol=1e-6)
    np.testing.assert_allclose(a2, np.clip(1 - (np.linalg.norm(f2, axis=2) - bw) / (sr / 2 - bw), 0, 1), atol=1e-6)
    assert a2.min() < 1


def test_transform_must_be_3x3():
    G = _small_G()
    with pytest.raises(ValueError, match="must be a 3x3 matrix"):
        G.synthesis.input.transform = np.eye(2)
    with pytest.raises(ValueError):
        G.synthesis.input.transform.assign(np.eye(4, dtype=np.float32))
    assert np.array_equal(G.synthesis.input.transform.numpy(), np.eye(3))


# -- conventions, moving averages, precision, snapshots --------------------------------------------------------------

def test_generator_conventions_and_gradients():
    G = _small_G(c_dim=2)
    assert (G.num_ws, G.synthesis.num_ws, G.mapping.mapping_layers, G.mapping.w_avg_beta) == (16, 16, 2, 0.998)
    assert G.mapping.label_embed == "embed" and G.updates_emas_in_d_phase_only
    assert stylegan3_kwargs("stylegan3-r", 32768, 512) == dict(channel_base=65536, channel_max=1024, conv_kernel=1,
                                                               use_radial_filters=True)
    z = np.random.default_rng(3).standard_normal((2, 8)).astype(np.float32)
    c = np.eye(2, dtype=np.float32)
    img, ws = G(z, c, return_ws=True)
    assert img.shape == (2, 16, 16, 3) and img.dtype == tf.float32 and ws.shape == (2, 16, 8)
    assert G.synthesis.noise_shapes == [] and G.synthesis.noise_const == []
    for mode in ("random", "const", "none"):
        np.testing.assert_array_equal(G.synthesis(ws, noise_mode=mode, fused_modconv=True, noise_inputs=[]).numpy(),
                                      img.numpy())
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")
    with pytest.raises(ValueError, match="no noise inputs"):
        G.synthesis(ws, noise_inputs=[tf.zeros([2, 16, 16, 1])])
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 16, 8\]"):
        G.synthesis(ws[:, :15])
    step = tf.function(lambda z, c: G(z, c, training=True))
    np.testing.assert_allclose(step(z, c).numpy(), img.numpy(), atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(G(z, c, training=True)))
    grads = tape.gradient(loss, G.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    names = G.named_variables()
    assert {"mapping/w_avg", "mapping/LabelEmbed/weight", "synthesis/input/transform", "synthesis/input/freqs",
            "synthesis/L0_36_16/magnitude_ema", "synthesis/L14_16_3/affine/bias"} <= set(names)
    assert len(names) == len(G.weights)


def test_moving_averages_change_only_when_asked():
    G = _small_G()
    z = np.random.default_rng(4).standard_normal((3, 8)).astype(np.float32)
    layers = [G.synthesis.blocks[n] for n in G.synthesis.layer_names]

    def state():
        return G.mapping.w_avg.numpy().copy(), np.array([L.magnitude_ema.numpy() for L in layers])

    w0, m0 = state()
    G(z, training=True)
    ws = G.mapping(z, training=True)
    G.synthesis(ws, training=True)
    w1, m1 = state()
    assert np.array_equal(w0, w1) and np.array_equal(m0, m1)
    G.synthesis(ws, update_emas=True)
    w2, m2 = state()
    assert np.array_equal(w2, w0) and np.all(m2 != m0)
    x0 = G.synthesis.input(ws[:, 0]).numpy()
    cur = np.mean(x0.astype(np.float64) ** 2)
    assert m2[0] == pytest.approx(cur + (m0[0] - cur) * 0.999, rel=1e-6)
    G.mapping(z, update_w_avg=True)
    w3, _ = state()
    w = G.mapping(z)[:, 0].numpy()
    np.testing.assert_allclose(w3, w.mean(0) + (w0 - w.mean(0)) * 0.998, atol=1e-6)
    G(z, update_emas=True)
    w4, m4 = state()
    assert np.all(w4 != w3) and np.all(m4 != m2)


def test_precision_placement():
    """A layer is reduced iff precision != 'fp32' and sampling_rate * 2**num_fp16_res > img_resolution; the image is
    float32; bf16 / fp16 images stay within their rounding of float32."""
    sched = synthesis_schedule(256, 3, channel_base=512, channel_max=8)
    G = StyleGAN3Generator(z_dim=4, w_dim=4, img_resolution=256, channel_base=512, channel_max=8, precision="bf16",
                           num_fp16_res=2)
    assert [G.synthesis.layer_dtypes[L.name] for L in sched.layers] == \
        [tf.bfloat16 if L.out_sampling_rate * 4 > 256 else tf.float32 for L in sched.layers]
    assert sum(d == tf.bfloat16 for d in G.synthesis.layer_dtypes.values()) == 8   # rates 128 and 256: L7-L14
    G32 = _small_G(32)
    assert set(G32.synthesis.layer_dtypes.values()) == {tf.float32} and G32.num_fp16_res == 4
    z = np.random.default_rng(5).standard_normal((2, 8)).astype(np.float32)
    ref = G32(z).numpy()
    for precision, dtype, tol in (("bf16", tf.bfloat16, 0.15), ("fp16", tf.float16, 2e-2)):
        Gh = clone_network(G32, precision=precision, num_fp16_res=1)
        assert [Gh.synthesis.layer_dtypes[n] for n in Gh.synthesis.layer_names] == [tf.float32] * 5 + [dtype] * 10
        out = Gh(z).numpy()
        assert out.dtype == np.float32
        _close(out, ref, rtol=tol)
    with pytest.raises(ValueError, match="num_fp16_res"):
        _small_G(precision="bf16", num_fp16_res=0)


def test_snapshot_round_trip_and_ema(tmp_path):
    G = _small_G(c_dim=0, conv_kernel=1, use_radial_filters=True)
    G.synthesis.input.transform = np.array([[1, 0, 0.1], [0, 1, 0], [0, 0, 1]])
    G(np.zeros((2, 8), np.float32) + 0.5, update_emas=True)    # non-trivial buffers
    path = save_network(str(tmp_path / "sg3.npz"), G=G, G_ema=clone_network(G), metadata={"kimg": 1})
    snap = load_network(path)
    assert isinstance(snap.G, StyleGAN3Generator) and snap.G.get_config() == G.get_config()
    for k, v in network_values(G).items():
        np.testing.assert_array_equal(network_values(snap.G)[k], v, err_msg=k)
    z = np.random.default_rng(6).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_array_equal(snap.G(z).numpy(), G(z).numpy())
    G_ema = snap.G_ema
    for v in G.trainable_variables:
        v.assign_add(tf.ones_like(v))
    update_ema(G_ema, G, 0.5)
    np.testing.assert_allclose(G_ema.synthesis.input.weight.numpy(),
                               G.synthesis.input.weight.numpy() - 0.5, atol=1e-6)
    assert load_network(path, precision="bf16", num_fp16_res=2).G.precision == "bf16"


# -- what the import refuses -----------------------------------------------------------------------------------------

def test_import_refuses_what_it_does_not_understand(tmp_path):
    def pickle_of(G, name):
        data, _ = s3.make_sg3_pickle(G_ema=G, include=("G_ema",))
        return _write(tmp_path, data, name)

    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T, extra_kwargs=dict(mystery_knob=3))
    _one_line_error(pickle_of(G, "kw.pkl"), r"StyleGAN3 G_ema: unknown official kwargs \['mystery_knob'\]")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T, mapping_kwargs=dict(freeze_layers=1))
    _one_line_error(pickle_of(G, "mkw.pkl"), r"mapping_kwargs: unknown official kwargs \['freeze_layers'\]")

    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    G.modules["synthesis"].modules["L3_36_16"].attrs["padding"] = [9, 9, 9, 9]
    _one_line_error(pickle_of(G, "pad.pkl"), r"layer L3_36_16: padding is \[9, 9, 9, 9\] in the pickle, the "
                                            r"schedule gives \[9, 8, 9, 8\]")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    G.modules["synthesis"].modules["L2_36_16"].attrs["out_cutoff"] = np.float64(2.5)
    _one_line_error(pickle_of(G, "cut.pkl"), r"layer L2_36_16: out_cutoff is 2.5 in the pickle")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    layer = G.modules["synthesis"].modules["L5_36_16"]
    layer.buffers["down_filter"] = layer.buffers["down_filter"] * 1.01
    _one_line_error(pickle_of(G, "filt.pkl"), r"layer L5_36_16: down_filter differs from the filter the schedule")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    G.modules["synthesis"].modules["L4_36_16"].attrs["use_fp16"] = np.bool_(False)
    _one_line_error(pickle_of(G, "fp16.pkl"), r"layer L4_36_16: use_fp16 is")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    del G.modules["synthesis"].modules["L7_36_14"].buffers["magnitude_ema"]
    _one_line_error(pickle_of(G, "miss.pkl"), r"missing tensors \['synthesis\.L7_36_14\.magnitude_ema'\]")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    del G.modules["synthesis"].modules["L1_36_16"].attrs["tmp_sampling_rate"]
    _one_line_error(pickle_of(G, "attr.pkl"), r"layer L1_36_16: the pickle has no attribute tmp_sampling_rate")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    G.modules["synthesis"].attrs["layer_names"] = G.modules["synthesis"].attrs["layer_names"][::-1]
    _one_line_error(pickle_of(G, "names.pkl"), r"layer_names .* differ from the schedule's")
    G = s3.sg3_generator(seed=1, synthesis_kwargs=SMALL_T)
    G.modules["synthesis"].modules["L0_36_16"].version = 5
    _one_line_error(pickle_of(G, "v5.pkl"), r"unsupported torch_utils\.persistence version 5")
