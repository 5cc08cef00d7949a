"""StyleGAN3's layer schedule: how the layer index sets every layer's cutoff, stopband, sampling rate, size, channels,
resampling factors, filter taps and padding (NVlabs/stylegan3, SynthesisNetwork and SynthesisLayer constructors).

For i = 0..N (N = num_layers; entry 0 also describes the Fourier input), with R = img_resolution:

    e[i]        = min(i / (N - num_critical), 1)
    f_c[i]      = first_cutoff * (R/2 / first_cutoff) ** e[i]                           cutoff
    f_t[i]      = first_stopband * (R/2 * last_stopband_rel / first_stopband) ** e[i]   minimum stopband
    s[i]        = 2 ** ceil(log2(min(2 f_t[i], R)))                                     sampling rate
    f_h[i]      = max(f_t[i], s[i]/2) - f_c[i]                                          transition half-width
    size[i]     = s[i] + 2 margin_size, except size[N-1] = size[N] = R
    channels[i] = rint(min(channel_base/2 / f_c[i], channel_max)), channels[N] = img_channels

Layer i maps entry max(i-1, 0) to entry i; it is critically sampled for i >= N - num_critical and the ToRGB layer
for i = N. It runs at tmp = max(s_in, s_out) * (1 if ToRGB else lrelu_upsampling), up = tmp / s_in, down = tmp /
s_out; a factor > 1 (not ToRGB) gets filter_size * factor taps, else 1 (no filter). Its padding, on the upsampled
image, centres the samples ("symmetric interpretation", paper App. C.3):

    pad_total = (out_size - 1) * down + 1 - (in_size + k - 1) * up + up_taps + down_taps - 2
    pad_lo = (pad_total + up) // 2,  pad_hi = pad_total - pad_lo,  padding = [lo, hi, lo, hi]

The arithmetic is upstream's (numpy float64), so sizes, rates and filters come out identical.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from stylegan2_tf.networks.stylegan3.filters import design_lowpass_filter

# NVIDIA's defaults (SynthesisNetwork, SynthesisLayer).
DEFAULTS = dict(num_layers=14, num_critical=2, first_cutoff=2.0, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3,
                margin_size=10, conv_kernel=3, filter_size=6, lrelu_upsampling=2, use_radial_filters=False)


@dataclass(frozen=True)
class InputSpec:
    """The Fourier-feature input: channels, size (px), sampling_rate and bandwidth (= cutoff) of entry 0."""
    channels: int
    size: int
    sampling_rate: float
    bandwidth: float


@dataclass(frozen=True)
class LayerSpec:
    """One SynthesisLayer, with upstream's attribute names (in_*/out_* refer to entries max(i-1, 0) and i)."""
    index: int
    name: str
    is_torgb: bool
    is_critically_sampled: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    tmp_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    conv_kernel: int
    up_factor: int
    down_factor: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: Tuple[int, int, int, int]

    def up_filter(self) -> Optional[np.ndarray]:
        """[up_taps] float32, or None for an identity (1 tap)."""
        return design_lowpass_filter(self.up_taps, self.in_cutoff, self.in_half_width * 2, self.tmp_sampling_rate)

    def down_filter(self) -> Optional[np.ndarray]:
        """[down_taps] (or [down_taps, down_taps] when radial) float32, or None for an identity."""
        return design_lowpass_filter(self.down_taps, self.out_cutoff, self.out_half_width * 2,
                                     self.tmp_sampling_rate, radial=self.down_radial)

    def reduced(self, img_resolution: int, num_fp16_res: int) -> bool:
        """Whether upstream runs this layer in float16: out_sampling_rate * 2**num_fp16_res > img_resolution."""
        return self.out_sampling_rate * (2 ** int(num_fp16_res)) > img_resolution


