"""Mixed precision (bfloat16 / float16 blocks, StyleGAN2-ADA's num_fp16_res) in the networks, training and import.

Independent statements the tests check against:
* placement: the N highest of the resolutions 8..R compute in the reduced type (StyleGAN2-ADA's rule, restated
  here as a list slice), 4x4 and D's epilogue never; ToRGB outputs, images and logits are float32;
* accuracy: the same weights in float32 (the reference) within tolerances stated in units of the reduced type's
  machine epsilon (bf16 2^-8, fp16 2^-11), relative to the largest reference value;
* loss scaling: with a power-of-two scale, scaled-and-unscaled regularizer gradients equal the unscaled ones;
  the scale halves and the phase is skipped on overflow (no Adam step), and doubles after growth_interval;
* import: the numpy statement of StyleGAN2-ADA in tests/official_format.py (float16 blocks as float64 with
  float16 rounding of every value crossing an operation, conv_clamp) for a pickle with num_fp16_res 2, clamp 256.
"""
import math
import os

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from official_format import make_official_pickle, reference_discriminator, reference_generator  # noqa: E402
from stylegan2_tf.data import ArrayImageDataset  # noqa: E402
from stylegan2_tf.networks import Discriminator, Generator  # noqa: E402
from stylegan2_tf.serialization import load_network, save_network  # noqa: E402
from stylegan2_tf.training.config import TrainConfig, resolve_precision  # noqa: E402
from stylegan2_tf.training.loss import path_lengths, r1_penalty  # noqa: E402
from stylegan2_tf.training.loss_scale import DynamicLossScale  # noqa: E402
from stylegan2_tf.training.trainer import Trainer, TrainingDivergedError  # noqa: E402

REDUCED = {'bf16': tf.bfloat16, 'fp16': tf.float16}
EPS = {'bf16': 2.0 ** -8, 'fp16': 2.0 ** -11}  # machine epsilon: spacing of the type's numbers just above 1
G_KW = dict(z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16, img_channels=3, conv_clamp=256)
D_KW = dict(fmap_base=64, fmap_max=16, img_channels=3, conv_clamp=256)


def _expected_dtypes(resolution, num_fp16_res, precision):
    """The N highest of the resolutions 8, 16, ..., R in the reduced type; 4x4 and the rest float32."""
    candidates = [2 ** k for k in range(3, int(math.log2(resolution)) + 1)]
    reduced = set(candidates[max(len(candidates) - num_fp16_res, 0):]) if num_fp16_res else set()
    dtype = REDUCED.get(precision, tf.float32)
    return {2 ** k: (dtype if 2 ** k in reduced else tf.float32) for k in range(2, int(math.log2(resolution)) + 1)}


def _pair(cls, precision, num_fp16_res=2, seed=0, **kw):
    """A float32 network and a reduced-precision one with the same weights."""
    keras.utils.set_random_seed(seed)
    ref = cls(**kw)
    net = cls(**kw, precision=precision, num_fp16_res=num_fp16_res)
    for a, b in zip(ref.weights, net.weights):
        b.assign(a)
    return ref, net


def _rel_err(ref, out):
    ref, out = np.asarray(ref, np.float64), np.asarray(out, np.float64)
    return float(np.abs(out - ref).max() / np.abs(ref).max())


# ---------------------------------------------------------------------------------------------------------------------
# Placement.

@pytest.mark.parametrize('precision', ['fp32', 'bf16', 'fp16'])
def test_block_dtypes_follow_the_ada_rule(precision):
    for resolution, counts in ((8, (1, 2, 3)), (32, (1, 2, 3, 4, 7))):
        for n in counts:
            G = Generator(**dict(G_KW, fmap_base=16, fmap_max=4), img_resolution=resolution, precision=precision,
                          num_fp16_res=n)
            D = Discriminator(**dict(D_KW, fmap_base=16, fmap_max=4), img_resolution=resolution,
                              precision=precision, num_fp16_res=n)
            expected = _expected_dtypes(resolution, 0 if precision == 'fp32' else n, precision)
            assert G.synthesis.block_dtypes == expected, (resolution, n)
            assert D.block_dtypes == expected, (resolution, n)
            assert all(v.dtype == 'float32' for v in G.weights + D.weights)


