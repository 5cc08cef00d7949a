"""Test helpers: synthetic pickles in NVIDIA's official StyleGAN2 TF1 format, and a numpy re-statement of the
official network definitions (NCHW, official variable layouts) to check imported networks against.

Everything here is written from the documented format and formulas, independently of stylegan2_tf's code:
variable names/shapes follow the official build functions (G_main, G_mapping, G_synthesis_stylegan2,
D_stylegan2); the fake `dnnlib.tflib.network.Network` class pickles exactly like the official one
(`__getstate__` -> dict with version, name, static_kwargs, components, build_module_src, build_func_name,
variables).
"""
from __future__ import annotations

import pickle
import sys
import types

import numpy as np

LRELU_GAIN = np.sqrt(2.0)


# ---------------------------------------------------------------------------------------------------------------------
# Official-format pickles.

def _fake_network_class():
    class Network:  # pickled as dnnlib.tflib.network.Network
        def __init__(self, state):
            self._state = state

        def __getstate__(self):
            return self._state
    Network.__module__ = "dnnlib.tflib.network"
    Network.__qualname__ = "Network"
    return Network


def dump_official(obj_builder) -> bytes:
    """Pickles the structure built by obj_builder(Network) with fake dnnlib modules installed only while dumping."""
    names = ["dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"]
    saved = {n: sys.modules.get(n) for n in names}
    cls = _fake_network_class()
    mods = {n: types.ModuleType(n) for n in names}
    mods["dnnlib.tflib.network"].Network = cls
    try:
        sys.modules.update(mods)
        return pickle.dumps(obj_builder(cls), protocol=3)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def nf(stage, fmap_base, fmap_max, fmap_min=1, fmap_decay=1.0):
    return int(np.clip(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min, fmap_max))


def official_generator_vars(rng, resolution, num_channels, fmap_base, fmap_max, latent_size, dlatent_size,
                            mapping_layers, mapping_fmaps, label_size=0, architecture="skip", variant="stylegan2"):
    """(G vars, mapping vars, synthesis vars) as lists of (name, value) in official layouts and creation order."""
    log2 = int(np.log2(resolution))
    num_layers = log2 * 2 - 2
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    small = lambda *shape: (0.3 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    f = lambda s: nf(s, fmap_base, fmap_max)  # noqa: E731
    g_vars = [("lod", np.float32(0.0)), ("dlatent_avg", small(dlatent_size))]
    m_vars = []
    fan_in = latent_size
    if label_size and variant == "stylegan2":
        m_vars.append(("LabelConcat/weight", r(label_size, latent_size)))
        fan_in += latent_size
    elif label_size:  # StyleGAN2-ADA: LabelEmbed dense layer with bias, label_fmaps = latent_size by default
        m_vars += [("LabelEmbed/weight", r(label_size, latent_size)), ("LabelEmbed/bias", small(latent_size))]
        fan_in += latent_size
    for i in range(mapping_layers):
        fmaps = dlatent_size if i == mapping_layers - 1 else mapping_fmaps
        m_vars += [(f"Dense{i}/weight", r(fan_in, fmaps) * 100), (f"Dense{i}/bias", small(fmaps) * 100)]
        fan_in = fmaps
    s_vars = [(f"noise{i}", r(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2))) for i in range(num_layers - 1)]

    def modconv(scope, cin, cout, k, noise=True):
        out = [(f"{scope}/weight", r(k, k, cin, cout)), (f"{scope}/mod_weight", r(dlatent_size, cin)),
               (f"{scope}/mod_bias", small(cin))]
        if noise:
            out.append((f"{scope}/noise_strength", np.float32(rng.uniform(0.1, 0.5))))
        return out + [(f"{scope}/bias", small(cout))]

    s_vars.append(("4x4/Const/const", r(1, f(1), 4, 4)))
    s_vars += modconv("4x4/Conv", f(1), f(1), 3)
    if architecture == "skip":
        s_vars += modconv("4x4/ToRGB", f(1), num_channels, 1, noise=False)
    for res in range(3, log2 + 1):
        sc = f"{2 ** res}x{2 ** res}"
        s_vars += modconv(f"{sc}/Conv0_up", f(res - 2), f(res - 1), 3)
        s_vars += modconv(f"{sc}/Conv1", f(res - 1), f(res - 1), 3)
        if architecture == "resnet":
            s_vars.append((f"{sc}/Skip/weight", r(1, 1, f(res - 2), f(res - 1))))
        if architecture == "skip" or res == log2:
            s_vars += modconv(f"{sc}/ToRGB", f(res - 1), num_channels, 1, noise=False)
    return g_vars, m_vars, s_vars


