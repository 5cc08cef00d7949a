"""Performance-critical ops of StyleGAN2, each with a compiled kernel and a pure-TF reference.

    bias_act            fused bias + activation + gain + clamp
    channel_scale       per-sample channel scaling x * s[n, c] (modulation, demodulation), gradient in one pass
    channel_sum         sum over all axes but the last (bias gradients), in one pass
    scale_bias_act      bias_act(channel_scale(x, s, a), b) in one pass (a synthesis layer's tail), same numbers
    upfirdn2d           upsample, pad, FIR-filter, downsample
    setup_filter, filter2d, upsample2d, downsample2d
    conv2d_resample                      convolution with optional fused 2x FIR up/downsampling (what layers call)
    affine_resample                      bilinear samples of a padded, 2x-upsampled image (ADA's geometric stage)
    filtered_lrelu                       bias, upsampling FIR, leaky ReLU, clamp, downsampling FIR (StyleGAN3)
    upsample_conv2d, conv_downsample2d, grouped_upsample_conv2d   its fused forms
    full_conv2d                          "full" convolution (padding k - 1), StyleGAN3's synthesis layers
    custom_ops_available()               whether the compiled library loads
    cpu_loops()                          which copy of the compiled CPU loops runs ('avx512bf16', 'avx512', 'avx2', 'baseline')
    host_cpu()                           the CPU's model and its bfloat16 instruction sets (AMX, AVX512-BF16)

Every op takes impl='auto' | 'custom' | 'ref'.
"""
from stylegan2_tf.ops._library import (cpu_loops, custom_ops_available, host_cpu, library_path, load_error,
                                      resolve_impl)
from stylegan2_tf.ops.affine_resample import affine_resample
from stylegan2_tf.ops.filtered_lrelu import filtered_lrelu
from stylegan2_tf.ops.bias_act import ACTIVATIONS, bias_act
from stylegan2_tf.ops.channel_scale import channel_scale, channel_sum
from stylegan2_tf.ops.scale_bias_act import scale_bias_act
from stylegan2_tf.ops.conv2d_resample import (conv2d_resample, conv_downsample2d, full_conv2d,
                                              grouped_upsample_conv2d, upsample_conv2d)
from stylegan2_tf.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "ACTIVATIONS", "affine_resample", "bias_act", "channel_scale", "channel_sum", "conv2d_resample", "conv_downsample2d", "cpu_loops",
    "custom_ops_available", "host_cpu",
    "downsample2d", "filter2d", "filtered_lrelu", "full_conv2d", "grouped_upsample_conv2d",
    "library_path", "load_error", "resolve_impl", "scale_bias_act", "setup_filter", "upfirdn2d", "upsample2d", "upsample_conv2d",
]