def _record(blocks):
    """Wraps each block layer's call to record (input dtype, output dtype) by block name."""
    seen = {}
    for name, layer in blocks.items():
        def call(*args, _orig=layer.call, _name=name, **kwargs):
            out = _orig(*args, **kwargs)
            seen[_name] = (tf.as_dtype(args[0].dtype), out.dtype)
            return out
        layer.call = call
    return seen


@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
@pytest.mark.parametrize('num_fp16_res', [1, 2])
@pytest.mark.parametrize('g_arch,d_arch', [('skip', 'skip'), ('resnet', 'resnet')])
def test_every_layer_computes_in_its_block_dtype(precision, num_fp16_res, g_arch, d_arch):
    expected = _expected_dtypes(16, num_fp16_res, precision)
    G = Generator(**G_KW, img_resolution=16, architecture=g_arch, precision=precision, num_fp16_res=num_fp16_res)
    D = Discriminator(**D_KW, img_resolution=16, architecture=d_arch, precision=precision, num_fp16_res=num_fp16_res)
    g_seen, d_seen = _record(G.synthesis.blocks), _record(D.blocks)
    img = G(np.random.RandomState(0).randn(2, 8), noise_mode='random')
    logits = D(img)
    assert img.dtype == tf.float32 and logits.dtype == tf.float32
    assert set(g_seen) == set(G.synthesis.blocks) and set(d_seen) == set(D.blocks)
    for name, (dtype_in, dtype_out) in g_seen.items():
        block = expected[int(name.split('x')[0])]
        # A ToRGB computes in its block's type and hands a float32 image on.
        assert (dtype_in, dtype_out) == (block, tf.float32 if name.endswith('ToRGB') else block), name
    for name, (dtype_in, dtype_out) in d_seen.items():
        block = expected[int(name.split('x')[0])] if 'x' in name else tf.float32  # Output: float32 epilogue
        assert (dtype_in, dtype_out) == (block, block), name
    assert all(v.dtype == 'float32' for v in G.weights + D.weights)


def test_float32_networks_contain_no_reduced_precision_ops():
    # precision 'fp32' (whatever num_fp16_res says) traces the graphs it always did: not a single half-type cast.
    G = Generator(**G_KW, img_resolution=16, precision='fp32', num_fp16_res=4)
    D = Discriminator(**D_KW, img_resolution=16, precision='fp32', num_fp16_res=4)
    fn = tf.function(lambda z: D(G(z, noise_mode='const')))
    graph = fn.get_concrete_function(tf.TensorSpec([2, 8], tf.float32)).graph
    types = {tf.as_dtype(attr.type) for op in graph.get_operations()
             for attr in op.node_def.attr.values() if attr.HasField('type')}
    assert tf.bfloat16 not in types and tf.float16 not in types
    assert G.num_fp16_res == 4 and G.precision == 'fp32'


def test_bad_precision_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16', 'fp16'\), got 'fp64'"):
        Generator(**G_KW, img_resolution=8, precision='fp64', num_fp16_res=1)
    with pytest.raises(ValueError, match="num_fp16_res is 0; set num_fp16_res >= 1"):
        Discriminator(**D_KW, img_resolution=8, precision='bf16')
    with pytest.raises(ValueError, match="num_fp16_res must be an integer >= 0, got -1"):
        Generator(**G_KW, img_resolution=8, precision='bf16', num_fp16_res=-1)
    # The progressive-growing networks compute in float32 only.
    with pytest.raises(ValueError, match="exist only with structure='fixed'"):
        Generator(z_dim=8, w_dim=8, mapping_layers=1, fmap_base=16, fmap_max=4, img_resolution=8,
                  structure='growing', architecture='orig', precision='bf16', num_fp16_res=1)
    from stylegan2_tf.serialization import precision_overrides
    assert precision_overrides('GrowingDiscriminator', 'fp32', None) == {}
    with pytest.raises(ValueError, match='GrowingDiscriminator computes in float32 only'):
        precision_overrides('GrowingDiscriminator', 'bf16', 2)