@dataclass(frozen=True)
class Schedule:
    img_resolution: int
    input: InputSpec
    layers: Tuple[LayerSpec, ...]
    cutoffs: np.ndarray         # f_c [N+1]
    stopbands: np.ndarray       # f_t [N+1]
    sampling_rates: np.ndarray  # s [N+1]
    half_widths: np.ndarray     # f_h [N+1]
    sizes: np.ndarray           # [N+1]
    channels: np.ndarray        # [N+1]

    @property
    def layer_names(self) -> Tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)


def check_resolution(img_resolution) -> int:
    res = int(img_resolution)
    if res != img_resolution or res < 4 or res & (res - 1):
        raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution!r}")
    return res


def synthesis_schedule(img_resolution: int, img_channels: int, channel_base: int = 32768, channel_max: int = 512,
                       num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2.0,
                       first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                       conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                       use_radial_filters: bool = False) -> Schedule:
    """The input and the num_layers + 1 layers of a StyleGAN3 synthesis network (see the module docstring)."""
    res = check_resolution(img_resolution)
    n, nc = int(num_layers), int(num_critical)
    if n < 1 or not 0 <= nc < n:
        raise ValueError(f"need num_layers >= 1 and 0 <= num_critical < num_layers, got {num_layers}, {num_critical}")
    for key, value in (("conv_kernel", conv_kernel), ("filter_size", filter_size),
                       ("lrelu_upsampling", lrelu_upsampling), ("img_channels", img_channels),
                       ("channel_base", channel_base), ("channel_max", channel_max)):
        if int(value) != value or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if int(margin_size) != margin_size or margin_size < 0:
        raise ValueError(f"margin_size must be an integer >= 0, got {margin_size!r}")

    last_cutoff = res / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / (n - nc), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + int(margin_size) * 2
    sizes[-2:] = res
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    if np.any(channels < 1):
        raise ValueError(f"channel_base={channel_base} gives layers without channels: {channels.astype(int).tolist()}")

    inp = InputSpec(channels=int(channels[0]), size=int(sizes[0]), sampling_rate=float(sampling_rates[0]),
                    bandwidth=float(cutoffs[0]))
    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == n
        critical = idx >= n - nc
        in_rate, out_rate = int(sampling_rates[prev]), int(sampling_rates[idx])
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else int(lrelu_upsampling))
        up, down = int(np.rint(tmp_rate / in_rate)), int(np.rint(tmp_rate / out_rate))
        if in_rate * up != tmp_rate or out_rate * down != tmp_rate:
            raise ValueError(f"layer {idx}: sampling rates {in_rate} -> {tmp_rate} -> {out_rate} are not integer "
                             "multiples")
        up_taps = int(filter_size) * up if up > 1 and not is_torgb else 1
        down_taps = int(filter_size) * down if down > 1 and not is_torgb else 1
        k = 1 if is_torgb else int(conv_kernel)
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        pad_total = (out_size - 1) * down + 1 - (in_size + k - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        out_channels = int(channels[idx])
        layers.append(LayerSpec(
            index=idx, name=f"L{idx}_{out_size}_{out_channels}", is_torgb=is_torgb, is_critically_sampled=critical,
            in_channels=int(channels[prev]), out_channels=out_channels, in_size=in_size, out_size=out_size,
            in_sampling_rate=in_rate, out_sampling_rate=out_rate, tmp_sampling_rate=tmp_rate,
            in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[idx]), in_half_width=float(half_widths[prev]),
            out_half_width=float(half_widths[idx]), conv_kernel=k, up_factor=up, down_factor=down, up_taps=up_taps,
            down_taps=down_taps, down_radial=bool(use_radial_filters) and not critical,
            padding=(int(pad_lo), int(pad_hi), int(pad_lo), int(pad_hi))))
    return Schedule(img_resolution=res, input=inp, layers=tuple(layers), cutoffs=cutoffs, stopbands=stopbands,
                    sampling_rates=sampling_rates, half_widths=half_widths, sizes=sizes, channels=channels)


def num_ws_for(num_layers: int = 14) -> int:
    """ws the synthesis network consumes: one for the input, one per layer and one for ToRGB (num_layers + 2)."""
    return int(num_layers) + 2
