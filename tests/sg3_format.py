"""Test helpers for StyleGAN3: synthetic official training pickles written without torch, and a numpy statement of the
StyleGAN3 generator's forward pass (NCHW, torch layouts, float64) to check imported networks against.

Written from the upstream semantics (NVlabs/stylegan3 training/networks_stylegan3.py and torch_utils/ops, as restated
in docs/networks.md and the project's StyleGAN3 reference notes), independently of stylegan2_tf's code: the schedule
is recomputed here with upstream's formulas, the filters are designed with scipy (scipy.signal.firwin,
scipy.special.j1, scipy.signal.kaiser_beta / kaiser_atten, np.kaiser), and the forward pass follows upstream's
order of operations (mapping with z and label normalisation; the Fourier input via affine_grid; the modulated conv
with pre-normalisation, per-sample weights, demodulation and input gain, padding k - 1; filtered_lrelu's reference
path: bias, upfirdn2d up with gain up^2, lrelu * gain, clamp, upfirdn2d down; output_scale).

The pickles reuse torch_format.py's container (persistent records, legacy storage blobs, placeholder module_src);
the module trees and the attributes each constructor sets follow upstream's constructors.
"""
from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special

import torch_format as tfm

SYNTHESIS_DEFAULTS = dict(channel_base=32768, channel_max=512, num_layers=14, num_critical=2, first_cutoff=2,
                          first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3, margin_size=10, output_scale=0.25,
                          num_fp16_res=4)
LAYER_DEFAULTS = dict(conv_kernel=3, filter_size=6, lrelu_upsampling=2, use_radial_filters=False, conv_clamp=256,
                      magnitude_ema_beta=0.999)


# ---------------------------------------------------------------------------------------------------------------------
# Schedule and filters (upstream's SynthesisNetwork / SynthesisLayer constructors).

def design_filter(numtaps, cutoff, width, fs, radial=False):
    if numtaps == 1:
        return None
    if not radial:
        return scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs).astype(np.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f *= np.outer(w, w)
    f /= np.sum(f)
    return f.astype(np.float32)


def schedule(img_resolution, img_channels, **kwargs):
    """(input attrs, [layer attrs]) with upstream's attribute names, for the synthesis kwargs given."""
    k = dict(SYNTHESIS_DEFAULTS, **LAYER_DEFAULTS)
    k.update(kwargs)
    n, res = k["num_layers"], img_resolution
    last_cutoff = res / 2
    last_stopband = last_cutoff * k["last_stopband_rel"]
    exponents = np.minimum(np.arange(n + 1) / (n - k["num_critical"]), 1)
    cutoffs = k["first_cutoff"] * (last_cutoff / k["first_cutoff"]) ** exponents
    stopbands = k["first_stopband"] * (last_stopband / k["first_stopband"]) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + k["margin_size"] * 2
    sizes[-2:] = res
    channels = np.rint(np.minimum((k["channel_base"] / 2) / cutoffs, k["channel_max"]))
    channels[-1] = img_channels
    inp = dict(channels=int(channels[0]), size=int(sizes[0]), sampling_rate=rates[0], bandwidth=cutoffs[0])
    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        torgb = idx == n
        crit = idx >= n - k["num_critical"]
        L = dict(is_torgb=torgb, is_critically_sampled=crit,
                 use_fp16=np.bool_(rates[idx] * (2 ** k["num_fp16_res"]) > res),
                 in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                 in_size=np.array([int(sizes[prev])] * 2), out_size=np.array([int(sizes[idx])] * 2),
                 in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[idx]),
                 in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx], in_half_width=half_widths[prev],
                 out_half_width=half_widths[idx])
        L["tmp_sampling_rate"] = max(L["in_sampling_rate"], L["out_sampling_rate"]) * (
            1 if torgb else k["lrelu_upsampling"])
        L["conv_kernel"] = 1 if torgb else k["conv_kernel"]
        L["up_factor"] = int(np.rint(L["tmp_sampling_rate"] / L["in_sampling_rate"]))
        L["up_taps"] = k["filter_size"] * L["up_factor"] if L["up_factor"] > 1 and not torgb else 1
        L["down_factor"] = int(np.rint(L["tmp_sampling_rate"] / L["out_sampling_rate"]))
        L["down_taps"] = k["filter_size"] * L["down_factor"] if L["down_factor"] > 1 and not torgb else 1
        L["down_radial"] = k["use_radial_filters"] and not crit
        pad_total = (L["out_size"] - 1) * L["down_factor"] + 1
        pad_total -= (L["in_size"] + L["conv_kernel"] - 1) * L["up_factor"]
        pad_total += L["up_taps"] + L["down_taps"] - 2
        pad_lo = (pad_total + L["up_factor"]) // 2
        pad_hi = pad_total - pad_lo
        L["padding"] = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]
        L["up_filter"] = design_filter(L["up_taps"], L["in_cutoff"], L["in_half_width"] * 2, L["tmp_sampling_rate"])
        L["down_filter"] = design_filter(L["down_taps"], L["out_cutoff"], L["out_half_width"] * 2,
                                         L["tmp_sampling_rate"], radial=L["down_radial"])
        L["name"] = f"L{idx}_{L['out_size'][0]}_{L['out_channels']}"
        L["conv_clamp"], L["magnitude_ema_beta"] = k["conv_clamp"], k["magnitude_ema_beta"]
        layers.append(L)
    return inp, layers