def official_discriminator_vars(rng, resolution, num_channels, fmap_base, fmap_max, label_size=0,
                                architecture="resnet", mbstd_num_features=1, variant="stylegan2", mapping_layers=0):
    log2 = int(np.log2(resolution))
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    small = lambda *shape: (0.3 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    f = lambda s: nf(s, fmap_base, fmap_max)  # noqa: E731
    out = []
    for res in range(log2, 2, -1):
        sc = f"{2 ** res}x{2 ** res}"
        if architecture == "skip" or res == log2:
            out += [(f"{sc}/FromRGB/weight", r(1, 1, num_channels, f(res - 1))), (f"{sc}/FromRGB/bias", small(f(res - 1)))]
        out += [(f"{sc}/Conv0/weight", r(3, 3, f(res - 1), f(res - 1))), (f"{sc}/Conv0/bias", small(f(res - 1))),
                (f"{sc}/Conv1_down/weight", r(3, 3, f(res - 1), f(res - 2))),
                (f"{sc}/Conv1_down/bias", small(f(res - 2)))]
        if architecture == "resnet":
            out.append((f"{sc}/Skip/weight", r(1, 1, f(res - 1), f(res - 2))))
    if architecture == "skip":
        out += [("4x4/FromRGB/weight", r(1, 1, num_channels, f(1))), ("4x4/FromRGB/bias", small(f(1)))]
    out += [("4x4/Conv/weight", r(3, 3, f(1) + mbstd_num_features, f(1))), ("4x4/Conv/bias", small(f(1))),
            ("4x4/Dense0/weight", r(f(1) * 16, f(0))), ("4x4/Dense0/bias", small(f(0))),
            ("Output/weight", r(f(0), max(label_size, 1))), ("Output/bias", small(max(label_size, 1)))]
    if label_size and variant == "ada":  # cmap_dim = mapping_fmaps = nf(0) by default
        cmap = f(0)
        out = [("LabelEmbed/weight", r(label_size, cmap)), ("LabelEmbed/bias", small(cmap))] + out[:-2]
        for i in range(mapping_layers):
            out += [(f"Mapping{i}/weight", r(cmap, cmap) * 10), (f"Mapping{i}/bias", small(cmap) * 10)]
        out += [("Output/weight", r(f(0), cmap)), ("Output/bias", small(cmap))]
    return out


def make_official_pickle(seed=0, resolution=8, num_channels=3, fmap_base=32, fmap_max=8, latent_size=8,
                         dlatent_size=8, mapping_layers=2, mapping_fmaps=8, label_size=0, g_architecture="skip",
                         d_architecture="resnet", extra_g_kwargs=None, extra_d_kwargs=None, tamper=None,
                         variant="stylegan2", d_mapping_layers=0):
    """Returns (pickle bytes, dict of the official variables per network) for a tiny (G, D, Gs) triple.

    tamper(name_of_net, variables_list) may modify the variable lists before pickling (for error tests).
    """
    rng = np.random.default_rng(seed)
    common = dict(num_channels=num_channels, resolution=resolution, label_size=label_size, fmap_base=fmap_base,
                  fmap_max=fmap_max)
    g_kwargs = dict(common, architecture=g_architecture, latent_size=latent_size, dlatent_size=dlatent_size,
                    mapping_layers=mapping_layers, mapping_fmaps=mapping_fmaps, truncation_psi=0.5,
                    **(extra_g_kwargs or {}))
    d_kwargs = dict(common, architecture=d_architecture, mbstd_group_size=4)
    d_kwargs.update(extra_d_kwargs or {})
    if variant == "ada":
        d_kwargs["mapping_layers"] = d_mapping_layers
    nets = {}
    for gname in ("G", "Gs"):
        nets[gname] = official_generator_vars(rng, resolution, num_channels, fmap_base, fmap_max, latent_size,
                                              dlatent_size, mapping_layers, mapping_fmaps, label_size, g_architecture,
                                              variant)
    nets["D"] = official_discriminator_vars(rng, resolution, num_channels, fmap_base, fmap_max, label_size,
                                            d_architecture, variant=variant, mapping_layers=d_mapping_layers)
    if tamper is not None:
        tamper(nets)

    def state(Network, name, func, kwargs, variables, components=None):
        return Network(dict(version=4, name=name, static_kwargs=dict(kwargs), components=components or {},
                            build_module_src="raise RuntimeError('network source must never run')\n",
                            build_func_name=func, variables=list(variables)))

    def build(Network):
        out = []
        for gname in ("G", "Gs"):
            g_vars, m_vars, s_vars = nets[gname]
            mapping = state(Network, "G_mapping", "G_mapping", dict(g_kwargs, dlatent_broadcast=(int(np.log2(resolution)) * 2 - 2)), m_vars)
            syn_func = "G_synthesis_stylegan2" if variant == "stylegan2" else "G_synthesis"
            synthesis = state(Network, "G_synthesis", syn_func, g_kwargs, s_vars)
            out.append(state(Network, gname, "G_main", g_kwargs, g_vars, {"mapping": mapping, "synthesis": synthesis}))
        d = state(Network, "D", "D_stylegan2" if variant == "stylegan2" else "D_main", d_kwargs, nets["D"])
        return (out[0], d, out[1])

    return dump_official(build), nets


# ---------------------------------------------------------------------------------------------------------------------
# numpy re-statement of the official networks (NCHW, official layouts), used as the independent reference.

def _lrelu(x):
    return np.where(x > 0, x, 0.2 * x) * LRELU_GAIN


def _bias_act(x, b, act, clamp=None):
    """act(x + b) * gain, then (StyleGAN2-ADA's conv_clamp) clipped to [-clamp, clamp]."""
    x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    x = _lrelu(x) if act == "lrelu" else x
    return x if clamp is None else np.clip(x, -clamp, clamp)


def fp16_block(res_log2, img_res_log2, num_fp16_res):
    """StyleGAN2-ADA's placement: the block at 2**res_log2 computes in float16 iff it is one of the num_fp16_res
    highest resolutions, and never at 4x4 (TF: res > log2(R) - num_fp16_res for res >= 3; PyTorch: resolution >=
    max(2 ** (log2(R) + 1 - num_fp16_res), 8))."""
    return res_log2 >= 3 and res_log2 > img_res_log2 - num_fp16_res


def _rounder(fp16):
    """The reduced blocks of the reference: float64 arithmetic with every value that leaves an operation (the block
    input, each conv / noise / bias-act / resnet-sum output) rounded to float16, as a float16 tensor would hold it.
    The roundings inside an operation's accumulation are not modelled (the implementation may accumulate in float32)."""
    return (lambda x: x.astype(np.float16).astype(np.float64)) if fp16 else (lambda x: x)


def _conv_valid(x, w, stride=1):
    """Correlation, NCHW x, w [k, k, in, out], VALID."""
    k = w.shape[0]
    n, c, h, wd = x.shape
    ho, wo = (h - k) // stride + 1, (wd - k) // stride + 1
    out = np.zeros((n, w.shape[3], ho, wo), np.float64)
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            out += np.einsum("nchw,co->nohw", patch, w[i, j])
    return out


def _conv_same(x, w):
    p = w.shape[0] // 2
    return _conv_valid(np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)]), w)