# ---------------------------------------------------------------------------------------------------------------------
# Accuracy against float32.

@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
@pytest.mark.parametrize('g_arch,d_arch', [('skip', 'resnet'), ('resnet', 'skip')])
def test_reduced_outputs_and_regularizers_match_float32(precision, g_arch, d_arch):
    """Tolerances, relative to the largest float32 value: 8 eps for images and logits (each value is rounded a few
    times on its way; measured <= 5 eps); 32 eps for the R1 penalty and the path lengths, squared norms of a
    backward pass through the reduced blocks (errors of both passes, doubled by the square; measured <= 23 eps).
    The reduced results must also differ from float32 by more than float32 rounding could (not vacuous)."""
    G32, G = _pair(Generator, precision, **G_KW, img_resolution=16, architecture=g_arch, impl='ref')
    D32, D = _pair(Discriminator, precision, **D_KW, img_resolution=16, architecture=d_arch, impl='ref')
    eps = EPS[precision]
    scale = 2.0 ** 10 if precision == 'fp16' else None  # float16 needs the inner gradients scaled
    z = np.random.RandomState(0).randn(4, 8).astype(np.float32)
    img32, img = G32(z, noise_mode='const').numpy(), G(z, noise_mode='const').numpy()
    logits32, logits = D32(img32).numpy(), D(img32).numpy()
    r1_32, _ = r1_penalty(D32, tf.constant(img32))
    r1, _ = r1_penalty(D, tf.constant(img32), grad_scale=scale)
    ws = G32.mapping(z)
    y = tf.random.stateless_normal(img32.shape, [1, 2]) / 16.0
    pl32, _ = path_lengths(lambda w: G32.synthesis(w, noise_mode='const'), ws, noise=y)
    pl, _ = path_lengths(lambda w: G.synthesis(w, noise_mode='const'), ws, noise=y, grad_scale=scale)
    for what, ref, out, units in (('images', img32, img, 8), ('logits', logits32, logits, 8),
                                  ('R1', r1_32, r1, 32), ('path lengths', pl32, pl, 32)):
        err = _rel_err(ref, out)
        assert 16 * 2.0 ** -24 < err <= units * eps, (what, err / eps)


def test_loss_scaled_regularizers_equal_unscaled_ones():
    # In float32 a power-of-two scale is exact: penalty and outer gradients of S * objective are S times the
    # unscaled ones (the inner gradient is unscaled before its square, the outer one is not).
    keras.utils.set_random_seed(1)
    G = Generator(**G_KW, img_resolution=8)
    D = Discriminator(**D_KW, img_resolution=8)
    z = np.random.RandomState(1).randn(4, 8).astype(np.float32)
    reals = G(z, noise_mode='const')
    ws = G.mapping(z)
    y = tf.random.stateless_normal(reals.shape, [3, 4]) / 8.0
    S = 2.0 ** 12

    def r1_and_grads(scale):
        with tf.GradientTape() as tape:
            r1, _ = r1_penalty(D, reals, grad_scale=scale)
            obj = tf.reduce_sum(r1) * (1.0 if scale is None else scale)
        return r1, tape.gradient(obj, D.trainable_variables)

    def pl_and_grads(scale):
        with tf.GradientTape() as tape:
            pl, _ = path_lengths(lambda w: G.synthesis(w, noise_mode='const'), ws, noise=y, grad_scale=scale)
            obj = tf.reduce_sum(tf.square(pl)) * (1.0 if scale is None else scale)
        return pl, tape.gradient(obj, G.synthesis.trainable_variables)

    for fn in (r1_and_grads, pl_and_grads):
        value, grads = fn(None)
        value_s, grads_s = fn(S)
        np.testing.assert_allclose(value_s.numpy(), value.numpy(), rtol=1e-6)
        for g, gs in zip(grads, grads_s):
            np.testing.assert_allclose(gs.numpy() / S, g.numpy(), rtol=1e-5, atol=1e-7 * np.abs(g.numpy()).max())