# ---------------------------------------------------------------------------------------------------------------------
# Module trees (upstream's constructors), with random weights.

def _fc(rng, in_f, out_f, activation="linear", lr=1, bias_init=0.0, weight_init=1.0, kwargs=None):
    m = tfm.Module("FullyConnectedLayer", (in_f, out_f), kwargs or {}, in_features=in_f, out_features=out_f,
                   activation=activation)
    m.params["weight"] = rng.n(out_f, in_f, scale=max(weight_init, 0.3) / lr)  # (weight_init 0 is random here)
    m.params["bias"] = tfm._f32((np.broadcast_to(np.asarray(bias_init, np.float32), [out_f])
                                 + rng.n(out_f, scale=0.3)) / lr)
    m.attrs.update(weight_gain=lr / np.sqrt(in_f), bias_gain=lr)
    return m


def sg3_generator(seed=0, z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=None,
                  synthesis_kwargs=None, extra_kwargs=None, transform=None) -> tfm.Module:
    """networks_stylegan3.Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs,
    **synthesis_kwargs) as a module tree with random weights and buffers (transform: the input's [3, 3] buffer,
    identity by default)."""
    rng = tfm._Rng(seed)
    mk, sk = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
    inp, layers = schedule(img_resolution, img_channels, **sk)
    full = dict(SYNTHESIS_DEFAULTS, **sk)
    num_ws = full["num_layers"] + 2
    syn = tfm.Module("SynthesisNetwork", (), dict(w_dim=w_dim, img_resolution=img_resolution,
                                                  img_channels=img_channels, **sk),
                     w_dim=w_dim, num_ws=num_ws, img_resolution=img_resolution, img_channels=img_channels,
                     num_layers=full["num_layers"], num_critical=full["num_critical"],
                     margin_size=full["margin_size"], output_scale=full["output_scale"],
                     num_fp16_res=full["num_fp16_res"])
    c = inp["channels"]
    si = tfm.Module("SynthesisInput", (), dict(w_dim=w_dim, channels=c, size=inp["size"],
                                               sampling_rate=inp["sampling_rate"], bandwidth=inp["bandwidth"]),
                    w_dim=w_dim, channels=c, size=np.array([inp["size"]] * 2), sampling_rate=inp["sampling_rate"],
                    bandwidth=inp["bandwidth"])
    freqs = rng.rng.standard_normal((c, 2))
    radii = np.sqrt(np.sum(freqs ** 2, axis=1, keepdims=True))
    freqs = freqs / (radii * np.exp(radii ** 2) ** 0.25) * inp["bandwidth"]
    si.params["weight"] = rng.n(c, c)
    si.modules["affine"] = _fc(rng, w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0],
                               kwargs=dict(weight_init=0, bias_init=[1, 0, 0, 0]))
    si.buffers["transform"] = tfm._f32(np.eye(3) if transform is None else transform)
    si.buffers["freqs"] = tfm._f32(freqs)
    si.buffers["phases"] = tfm._f32(rng.rng.uniform(size=c) - 0.5)
    syn.modules["input"] = si
    layer_kwargs = {key: sk[key] for key in LAYER_DEFAULTS if key in sk}
    for L in layers:
        args = {key: L[key] for key in ("is_torgb", "is_critically_sampled", "use_fp16", "in_channels",
                                        "out_channels", "in_sampling_rate", "out_sampling_rate", "in_cutoff",
                                        "out_cutoff", "in_half_width", "out_half_width")}
        args.update(in_size=int(L["in_size"][0]), out_size=int(L["out_size"][0]))
        attrs = {key: value for key, value in L.items() if key not in ("name", "up_filter", "down_filter")}
        m = tfm.Module("SynthesisLayer", (), dict(w_dim=w_dim, **args, **layer_kwargs), w_dim=w_dim, **attrs)
        k = L["conv_kernel"]
        m.modules["affine"] = _fc(rng, w_dim, L["in_channels"], bias_init=1, kwargs=dict(bias_init=1))
        m.params["weight"] = rng.n(L["out_channels"], L["in_channels"], k, k)
        m.params["bias"] = rng.n(L["out_channels"], scale=0.3)
        m.buffers["magnitude_ema"] = tfm._f32(rng.rng.uniform(0.3, 2.0))
        m.buffers["up_filter"] = L["up_filter"]
        m.buffers["down_filter"] = L["down_filter"]
        syn.modules[L["name"]] = m
    syn.attrs["layer_names"] = [L["name"] for L in layers]
    kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                  mapping_kwargs=tfm.easydict(mk), **sk, **(extra_kwargs or {}))
    G = tfm.Module("Generator", (), kwargs, z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                   img_channels=img_channels)
    G.modules["synthesis"] = syn
    G.attrs["num_ws"] = num_ws
    G.modules["mapping"] = _mapping(rng, z_dim, c_dim, w_dim, num_ws, mk)
    return G


