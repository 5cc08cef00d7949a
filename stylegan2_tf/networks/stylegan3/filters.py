"""StyleGAN3's low-pass filters, designed in numpy (scipy is not needed at run time).

Upstream (NVlabs/stylegan3, SynthesisLayer.design_lowpass_filter) designs every filter in float64 and stores it as
float32:

* separable: `scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)`, the Kaiser-window method. Here
  `firwin_lowpass` states what firwin computes for a low-pass: the Kaiser window's beta comes from the attenuation
  that `numtaps` and the normalised transition width imply (`kaiser_atten`, `kaiser_beta`), the ideal response is a
  sinc at the normalised cutoff, and the windowed taps are scaled to unit DC gain;
* radial (StyleGAN3-R's non-critical down filters): `jinc_lowpass`, the 2-D jinc `J1(2 pi f_c r) / (pi r)` on the
  tap grid, times the outer product of the same Kaiser window, normalised to sum 1. `bessel_j1` is J1 computed from
  Bessel's integral by the trapezoidal rule, which is exact up to aliasing terms J_{1 +- kM}(x) for M points; with
  M >= 2|x| + 64 those are far below float64 rounding, so the result is accurate to ~1e-15 absolute (checked
  against scipy.special.j1 in the tests).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np


def kaiser_atten(numtaps: int, width: float) -> float:
    """Attenuation in dB of a Kaiser FIR filter of `numtaps` taps and transition width `width` (as a fraction of
    the Nyquist rate): 2.285 (numtaps - 1) pi width + 7.95 (scipy.signal.kaiser_atten)."""
    return 2.285 * (numtaps - 1) * np.pi * width + 7.95


def kaiser_beta(a: float) -> float:
    """The Kaiser window's beta for an attenuation of `a` dB (Kaiser's empirical formula, scipy.signal.kaiser_beta)."""
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a > 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def firwin_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """The taps [numtaps] (float64) that scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs) designs: a
    linear-phase low-pass with a Kaiser window and unit gain at DC."""
    numtaps = int(numtaps)
    nyq = 0.5 * float(fs)
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if not 0 < cutoff < nyq:
        raise ValueError(f"cutoff must lie strictly between 0 and fs/2 = {nyq}, got {cutoff}")
    beta = kaiser_beta(kaiser_atten(numtaps, float(width) / nyq))
    c = float(cutoff) / nyq
    m = np.arange(numtaps) - 0.5 * (numtaps - 1)
    h = c * np.sinc(c * m) * np.kaiser(numtaps, beta)
    return h / np.sum(h)


def bessel_j1(x) -> np.ndarray:
    """J1(x), the Bessel function of the first kind of order 1, elementwise (float64).

    J1(x) = 1/(2 pi) * integral over a period of cos(t - x sin t) dt, summed by the trapezoidal rule on M points; the
    rule's error is the sum of J_{1 + kM}(x) over k != 0, negligible for M >= 2|x| + 64.
    """
    x = np.asarray(x, np.float64)
    flat = x.reshape(-1)
    if flat.size == 0:
        return np.zeros_like(x)
    if not np.all(np.isfinite(flat)):
        raise ValueError("bessel_j1 needs finite arguments")
    m = 2 * int(math.ceil(float(np.max(np.abs(flat))))) + 64
    t = 2 * np.pi * np.arange(m) / m
    out = np.empty_like(flat)
    chunk = max(1, (1 << 22) // m)   # bounds the [chunk, M] temporary
    for i in range(0, flat.size, chunk):
        xs = flat[i:i + chunk, None]
        out[i:i + chunk] = np.mean(np.cos(t[None, :] - xs * np.sin(t[None, :])), axis=1)
    return out.reshape(x.shape)


def jinc_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """The radially symmetric [numtaps, numtaps] (float64) filter of StyleGAN3-R: jinc at `cutoff` on the grid
    (arange(n) - (n - 1) / 2) / fs, windowed by the outer product of a Kaiser window, normalised to sum 1."""
    numtaps = int(numtaps)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    safe = np.where(r > 0, r, 1.0)
    # J1(2 pi f_c r) / (pi r) tends to f_c at r = 0 (only reached with an odd numtaps; upstream's are even).
    f = np.where(r > 0, bessel_j1(2 * cutoff * (np.pi * safe)) / (np.pi * safe), float(cutoff))
    beta = kaiser_beta(kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f = f * np.outer(w, w)
    return f / np.sum(f)


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> Optional[np.ndarray]:
    """A layer's up- or downsampling filter as upstream designs it: None for 1 tap (identity), else the separable
    Kaiser low-pass [numtaps] or, with radial, the jinc filter [numtaps, numtaps]; float32."""
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    f = jinc_lowpass(numtaps, cutoff, width, fs) if radial else firwin_lowpass(numtaps, cutoff, width, fs)
    return f.astype(np.float32)