def _upfirdn(x, k, up=1, down=1, pad0=0, pad1=0):
    """Official upfirdn_2d: zero-insert by up, pad (pad0, pad1) (negative crops), true convolution with 2-D k, keep
    every down-th sample."""
    n, c, h, w = x.shape
    z = np.zeros((n, c, h * up, w * up), x.dtype)
    z[:, :, ::up, ::up] = x
    z = np.pad(z, [(0, 0), (0, 0), (max(pad0, 0), max(pad1, 0)), (max(pad0, 0), max(pad1, 0))])
    z = z[:, :, max(-pad0, 0):z.shape[2] - max(-pad1, 0), max(-pad0, 0):z.shape[3] - max(-pad1, 0)]
    kk = k[::-1, ::-1]
    ones = kk[:, :, None, None] * np.eye(1)[None, None]  # [kh, kw, 1, 1]
    y = _conv_valid(z.reshape(n * c, 1, z.shape[2], z.shape[3]), ones).reshape(n, c, -1, z.shape[3] - k.shape[1] + 1)
    return y[:, :, ::down, ::down]


def _fir(taps, gain=1.0):
    k = np.outer(taps, taps).astype(np.float64)
    return k / k.sum() * gain


def upsample_2d(x, taps):
    k = _fir(taps, 4)
    p = k.shape[0] - 2
    return _upfirdn(x, k, up=2, pad0=(p + 1) // 2 + 1, pad1=p // 2)


def downsample_2d(x, taps):
    k = _fir(taps)
    p = k.shape[0] - 2
    return _upfirdn(x, k, down=2, pad0=(p + 1) // 2, pad1=p // 2)


def upsample_conv_2d(x, w, taps):
    """Official fused upsample+conv: stride-2 transposed conv with the flipped kernel (= zero insertion + full
    correlation with w), then FIR with gain 4, pads (p+1)//2+1, p//2+1 where p = (len(taps)-2) - (k-1)."""
    kc = w.shape[0]
    n, c, h, wd = x.shape
    z = np.zeros((n, c, 2 * h - 1, 2 * wd - 1), x.dtype)
    z[:, :, ::2, ::2] = x
    y = _conv_valid(np.pad(z, [(0, 0), (0, 0), (kc - 1, kc - 1), (kc - 1, kc - 1)]), w)
    k = _fir(taps, 4)
    p = (k.shape[0] - 2) - (kc - 1)
    return _upfirdn(y, k, pad0=(p + 1) // 2 + 1, pad1=p // 2 + 1)


def conv_downsample_2d(x, w, taps):
    kc = w.shape[0]
    k = _fir(taps)
    p = (k.shape[0] - 2) + (kc - 1)
    return _conv_valid(_upfirdn(x, k, pad0=(p + 1) // 2, pad1=p // 2), w, stride=2)


def _dense(x, w, lrmul=1.0):
    return x @ (w * (1 / np.sqrt(w.shape[0]) * lrmul))


def reference_mapping(v, z, c, mapping_layers, lrmul=0.01, psi=1.0, cutoff=None, num_ws=None):
    norm = lambda t: t / np.sqrt(np.mean(t ** 2, axis=1, keepdims=True) + 1e-8)  # noqa: E731
    x = z.astype(np.float64)
    if c is not None and "LabelConcat/weight" in v:  # StyleGAN2: raw embedding, concatenated, then normalized
        x = norm(np.concatenate([x, c @ v["LabelConcat/weight"]], axis=1))
    elif c is not None:  # StyleGAN2-ADA: z normalized; c -> dense + bias -> normalized; concatenated
        x = np.concatenate([norm(x), norm(_dense(c, v["LabelEmbed/weight"]) + v["LabelEmbed/bias"])], axis=1)
    else:
        x = norm(x)
    for i in range(mapping_layers):
        x = _bias_act(_dense(x, v[f"Dense{i}/weight"], lrmul), v[f"Dense{i}/bias"] * lrmul, "lrelu")
    return x


def reference_generator(params, z, c=None, taps=(1, 3, 3, 1), mapping_layers=2, architecture="skip", psi=1.0,
                        cutoff=None, num_fp16_res=0, conv_clamp=None):
    """Official G_main with randomize_noise=False -> NCHW images (float64).

    num_fp16_res / conv_clamp: StyleGAN2-ADA's float16 blocks (see `fp16_block`, `_rounder`) and clamping of every
    conv layer's and ToRGB's bias-act output. A float16 block's ToRGB rounds its conv output; the image is float64."""
    mv = {k[len("mapping/"):]: v for k, v in params.items() if k.startswith("mapping/")}
    sv = {k[len("synthesis/"):]: v for k, v in params.items() if k.startswith("synthesis/")}
    w = reference_mapping(mv, z, c, mapping_layers)
    const = sv["4x4/Const/const"]
    num_noise = len([k for k in sv if k.startswith("noise")])
    num_ws = num_noise + 1
    res_log2 = (num_ws + 2) // 2
    ws = np.repeat(w[:, None], num_ws, axis=1)
    if psi != 1:
        layer_psi = np.where(np.arange(num_ws) < (num_ws if cutoff is None else cutoff), psi, 1.0)[None, :, None]
        avg = params["dlatent_avg"]
        ws = avg + (ws - avg) * layer_psi

    def modconv(x, wv, scope, up=False, demod=True):
        return _modconv_ref(x, wv, sv, scope, taps, up=up, demod=demod)

    def layer(x, idx, scope, rnd, up=False):
        x = rnd(modconv(x, ws[:, idx], scope, up=up))
        x = rnd(x + rnd(sv[f"noise{idx}"] * sv[f"{scope}/noise_strength"]))
        return rnd(_bias_act(x, sv[f"{scope}/bias"], "lrelu", conv_clamp))

    def torgb(x, y, res, rnd):
        sc = f"{2 ** res}x{2 ** res}/ToRGB"
        t = _bias_act(rnd(modconv(x, ws[:, res * 2 - 3], sc, demod=False)), sv[f"{sc}/bias"], "linear", conv_clamp)
        return t if y is None else y + t

    x = np.repeat(const, z.shape[0], axis=0).astype(np.float64)
    x = layer(x, 0, "4x4/Conv", _rounder(False))
    y = torgb(x, None, 2, _rounder(False)) if architecture == "skip" else None
    for res in range(3, res_log2 + 1):
        sc = f"{2 ** res}x{2 ** res}"
        rnd = _rounder(fp16_block(res, res_log2, num_fp16_res))
        x = rnd(x)
        t = x
        x = layer(x, res * 2 - 5, f"{sc}/Conv0_up", rnd, up=True)
        x = layer(x, res * 2 - 4, f"{sc}/Conv1", rnd)
        if architecture == "resnet":
            wsk = sv[f"{sc}/Skip/weight"] * (1 / np.sqrt(np.prod(sv[f"{sc}/Skip/weight"].shape[:3])))
            x = rnd(rnd(x + rnd(upsample_conv_2d(t, wsk, taps))) / np.sqrt(2))
        if architecture == "skip":
            y = upsample_2d(y, taps)
        if architecture == "skip" or res == res_log2:
            y = torgb(x, y, res, rnd)
    return y


def reference_discriminator(v, img_nchw, c=None, taps=(1, 3, 3, 1), architecture="resnet", group_size=4,
                            num_fp16_res=0, conv_clamp=None):
    """Official D_stylegan2 (or, with LabelEmbed variables, StyleGAN2-ADA's D_main) -> scores [N, 1] (float64).
    group_size None = whole minibatch (ADA). num_fp16_res / conv_clamp as in `reference_generator` (the clamp applies
    to the bias-act of every conv layer, FromRGB included; the 4x4 epilogue is never float16)."""
    def conv(x, scope, down=False, act="lrelu", bias=True, rnd=_rounder(False)):
        w = v[f"{scope}/weight"] * (1 / np.sqrt(np.prod(v[f"{scope}/weight"].shape[:3])))
        x = rnd(conv_downsample_2d(x, w, taps) if down else _conv_same(x, w))
        return rnd(_bias_act(x, v[f"{scope}/bias"], act, conv_clamp)) if bias else x

    res_log2 = int(np.log2(img_nchw.shape[2]))
    x, y = None, img_nchw.astype(np.float64)
    for res in range(res_log2, 2, -1):
        sc = f"{2 ** res}x{2 ** res}"
        rnd = _rounder(fp16_block(res, res_log2, num_fp16_res))
        if architecture == "skip" or res == res_log2:
            t = conv(rnd(y), f"{sc}/FromRGB", rnd=rnd)
            x = t if x is None else rnd(rnd(x) + t)
        x = rnd(x)
        t = x
        x = conv(x, f"{sc}/Conv0", rnd=rnd)
        x = conv(x, f"{sc}/Conv1_down", down=True, rnd=rnd)
        if architecture == "resnet":
            x = rnd(rnd(x + conv(t, f"{sc}/Skip", down=True, bias=False, rnd=rnd)) / np.sqrt(2))
        if architecture == "skip":
            y = downsample_2d(y, taps)
    if architecture == "skip":
        t = conv(y, "4x4/FromRGB")
        x = x + t
    # Minibatch stddev (official: reshape [G, M, ...], strided groups).
    n, ch, h, w = x.shape
    g = n if group_size is None else min(group_size, n)
    yy = x.reshape(g, -1, 1, ch, h, w)
    yy = yy - yy.mean(axis=0, keepdims=True)
    yy = np.sqrt((yy ** 2).mean(axis=0) + 1e-8)
    yy = yy.mean(axis=(2, 3, 4))  # [M, 1]
    yy = np.tile(yy[:, :, None, None], (g, 1, h, w))
    x = np.concatenate([x, yy], axis=1)
    x = conv(x, "4x4/Conv")
    x = x.reshape(n, -1)  # NCHW flatten
    x = _bias_act(_dense(x, v["4x4/Dense0/weight"]), v["4x4/Dense0/bias"], "lrelu")
    x = _bias_act(_dense(x, v["Output/weight"]), v["Output/bias"], "linear")
    if c is not None and "LabelEmbed/weight" in v:
        cmap = _dense(c, v["LabelEmbed/weight"]) + v["LabelEmbed/bias"]
        cmap = cmap / np.sqrt(np.mean(cmap ** 2, axis=1, keepdims=True) + 1e-8)
        i = 0
        while f"Mapping{i}/weight" in v:
            cmap = _bias_act(_dense(cmap, v[f"Mapping{i}/weight"], 0.1), v[f"Mapping{i}/bias"] * 0.1, "lrelu")
            i += 1
        x = np.sum(x * cmap, axis=1, keepdims=True) / np.sqrt(cmap.shape[1])
    elif c is not None:
        x = np.sum(x * c, axis=1, keepdims=True)
    return x


# ---------------------------------------------------------------------------------------------------------------------
# Progressive-growing networks (configs A-D): StyleGAN's G_style / D_basic (NVlabs/stylegan networks_stylegan.py) and
# the StyleGAN2 repository's G_synthesis_stylegan_revised / D_stylegan. Variable names, shapes and creation order
# follow those build functions with structure 'linear' (the template graph that pickles are written from).

def official_v1_synthesis_vars(rng, resolution, num_channels, fmap_base, fmap_max, dlatent_size, lod=0.0):
    """G_synthesis (StyleGAN v1): lod, noise{i} [1,1,2**(i//2+2),...] for every layer, then per layer scope
    [weight], Noise/weight [C], bias [C], StyleMod/weight [w_dim, 2C], StyleMod/bias [2C]; ToRGB_lod{k}."""
    log2 = int(np.log2(resolution))
    num_layers = log2 * 2 - 2
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    small = lambda *shape: (0.3 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    f = lambda s: min(int(fmap_base / 2.0 ** s), fmap_max)  # noqa: E731  (v1: no fmap_min)
    out = [("lod", np.float32(lod))]
    out += [(f"noise{i}", r(1, 1, 2 ** (i // 2 + 2), 2 ** (i // 2 + 2))) for i in range(num_layers)]

    def epilogue(scope, c):
        return [(f"{scope}/Noise/weight", small(c)), (f"{scope}/bias", small(c)),
                (f"{scope}/StyleMod/weight", r(dlatent_size, 2 * c)), (f"{scope}/StyleMod/bias", small(2 * c))]

    def torgb(res, cin):
        k = log2 - res
        return [(f"ToRGB_lod{k}/weight", r(1, 1, cin, num_channels)), (f"ToRGB_lod{k}/bias", small(num_channels))]

    out.append(("4x4/Const/const", (1 + small(1, f(1), 4, 4)).astype(np.float32)))
    out += epilogue("4x4/Const", f(1))
    out += [("4x4/Conv/weight", r(3, 3, f(1), f(1)))] + epilogue("4x4/Conv", f(1))
    out += torgb(2, f(1))
    for res in range(3, log2 + 1):
        sc = f"{2 ** res}x{2 ** res}"
        out += [(f"{sc}/Conv0_up/weight", r(3, 3, f(res - 2), f(res - 1)))] + epilogue(f"{sc}/Conv0_up", f(res - 1))
        out += [(f"{sc}/Conv1/weight", r(3, 3, f(res - 1), f(res - 1)))] + epilogue(f"{sc}/Conv1", f(res - 1))
        out += torgb(res, f(res - 1))
    return out


def official_revised_synthesis_vars(rng, resolution, num_channels, fmap_base, fmap_max, dlatent_size, lod=0.0):
    """G_synthesis_stylegan_revised: lod, noise{i} (i < num_layers - 1, as StyleGAN2), 4x4/Const, modulated
    layers, ToRGB_lod{k} at every resolution."""
    log2 = int(np.log2(resolution))
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    small = lambda *shape: (0.3 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    f = lambda s: nf(s, fmap_base, fmap_max)  # noqa: E731
    out = [("lod", np.float32(lod))]
    out += [(f"noise{i}", r(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2))) for i in range(log2 * 2 - 3)]

    def modconv(scope, cin, cout, k, noise=True):
        vs = [(f"{scope}/weight", r(k, k, cin, cout)), (f"{scope}/mod_weight", r(dlatent_size, cin)),
              (f"{scope}/mod_bias", small(cin))]
        if noise:
            vs.append((f"{scope}/noise_strength", np.float32(rng.uniform(0.1, 0.5))))
        return vs + [(f"{scope}/bias", small(cout))]

    out.append(("4x4/Const/const", r(1, f(1), 4, 4)))
    out += modconv("4x4/Conv", f(1), f(1), 3)
    out += modconv(f"ToRGB_lod{log2 - 2}", f(1), num_channels, 1, noise=False)
    for res in range(3, log2 + 1):
        sc = f"{2 ** res}x{2 ** res}"
        out += modconv(f"{sc}/Conv0_up", f(res - 2), f(res - 1), 3)
        out += modconv(f"{sc}/Conv1", f(res - 1), f(res - 1), 3)
        out += modconv(f"ToRGB_lod{log2 - res}", f(res - 1), num_channels, 1, noise=False)
    return out


def official_growing_d_vars(rng, resolution, num_channels, fmap_base, fmap_max, label_size=0, variant="stylegan1",
                            mbstd_num_features=1, lod=0.0):
    """D_basic (variant 'stylegan1') or D_stylegan ('revised'): lod, FromRGB_lod0, then per resolution Conv0,
    Conv1_down and the next FromRGB_lod, then 4x4/Conv, 4x4/Dense0 and 4x4/Dense1 (D_basic) / Output (D_stylegan)."""
    log2 = int(np.log2(resolution))
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    small = lambda *shape: (0.3 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    f = lambda s: nf(s, fmap_base, fmap_max)  # noqa: E731

    def fromrgb(res):
        k = log2 - res
        return [(f"FromRGB_lod{k}/weight", r(1, 1, num_channels, f(res - 1))),
                (f"FromRGB_lod{k}/bias", small(f(res - 1)))]

    out = [("lod", np.float32(lod))] + fromrgb(log2)
    for res in range(log2, 2, -1):
        sc = f"{2 ** res}x{2 ** res}"
        out += [(f"{sc}/Conv0/weight", r(3, 3, f(res - 1), f(res - 1))), (f"{sc}/Conv0/bias", small(f(res - 1))),
                (f"{sc}/Conv1_down/weight", r(3, 3, f(res - 1), f(res - 2))),
                (f"{sc}/Conv1_down/bias", small(f(res - 2)))]
        out += fromrgb(res - 1)
    last = "4x4/Dense1" if variant == "stylegan1" else "Output"
    out += [("4x4/Conv/weight", r(3, 3, f(1) + mbstd_num_features, f(1))), ("4x4/Conv/bias", small(f(1))),
            ("4x4/Dense0/weight", r(f(1) * 16, f(0))), ("4x4/Dense0/bias", small(f(0))),
            (f"{last}/weight", r(f(0), max(label_size, 1))), (f"{last}/bias", small(max(label_size, 1)))]
    return out


def _network_state(Network, name, func, kwargs, variables, components=None, version=4):
    return Network(dict(version=version, name=name, static_kwargs=dict(kwargs), components=components or {},
                        build_module_src="raise RuntimeError('network source must never run')\n",
                        build_func_name=func, variables=list(variables)))


def make_growing_pickle(variant="stylegan1", seed=0, resolution=8, num_channels=3, fmap_base=32, fmap_max=8,
                        latent_size=8, dlatent_size=8, mapping_layers=2, mapping_fmaps=8, label_size=0, lod=0.0,
                        extra_g_kwargs=None, extra_d_kwargs=None, tamper=None, gs_only=False):
    """(pickle bytes, {"G"/"Gs": (g_vars, m_vars, s_vars), "D": d_vars}) for a tiny official (G, D, Gs) triple of
    the progressive-growing networks: 'stylegan1' = G_style / D_basic (dnnlib Network state version 3, as
    NVlabs/stylegan writes it), 'revised' = G_main(G_synthesis_stylegan_revised) / D_stylegan (version 4).
    Every lod variable holds `lod`."""
    rng = np.random.default_rng(seed)
    num_layers = int(np.log2(resolution)) * 2 - 2
    common = dict(num_channels=num_channels, resolution=resolution, label_size=label_size, fmap_base=fmap_base,
                  fmap_max=fmap_max)
    g_kwargs = dict(common, latent_size=latent_size, dlatent_size=dlatent_size, mapping_layers=mapping_layers,
                    mapping_fmaps=mapping_fmaps)
    if variant == "revised":
        g_kwargs.update(synthesis_func="G_synthesis_stylegan_revised", truncation_psi=0.5)
    g_kwargs.update(extra_g_kwargs or {})
    d_kwargs = dict(common, mbstd_group_size=4)
    d_kwargs.update(extra_d_kwargs or {})
    nets = {}
    for gname in ("G", "Gs"):
        g_vars = [("lod", np.float32(lod)),
                  ("dlatent_avg", (0.3 * rng.standard_normal(dlatent_size)).astype(np.float32))]
        m_vars = []
        fan_in = latent_size
        if label_size:
            m_vars.append(("LabelConcat/weight", rng.standard_normal((label_size, latent_size)).astype(np.float32)))
            fan_in += latent_size
        for i in range(mapping_layers):
            fmaps = dlatent_size if i == mapping_layers - 1 else mapping_fmaps
            m_vars += [(f"Dense{i}/weight", (100 * rng.standard_normal((fan_in, fmaps))).astype(np.float32)),
                       (f"Dense{i}/bias", (30 * rng.standard_normal(fmaps)).astype(np.float32))]
            fan_in = fmaps
        make_s = official_v1_synthesis_vars if variant == "stylegan1" else official_revised_synthesis_vars
        s_vars = make_s(rng, resolution, num_channels, fmap_base, fmap_max, dlatent_size, lod=lod)
        nets[gname] = (g_vars, m_vars, s_vars)
    nets["D"] = official_growing_d_vars(rng, resolution, num_channels, fmap_base, fmap_max, label_size, variant,
                                        mbstd_num_features=1 if d_kwargs.get("mbstd_group_size", 4) > 1 else 0,
                                        lod=lod)
    if tamper is not None:
        tamper(nets)
    version = 3 if variant == "stylegan1" else 4
    g_func, syn_func = ("G_style", "G_synthesis") if variant == "stylegan1" else ("G_main",
                                                                                 "G_synthesis_stylegan_revised")
    d_func = "D_basic" if variant == "stylegan1" else "D_stylegan"

    def build(Network):
        out = []
        for gname in ("G", "Gs"):
            g_vars, m_vars, s_vars = nets[gname]
            mapping = _network_state(Network, "G_mapping", "G_mapping", dict(g_kwargs, dlatent_broadcast=num_layers),
                                     m_vars, version=version)
            synthesis = _network_state(Network, "G_synthesis", syn_func, g_kwargs, s_vars, version=version)
            out.append(_network_state(Network, gname, g_func, g_kwargs, g_vars,
                                      {"mapping": mapping, "synthesis": synthesis}, version=version))
        if gs_only:
            return out[1]
        return (out[0], _network_state(Network, "D", d_func, d_kwargs, nets["D"], version=version), out[1])

    return dump_official(build), nets


def _lrelu_plain(x):
    return np.where(x > 0, x, 0.2 * x)


def _v1_weight(w, gain):
    return w * (gain / np.sqrt(np.prod(w.shape[:-1])))


def nearest_upsample_ref(x, factor):
    return np.repeat(np.repeat(x, factor, axis=2), factor, axis=3)


def box_downsample_ref(x, factor):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))


def blur_ref(x, taps):
    """Official blur2d: depthwise correlation with the normalized outer product of taps, 'SAME' (odd taps)."""
    k = np.outer(taps, taps).astype(np.float64)
    k /= k.sum()
    p = k.shape[0] // 2
    h, w = x.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    return sum(k[i, j] * xp[:, :, i:i + h, j:j + w] for i in range(k.shape[0]) for j in range(k.shape[1]))


def _shift_sum(w):
    """The official fused resampling kernel: the 3x3 kernel zero-padded to 5x5 and summed over 2x2 shifts [4, 4]."""
    wp = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
    return wp[1:, 1:] + wp[:-1, 1:] + wp[1:, :-1] + wp[:-1, :-1]


def v1_fused_upscale_conv_ref(x, w):
    """Official upscale2d_conv2d (fused): tf.nn.conv2d_transpose(x, K, stride 2, 'SAME') with K = shift-summed w:
    y[2a + i - 1] += K[i] x[a] (the output of 2H keeps indices 1..2H of the full scatter)."""
    k = _shift_sum(w)
    n, _, h, wd = x.shape
    full = np.zeros((n, w.shape[3], 2 * h + 2, 2 * wd + 2))
    for i in range(4):
        for j in range(4):
            full[:, :, i:i + 2 * h:2, j:j + 2 * wd:2] += np.einsum("nchw,co->nohw", x, k[i, j])
    return full[:, :, 1:1 + 2 * h, 1:1 + 2 * wd]


def v1_fused_conv_downscale_ref(x, w):
    """Official conv2d_downscale2d (fused): tf.nn.conv2d(x, K/4, stride 2, 'SAME') with K = shift-summed w."""
    return _conv_valid(np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)]), _shift_sum(w) * 0.25, stride=2)


def adain_ref(x, wv, v, scope, noise=None):
    """StyleGAN1 layer_epilogue: noise * Noise/weight, bias, lrelu, instance norm, StyleMod (NCHW, float64)."""
    c = x.shape[1]
    if noise is not None:
        x = x + noise * v[f"{scope}/Noise/weight"].reshape(1, -1, 1, 1)
    x = _lrelu_plain(x + v[f"{scope}/bias"].reshape(1, -1, 1, 1))
    x = x - x.mean(axis=(2, 3), keepdims=True)
    x = x / np.sqrt((x ** 2).mean(axis=(2, 3), keepdims=True) + 1e-8)
    style = wv @ _v1_weight(v[f"{scope}/StyleMod/weight"], 1.0) + v[f"{scope}/StyleMod/bias"]
    return x * (style[:, :c, None, None] + 1) + style[:, c:, None, None]


def reference_v1_mapping(v, z, c, mapping_layers, lrmul=0.01):
    """G_mapping of networks_stylegan: the He gain in the weights, lrelu without gain."""
    x = z.astype(np.float64)
    if c is not None:
        x = np.concatenate([x, c @ v["LabelConcat/weight"]], axis=1)
    x = x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + 1e-8)
    for i in range(mapping_layers):
        x = _lrelu_plain(x @ (_v1_weight(v[f"Dense{i}/weight"], np.sqrt(2)) * lrmul) + v[f"Dense{i}/bias"] * lrmul)
    return x


def _split_params(params):
    mv = {k[len("mapping/"):]: v for k, v in params.items() if k.startswith("mapping/")}
    sv = {k[len("synthesis/"):]: v for k, v in params.items() if k.startswith("synthesis/")}
    return mv, sv


def _truncate(ws, avg, psi, cutoff):
    if psi == 1:
        return ws
    layer_psi = np.where(np.arange(ws.shape[1]) < (ws.shape[1] if cutoff is None else cutoff), psi, 1.0)
    return avg + (ws - avg) * layer_psi[None, :, None]


def reference_v1_generator(params, z, c=None, lod=0.0, mapping_layers=2, psi=1.0, cutoff=None, fused_scale="auto",
                           blur=(1, 2, 1)):
    """Official G_style with randomize_noise=False and structure 'linear' -> NCHW images (float64)."""
    mv, sv = _split_params(params)
    num_ws = len([k for k in sv if k.startswith("noise")])
    log2 = (num_ws + 2) // 2
    ws = _truncate(np.repeat(reference_v1_mapping(mv, z, c, mapping_layers)[:, None], num_ws, axis=1),
                   params["dlatent_avg"], psi, cutoff)

    def epilogue(x, idx, scope):
        return adain_ref(x, ws[:, idx], sv, scope, noise=sv[f"noise{idx}"])

    def torgb(res, x):
        k = log2 - res
        y = _conv_same(x, _v1_weight(sv[f"ToRGB_lod{k}/weight"], 1.0))
        return y + sv[f"ToRGB_lod{k}/bias"].reshape(1, -1, 1, 1)

    def block(res, x):
        sc = f"{2 ** res}x{2 ** res}"
        w = _v1_weight(sv[f"{sc}/Conv0_up/weight"], np.sqrt(2))
        fused = 2 ** res >= 128 if fused_scale == "auto" else fused_scale
        x = v1_fused_upscale_conv_ref(x, w) if fused else _conv_same(nearest_upsample_ref(x, 2), w)
        x = epilogue(blur_ref(x, blur) if blur is not None else x, res * 2 - 4, f"{sc}/Conv0_up")
        x = _conv_same(x, _v1_weight(sv[f"{sc}/Conv1/weight"], np.sqrt(2)))
        return epilogue(x, res * 2 - 3, f"{sc}/Conv1")

    x = np.repeat(sv["4x4/Const/const"], z.shape[0], axis=0).astype(np.float64)
    x = epilogue(x, 0, "4x4/Const")
    x = epilogue(_conv_same(x, _v1_weight(sv["4x4/Conv/weight"], np.sqrt(2))), 1, "4x4/Conv")
    images = torgb(2, x)
    for res in range(3, log2 + 1):  # structure 'linear'
        x = block(res, x)
        images = _lerp_clip_ref(torgb(res, x), nearest_upsample_ref(images, 2), lod - (log2 - res))
    return images


def _lerp_clip_ref(a, b, t):
    return a + (b - a) * np.clip(t, 0.0, 1.0)


def _modconv_ref(x, wv, v, scope, taps, up=False, demod=True):
    """Official modulated_conv2d_layer, per sample (NCHW, float64)."""
    weight = v[f"{scope}/weight"] * (1 / np.sqrt(np.prod(v[f"{scope}/weight"].shape[:3])))
    s = _dense(wv, v[f"{scope}/mod_weight"]) + v[f"{scope}/mod_bias"] + 1
    out = []
    for b in range(x.shape[0]):
        ww = weight * s[b][None, None, :, None]
        if demod:
            ww = ww / np.sqrt(np.sum(ww ** 2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        xb = x[b:b + 1]
        out.append(upsample_conv_2d(xb, ww, taps) if up else _conv_same(xb, ww))
    return np.concatenate(out, axis=0)


def reference_revised_generator(params, z, c=None, lod=0.0, mapping_layers=2, psi=1.0, cutoff=None,
                                taps=(1, 3, 3, 1)):
    """Official G_main + G_synthesis_stylegan_revised, randomize_noise=False, structure 'linear' -> NCHW."""
    mv, sv = _split_params(params)
    num_ws = len([k for k in sv if k.startswith("noise")]) + 1
    log2 = (num_ws + 2) // 2
    ws = _truncate(np.repeat(reference_mapping(mv, z, c, mapping_layers)[:, None], num_ws, axis=1),
                   params["dlatent_avg"], psi, cutoff)

    def layer(x, idx, scope, up=False):
        x = _modconv_ref(x, ws[:, idx], sv, scope, taps, up=up)
        return _bias_act(x + sv[f"noise{idx}"] * sv[f"{scope}/noise_strength"], sv[f"{scope}/bias"], "lrelu")

    def torgb(res, x):
        sc = f"ToRGB_lod{log2 - res}"
        return _bias_act(_modconv_ref(x, ws[:, res * 2 - 3], sv, sc, taps, demod=False), sv[f"{sc}/bias"], "linear")

    x = np.repeat(sv["4x4/Const/const"], z.shape[0], axis=0).astype(np.float64)
    x = layer(x, 0, "4x4/Conv")
    images = torgb(2, x)
    for res in range(3, log2 + 1):  # structure 'linear'; Upsample_lod = upsample_2d with its default (nearest) kernel
        sc = f"{2 ** res}x{2 ** res}"
        x = layer(x, res * 2 - 5, f"{sc}/Conv0_up", up=True)
        x = layer(x, res * 2 - 4, f"{sc}/Conv1")
        images = _lerp_clip_ref(torgb(res, x), nearest_upsample_ref(images, 2), lod - (log2 - res))
    return images


def _mbstd_ref(x, group_size):
    n, ch, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(g, -1, 1, ch, h, w)
    y = np.sqrt(((y - y.mean(axis=0, keepdims=True)) ** 2).mean(axis=0) + 1e-8).mean(axis=(2, 3, 4))  # [M, 1]
    return np.concatenate([x, np.tile(y[:, :, None, None], (g, 1, h, w))], axis=1)


def reference_growing_discriminator(v, img_nchw, c=None, lod=0.0, variant="stylegan1", group_size=4,
                                    fused_scale="auto", blur=(1, 2, 1), taps=(1, 3, 3, 1)):
    """Official D_basic ('stylegan1') or D_stylegan ('revised'), structure 'linear' -> scores [N, 1] (float64).
    group_size <= 1 disables minibatch stddev (as officially)."""
    v1 = variant == "stylegan1"

    def conv(x, scope, act=True):
        w = v[f"{scope}/weight"]
        x = _conv_same(x, _v1_weight(w, np.sqrt(2)) if v1 else _v1_weight(w, 1.0))
        return layer_act(x, v[f"{scope}/bias"]) if act else x

    def layer_act(x, b):
        b = b.reshape([1, -1] + [1] * (x.ndim - 2))
        return _lrelu_plain(x + b) if v1 else _lrelu(x + b)

    def fromrgb(x, res):
        return conv(x, f"FromRGB_lod{log2 - res}")

    def block(x, res):
        sc = f"{2 ** res}x{2 ** res}"
        x = conv(x, f"{sc}/Conv0")
        if v1:
            x = blur_ref(x, blur) if blur is not None else x
            w = _v1_weight(v[f"{sc}/Conv1_down/weight"], np.sqrt(2))
            fused = x.shape[2] >= 128 if fused_scale == "auto" else fused_scale
            x = v1_fused_conv_downscale_ref(x, w) if fused else box_downsample_ref(_conv_same(x, w), 2)
        else:
            x = conv_downsample_2d(x, _v1_weight(v[f"{sc}/Conv1_down/weight"], 1.0), taps)
        return layer_act(x, v[f"{sc}/Conv1_down/bias"])

    log2 = int(np.log2(img_nchw.shape[2]))
    img = img_nchw.astype(np.float64)
    x = fromrgb(img, log2)
    for res in range(log2, 2, -1):  # structure 'linear'
        x = block(x, res)
        img = box_downsample_ref(img, 2)
        x = _lerp_clip_ref(x, fromrgb(img, res - 1), lod - (log2 - res))
    if group_size > 1:
        x = _mbstd_ref(x, group_size)
    x = conv(x, "4x4/Conv").reshape(x.shape[0], -1)  # NCHW flatten
    w0 = v["4x4/Dense0/weight"]
    x = layer_act(x @ (_v1_weight(w0, np.sqrt(2)) if v1 else _v1_weight(w0, 1.0)), v["4x4/Dense0/bias"])
    last = "4x4/Dense1" if v1 else "Output"
    x = x @ _v1_weight(v[f"{last}/weight"], 1.0) + v[f"{last}/bias"]
    return np.sum(x * c, axis=1, keepdims=True) if c is not None else x