def _mapping(rng, z_dim, c_dim, w_dim, num_ws, mk):
    num_layers, lr = mk.get("num_layers", 2), mk.get("lr_multiplier", 0.01)
    m = tfm.Module("MappingNetwork", (), dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, **mk),
                   z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers,
                   w_avg_beta=mk.get("w_avg_beta", 0.998))
    if c_dim:
        m.modules["embed"] = _fc(rng, c_dim, w_dim)
    else:
        m.attrs["embed"] = None
    features = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * num_layers
    for i in range(num_layers):
        m.modules[f"fc{i}"] = _fc(rng, features[i], features[i + 1], activation="lrelu", lr=lr,
                                  kwargs=dict(activation="lrelu", lr_multiplier=lr))
    m.buffers["w_avg"] = rng.n(w_dim, scale=0.3)
    return m


# ---------------------------------------------------------------------------------------------------------------------
# numpy statement of the forward pass (NCHW, float64).

def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0):
    """Upstream's _upfirdn2d_ref: zero insertion, pad / crop, true convolution with f (1-D: along x, then y, each at
    sqrt(gain); 2-D [fh, fw] at gain; None = 1x1), keep every down-th sample."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    z = np.zeros((n, c, h * up, w * up))
    z[:, :, ::up, ::up] = x
    z = np.pad(z, [(0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))])
    z = z[:, :, max(-py0, 0):z.shape[2] - max(-py1, 0), max(-px0, 0):z.shape[3] - max(-px1, 0)]
    f = np.ones((1, 1)) if f is None else np.asarray(f, np.float64)
    f = f[::-1] if f.ndim == 1 else f[::-1, ::-1]   # convolution
    if f.ndim == 1:
        g = f * np.sqrt(gain)
        t = len(g)
        zw = sum(g[i] * z[:, :, :, i:z.shape[3] - t + 1 + i] for i in range(t))
        z = sum(g[i] * zw[:, :, i:zw.shape[2] - t + 1 + i, :] for i in range(t))
    else:
        g = f * gain
        fh, fw = g.shape
        z = sum(g[a, b] * z[:, :, a:z.shape[2] - fh + 1 + a, b:z.shape[3] - fw + 1 + b]
                for a in range(fh) for b in range(fw))
    return z[:, :, ::down, ::down]


def filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope, clamp):
    x = x + b.reshape(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2)
    x = np.where(x >= 0, x, x * slope) * gain
    if clamp is not None:
        x = np.clip(x, -clamp, clamp)
    return upfirdn2d(x, fd, down=down)


def fully_connected(p, name, x, lr=1.0, act="linear"):
    return tfm.fully_connected(p, name, x, act=act, lr=lr)


def synthesis_input(p, w, inp, transform=None):
    """SynthesisInput.forward: w [N, w_dim] -> [N, C, size, size]."""
    pre = "synthesis.input."
    T0 = p[pre + "transform"].astype(np.float64) if transform is None else np.asarray(transform, np.float64)
    freqs, phases = p[pre + "freqs"].astype(np.float64), p[pre + "phases"].astype(np.float64)
    t = fully_connected(p, pre + "affine", w)
    t = t / np.linalg.norm(t[:, :2], axis=1, keepdims=True)
    n = w.shape[0]
    m_r = np.repeat(np.eye(3)[None], n, axis=0)
    m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
    m_t = np.repeat(np.eye(3)[None], n, axis=0)
    m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
    T = m_r @ m_t @ T0[None]
    phases = phases[None] + (freqs[None] @ T[:, :2, 2:])[:, :, 0]
    freqs = freqs[None] @ T[:, :2, :2]
    bw, sr, size = inp["bandwidth"], inp["sampling_rate"], inp["size"]
    amps = np.clip(1 - (np.linalg.norm(freqs, axis=2) - bw) / (sr / 2 - bw), 0, 1)
    base = (2 * np.arange(size) + 1) / size - 1          # affine_grid, align_corners=False
    g = 0.5 * size / sr * base
    x = (g[None, None, :, None] * freqs[:, None, None, :, 0] + g[None, :, None, None] * freqs[:, None, None, :, 1]
         + phases[:, None, None, :])
    x = np.sin(x * (2 * np.pi)) * amps[:, None, None, :]
    weight = p[pre + "weight"].astype(np.float64) / np.sqrt(inp["channels"])
    return (x @ weight.T).transpose(0, 3, 1, 2)


def synthesis_layer(p, L, x, w):
    pre = f"synthesis.{L['name']}."
    styles = fully_connected(p, pre + "affine", w)
    weight = p[pre + "weight"].astype(np.float64)
    k = L["conv_kernel"]
    if L["is_torgb"]:
        styles = styles / np.sqrt(L["in_channels"] * k * k)
    else:
        weight = weight / np.sqrt(np.mean(weight ** 2, axis=(1, 2, 3), keepdims=True))
        styles = styles / np.sqrt(np.mean(styles ** 2))
    ws = weight[None] * styles[:, None, :, None, None]                       # [N, O, I, k, k]
    if not L["is_torgb"]:
        ws = ws / np.sqrt(np.sum(ws ** 2, axis=(2, 3, 4), keepdims=True) + 1e-8)
    ws = ws / np.sqrt(float(p[pre + "magnitude_ema"]))
    xp = np.pad(x, [(0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)])
    y = np.concatenate([tfm._correlate(xp[i:i + 1], ws[i]) for i in range(x.shape[0])])
    gain, slope = (1.0, 1.0) if L["is_torgb"] else (np.sqrt(2), 0.2)
    return filtered_lrelu(y, p.get(pre + "up_filter"), p.get(pre + "down_filter"), p[pre + "bias"],
                          L["up_factor"], L["down_factor"], L["padding"], gain, slope, L["conv_clamp"])


def reference_generator(p, z, c=None, img_resolution=16, img_channels=3, synthesis_kwargs=None, mapping_layers=2,
                        psi=1.0, cutoff=None, transform=None, ws=None):
    """Generator(z, c, truncation_psi, truncation_cutoff) -> NCHW images (float64); ws: use these instead of the
    mapping's; transform: the input's user transform instead of the pickled one."""
    sk = dict(synthesis_kwargs or {})
    inp, layers = schedule(img_resolution, img_channels, **sk)
    num_ws = len(layers) + 1
    if ws is None:
        w = tfm.mapping(p, "mapping.", z, c, mapping_layers)
        ws = np.repeat(w[:, None], num_ws, axis=1)
        if psi != 1:
            k = num_ws if cutoff is None else cutoff
            ws[:, :k] = p["mapping.w_avg"] + (ws[:, :k] - p["mapping.w_avg"]) * psi
    x = synthesis_input(p, ws[:, 0], inp, transform)
    for i, L in enumerate(layers):
        x = synthesis_layer(p, L, x, ws[:, i + 1])
    return x * dict(SYNTHESIS_DEFAULTS, **sk)["output_scale"]


def make_sg3_pickle(G=None, D=None, G_ema=None, augment=None, training_set_kwargs=None, **kwargs):
    """(pickle bytes, {"G", "D", "G_ema": flat torch-named arrays}) of a StyleGAN3 training snapshot dict."""
    return tfm.make_ada_pytorch_pickle(G=G, D=D, G_ema=G_ema, augment=augment,
                                       training_set_kwargs=training_set_kwargs, **kwargs)