# ---------------------------------------------------------------------------------------------------------------------
# Training.

def _trainer(outdir, precision, seed=0, **cfg_kw):
    keras.utils.set_random_seed(seed)
    rng = np.random.RandomState(seed)
    ds = ArrayImageDataset(rng.randint(0, 256, (16, 8, 8, 1), dtype=np.uint8), name='toy')
    prec = dict(precision=precision, num_fp16_res=1, conv_clamp=256)
    tiny = dict(fmap_base=32, fmap_max=8, img_resolution=8, img_channels=1)
    cfg = TrainConfig(**dict(dict(batch=4, total_kimg=1.0, ema_kimg=0.01), **cfg_kw))
    return Trainer(tf.distribute.get_strategy(),
                   lambda: Generator(z_dim=8, w_dim=8, mapping_layers=2, name='G', **tiny, **prec),
                   lambda: Discriminator(name='D', **tiny, **prec), ds, str(outdir), cfg)


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return any(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def test_bf16_training_steps_are_finite_and_need_no_loss_scale(tmp_path):
    t = _trainer(tmp_path, 'bf16')
    assert t.loss_scales == {} and t.G.synthesis.block_dtypes[8] == tf.bfloat16
    it = t.make_iterator()
    for step in range(3):  # step 0 runs all four phases (both regularizers)
        g0, d0 = _values(t.G.trainable_variables), _values(t.D.trainable_variables)
        stats = t.train_step(next(it))
        assert all(math.isfinite(v) for v in stats.values()), stats
        assert stats['Progress/nonfinite_phases'] == 0 and 'Progress/loss_scale/G' not in stats
        assert _changed(g0, t.G.trainable_variables) and _changed(d0, t.D.trainable_variables)
        if step == 0:
            assert stats['Loss/r1_penalty'] > 0 and stats['Loss/pl_penalty'] >= 0
    assert t.state_is_finite()


def test_dynamic_loss_scale_update_rule():
    ls = DynamicLossScale('t', initial_scale=8.0, growth_interval=2, min_scale=1.0)
    states = []
    for finite in (True, True, True, False, False, False, False, True):
        unfixable = bool(ls.update(tf.constant(finite)).numpy())
        states.append((float(ls.scale.numpy()), int(ls.good_steps.numpy()), int(ls.skipped.numpy()), unfixable))
    assert states == [(8.0, 1, 0, False), (16.0, 0, 0, False), (16.0, 1, 0, False), (8.0, 0, 1, False),
                      (4.0, 0, 2, False), (2.0, 0, 3, False), (1.0, 0, 4, False), (1.0, 1, 4, False)]
    assert bool(ls.update(tf.constant(False)).numpy())  # non-finite at the minimum scale: cannot be rescued
    assert float(ls.scale.numpy()) == 1.0


def test_fp16_loss_scaling_skips_an_injected_overflow_and_recovers(tmp_path):
    t = _trainer(tmp_path, 'fp16', max_bad_steps=2)
    assert set(t.loss_scales) == {'G', 'D'} and t.G.synthesis.block_dtypes[8] == tf.float16
    for ls in t.loss_scales.values():
        ls.scale.assign(2.0 ** 6)  # a scale that does not overflow these networks, so only the injection skips
    poison = tf.Variable(1.0)
    g_main = t.loss.g_main

    def poisoned(*args, **kwargs):  # a huge gradient for G in one step: finite in float32, inf in float16
        objective, stats = g_main(*args, **kwargs)
        return objective * poison, stats
    t.loss.g_main = poisoned
    it = t.make_iterator()
    s0 = t.train_step(next(it))  # step 0: all four phases
    assert s0['Progress/skipped_phases'] == 0 and s0['Progress/loss_scale/G'] == 64.0

    poison.assign(1e30)
    g0, d0 = _values(t.G.trainable_variables), _values(t.D.trainable_variables)
    it_g, it_d = int(t.G_opt.iterations.numpy()), int(t.D_opt.iterations.numpy())
    s1 = t.train_step(next(it))  # step 1: Gmain (poisoned, skipped) + Dmain
    assert s1['Progress/skipped_phases'] == 1 and s1['Progress/skipped_phases/G'] == 1
    assert s1['Progress/loss_scale/G'] == 32.0 and s1['Progress/loss_scale/D'] == 64.0
    assert s1['Progress/nonfinite_phases'] == 0 and s1['Progress/bad_steps'] == 0  # not a divergence
    assert not _changed(g0, t.G.trainable_variables) and int(t.G_opt.iterations.numpy()) == it_g  # no Adam step
    assert _changed(d0, t.D.trainable_variables) and int(t.D_opt.iterations.numpy()) == it_d + 1

    poison.assign(1.0)
    g0 = _values(t.G.trainable_variables)
    s2 = t.train_step(next(it))  # training continues at the halved scale
    assert s2['Progress/skipped_phases'] == 0 and s2['Progress/loss_scale/G'] == 32.0
    assert _changed(g0, t.G.trainable_variables) and all(math.isfinite(v) for v in s2.values())

    # The checkpoint keeps the scales and counters; a resumed trainer continues with them.
    path = t.save_checkpoint()
    t2 = _trainer(tmp_path / 'other', 'fp16')
    t2.restore_checkpoint(path)
    for net in ('G', 'D'):
        a, b = t.loss_scales[net], t2.loss_scales[net]
        assert [float(v.numpy()) for v in (a.scale, a.good_steps, a.skipped)] == \
               [float(v.numpy()) for v in (b.scale, b.good_steps, b.skipped)]
    assert float(t2.loss_scales['G'].scale.numpy()) == 32.0 and int(t2.loss_scales['G'].skipped.numpy()) == 1

    # NaN survives every scale: at the minimum scale the phase counts as bad, and max_bad_steps stops the run.
    t.loss_scales['G'].scale.assign(1.0)
    poison.assign(np.nan)
    s3 = t.train_step(next(it))
    assert s3['Progress/nonfinite_phases'] == 1 and s3['Progress/bad_steps'] == 1
    with pytest.raises(TrainingDivergedError, match='2 consecutive steps'):
        t.train_step(next(it))


# ---------------------------------------------------------------------------------------------------------------------
# Import, snapshots, flags.

def _ada_pickle(tmp_path, g_arch, d_arch):
    """A StyleGAN2-ADA (G, D, Gs) at 16x16 with num_fp16_res 2 and conv_clamp 256, some biases pushed past the
    clamp (+400 on every other channel of an 8x8 and a 16x16 layer of G, of a 16x16 layer of D)."""
    def push(v):
        return v + np.float32(400) * (np.arange(v.size) % 2)

    def tamper(nets):
        for g in ('G', 'Gs'):
            s = nets[g][2]
            s[:] = [(k, push(v) if k in ('16x16/Conv0_up/bias', '8x8/Conv1/bias') else v) for k, v in s]
        nets['D'][:] = [(k, push(v) if k == '16x16/Conv0/bias' else v) for k, v in nets['D']]
    ada = {'num_fp16_res': 2, 'conv_clamp': 256}
    data, nets = make_official_pickle(seed=21, resolution=16, fmap_base=64, fmap_max=16, variant='ada',
                                      g_architecture=g_arch, d_architecture=d_arch, extra_g_kwargs=ada,
                                      extra_d_kwargs=dict(ada, mbstd_group_size=None), tamper=tamper)
    path = tmp_path / f'ada_{g_arch}.pkl'
    path.write_bytes(data)
    g_vars, m_vars, s_vars = nets['Gs']
    params = dict(g_vars)
    params.update({f'mapping/{k}': v for k, v in m_vars})
    params.update({f'synthesis/{k}': v for k, v in s_vars})
    return str(path), params, dict(nets['D'])


@pytest.mark.parametrize('g_arch,d_arch', [('skip', 'resnet'), ('resnet', 'skip')])
def test_ada_pickle_with_fp16_blocks_and_clamp_matches_reference(tmp_path, g_arch, d_arch):
    """Tolerance: 16 fp16 eps of the largest output (a float16 block rounds every value it passes on: a few dozen
    roundings along a path, partly cancelling; measured <= 7 eps). The clamp is what the comparison tests most
    sharply: without it the reference differs by 80-500% here."""
    path, params, d_vars = _ada_pickle(tmp_path, g_arch, d_arch)
    snap = load_network(path)
    for net in (snap.G, snap.G_ema, snap.D):
        assert (net.precision, net.num_fp16_res) == ('fp16', 2)
    assert snap.G_ema.synthesis.conv_clamp == 256 and snap.D.conv_clamp == 256
    assert snap.G_ema.synthesis.block_dtypes == snap.D.block_dtypes == {4: tf.float32, 8: tf.float16,
                                                                        16: tf.float16}
    z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    ref = reference_generator(params, z, architecture=g_arch, num_fp16_res=2, conv_clamp=256).transpose(0, 2, 3, 1)
    assert np.abs(ref).max() >= 256 - 1e-9  # some ToRGB outputs clamped: the clamp is exercised
    out = snap.G_ema(z, noise_mode='const').numpy()
    err_g = _rel_err(ref, out)
    assert err_g <= 16 * EPS['fp16'], err_g / EPS['fp16']
    img = np.random.default_rng(2).standard_normal((4, 16, 16, 3)).astype(np.float32)
    ref_d = reference_discriminator(d_vars, img.transpose(0, 3, 1, 2), architecture=d_arch, group_size=None,
                                    num_fp16_res=2, conv_clamp=256)
    err_d = _rel_err(ref_d, snap.D(img).numpy())
    assert err_d <= 16 * EPS['fp16'], err_d / EPS['fp16']
    # The same pickle in float32 (load-time override) matches the unrounded reference to float32 accuracy, which
    # the float16 blocks do not: they really compute in float16.
    f32 = load_network(path, precision='fp32')
    assert f32.G_ema.precision == 'fp32' and f32.G_ema.synthesis.conv_clamp == 256
    exact = reference_generator(params, z, architecture=g_arch, conv_clamp=256).transpose(0, 2, 3, 1)
    err32 = _rel_err(exact, f32.G_ema(z, noise_mode='const').numpy())
    assert err32 < 1e-5 and _rel_err(exact, out) > 10 * err32


def test_snapshots_keep_precision_and_loaders_override_it(tmp_path):
    G = Generator(**G_KW, img_resolution=8, precision='bf16', num_fp16_res=1)
    D = Discriminator(**D_KW, img_resolution=8, precision='bf16', num_fp16_res=1)
    path = save_network(str(tmp_path / 'snap.npz'), G=G, D=D)
    snap = load_network(path)
    for net in (snap.G, snap.D):
        assert (net.precision, net.num_fp16_res, net.get_config()['conv_clamp']) == ('bf16', 1, 256)
    z = np.random.RandomState(0).randn(2, 8).astype(np.float32)
    np.testing.assert_array_equal(snap.G(z, noise_mode='const').numpy(), G(z, noise_mode='const').numpy())
    f32 = load_network(path, precision='fp32')
    assert f32.G.synthesis.block_dtypes[8] == tf.float32 and f32.D.block_dtypes[8] == tf.float32
    fp16 = load_network(path, precision='fp16', num_fp16_res=2)
    assert fp16.G.synthesis.block_dtypes == {4: tf.float32, 8: tf.float16}


def test_precision_flags_resolve_to_network_kwargs():
    assert resolve_precision('fp32', 4, None) == dict(precision='fp32', num_fp16_res=0, conv_clamp=None)
    assert resolve_precision('bf16', 4, None) == dict(precision='bf16', num_fp16_res=4, conv_clamp=256.0)
    assert resolve_precision('fp16', 2, 0) == dict(precision='fp16', num_fp16_res=2, conv_clamp=None)
    assert resolve_precision('fp32', 4, 128) == dict(precision='fp32', num_fp16_res=0, conv_clamp=128.0)
    with pytest.raises(ValueError, match='--precision bf16 needs --num_fp16_res >= 1'):
        resolve_precision('bf16', 0, None)
    with pytest.raises(ValueError, match='--conv_clamp must be > 0'):
        resolve_precision('fp16', 4, -1)


# ---------------------------------------------------------------------------------------------------------------------
# Tools: generate, projector, export.

def _tool_main(name):
    import importlib.util
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(f'_mp_tool_{name}', os.path.join(root, 'tools', f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_generate_takes_precision(tmp_path, capsys):
    """--precision/--num-fp16-res reach the network: the PNGs are those of the bf16 generator (accuracy: above)."""
    from PIL import Image
    from stylegan2_tf.cli_utils import seed_to_z, to_uint8
    keras.utils.set_random_seed(3)
    path = save_network(str(tmp_path / 'f32.npz'), G_ema=Generator(**G_KW, img_resolution=16))
    gen = _tool_main('generate')
    args = ['--network', path, '--seeds', '0-1', '--noise-mode', 'const']
    assert gen(args + ['--outdir', str(tmp_path / 'a')]) == 0
    assert gen(args + ['--outdir', str(tmp_path / 'b'), '--precision', 'bf16', '--num-fp16-res', '2']) == 0
    G = load_network(path, precision='bf16', num_fp16_res=2).G_ema
    for s in (0, 1):
        a, b = (np.asarray(Image.open(tmp_path / d / f'seed{s:04d}.png')) for d in 'ab')
        np.testing.assert_array_equal(b, to_uint8(G(seed_to_z(s, 8), noise_mode='const').numpy())[0])
        assert not np.array_equal(a, b)
    # A network trained in float32 has no reduced resolutions: bf16 without --num-fp16-res is a clear error.
    assert gen(args + ['--outdir', str(tmp_path / 'c'), '--precision', 'bf16']) == 2
    assert 'num_fp16_res is 0; set num_fp16_res >= 1' in capsys.readouterr().err


def test_projector_in_fp16_uses_loss_scaling():
    from stylegan2_tf import projector as P
    keras.utils.set_random_seed(1)
    G = Generator(z_dim=16, w_dim=16, img_resolution=16, img_channels=3, fmap_base=128, fmap_max=32,
                  mapping_layers=2, impl='ref', precision='fp16', num_fp16_res=2, conv_clamp=256)
    target = G(np.random.RandomState(5).randn(1, 16).astype(np.float32), noise_mode='const').numpy()[0]
    result = P.project(G, target, P.ProjectorConfig(steps=60, w_avg_samples=500))
    assert all(math.isfinite(v) for v in result.losses)
    # The projection moves towards the target (starting from the mean of W, far off).
    assert result.distances[-1] < 0.2 * result.distances[0], (result.distances[0], result.distances[-1])


def test_export_is_float32_unless_asked(tmp_path):
    from stylegan2_tf.export import savedmodel
    keras.utils.set_random_seed(4)
    G = Generator(**dict(G_KW, fmap_base=32, fmap_max=8), img_resolution=8, precision='bf16', num_fp16_res=1)
    assert savedmodel.reference_generator(G).precision == 'fp32'
    assert savedmodel.reference_generator(G, precision=None).precision == 'bf16'
    d = savedmodel.export_savedmodel(G, str(tmp_path), 'm', 1, precision='bf16')
    from tensorflow.core.protobuf import saved_model_pb2
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(open(os.path.join(d, 'saved_model.pb'), 'rb').read())
    types = {tf.as_dtype(a.type) for mg in sm.meta_graphs for f in mg.graph_def.library.function
             for node in f.node_def for a in node.attr.values() if a.HasField('type')}
    assert tf.bfloat16 in types
    served = tf.saved_model.load(d).signatures['synthesis']
    ws = G.mapping(np.random.RandomState(0).randn(2, 8).astype(np.float32))
    expected = savedmodel.to_uint8(G.synthesis(ws, noise_mode='const')).numpy()
    np.testing.assert_array_equal(served(ws=ws)['images'].numpy(), expected)


def test_fp16_skip_under_mirrored_strategy():
    """Two replicas: the skip decision is taken in cross-replica context (a cond around the all-reducing Adam
    step), so both replicas skip or step together and their weights stay identical."""
    import subprocess
    import sys
    script = r'''
import os, sys, tempfile
import numpy as np
from stylegan2_tf.training.distribute import make_strategy
strategy = make_strategy(2)                      # two logical CPU devices, before TensorFlow initialises
import keras, tensorflow as tf
from stylegan2_tf.data import ArrayImageDataset
from stylegan2_tf.networks import Discriminator, Generator
from stylegan2_tf.training.config import TrainConfig
from stylegan2_tf.training.trainer import Trainer
keras.utils.set_random_seed(0)
ds = ArrayImageDataset(np.random.RandomState(0).randint(0, 256, (16, 8, 8, 1), dtype=np.uint8), name='toy')
tiny = dict(fmap_base=32, fmap_max=8, img_resolution=8, img_channels=1, precision='fp16', num_fp16_res=1,
            conv_clamp=256)
t = Trainer(strategy, lambda: Generator(z_dim=8, w_dim=8, mapping_layers=2, name='G', **tiny),
            lambda: Discriminator(name='D', **tiny), ds, tempfile.mkdtemp(),
            TrainConfig(batch=4, total_kimg=1.0, ema_kimg=0.01))
assert t.num_replicas == 2
it = t.make_iterator()
for ls in t.loss_scales.values():
    ls.scale.assign(2.0 ** 6)
t.train_step(next(it))
t.loss_scales['G'].scale.assign(2.0 ** 100)      # overflows float16 on every replica
g0 = [v.numpy().copy() for v in t.G.trainable_variables]
s = t.train_step(next(it))
assert s['Progress/skipped_phases'] == 1 and s['Progress/loss_scale/G'] == 2.0 ** 99, s
assert s['Progress/bad_steps'] == 0
for b, v in zip(g0, t.G.trainable_variables):
    per_replica = [np.asarray(x) for x in strategy.experimental_local_results(v.value)]
    assert all(np.array_equal(b, x) for x in per_replica)
t.loss_scales['G'].scale.assign(2.0 ** 6)
s = t.train_step(next(it))
assert s['Progress/skipped_phases'] == 0
for v in t.G.trainable_variables + t.D.trainable_variables:
    a, b = [np.asarray(x) for x in strategy.experimental_local_results(v.value)]
    assert np.array_equal(a, b)
assert any(not np.array_equal(b, v.numpy()) for b, v in zip(g0, t.G.trainable_variables))
print('OK')
'''
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1',
               PYTHONPATH=root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    p = subprocess.run([sys.executable, '-c', script], env=env, cwd=root, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0 and p.stdout.strip().endswith('OK'), p.stderr[-3000:]
