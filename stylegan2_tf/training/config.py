"""Training and network hyper-parameters: the one place they are declared.

Each field of :class:`TrainConfig` and :class:`NetworkConfig` carries its help text (and, where it differs from the
field name, its flag name) in ``metadata``; ``tools/train.py`` defines its absl flags from these fields with
:func:`define_flags` and builds the configs back with :func:`from_flags`, so a new hyper-parameter is added in one
place. Defaults are StyleGAN2 config F; ``configs/*.flags`` only override them.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, Optional, Tuple, Type, TypeVar

T = TypeVar('T')


def _f(default, help: str, flag: Optional[str] = None, enum: Optional[Tuple[str, ...]] = None):
    """A dataclass field with its command-line help (and optional flag name / allowed values)."""
    meta: Dict[str, Any] = {'help': help}
    if flag:
        meta['flag'] = flag
    if enum:
        meta['enum'] = enum
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class NetworkConfig:
    """Architecture of G and D (resolution and channels come from the dataset)."""
    z_dim: int = _f(512, 'Latent z size.')
    w_dim: int = _f(512, 'Intermediate latent w size.')
    mapping_layers: int = _f(8, 'Mapping network depth.')
    mapping_lr_mul: float = _f(0.01, 'Learning-rate multiplier of the mapping network.')
    fmap_base: int = _f(16384, 'Feature-map base (config E: 8192, F: 16384).')
    fmap_max: int = _f(512, 'Maximum feature maps per layer.')
    structure: str = _f('fixed', "Network structure: 'fixed' (StyleGAN2's networks, configs E/F) or 'growing' "
                        '(progressive-growing networks with a level of detail, configs A-D; train them with '
                        '--lod_initial_resolution).', enum=('fixed', 'growing'))
    g_arch: str = _f('skip', "Generator architecture: StyleGAN2's 'orig', 'skip', 'resnet'; StyleGAN3's "
                     "'stylegan3-t' or 'stylegan3-r' (configs/stylegan3-*.flags); with --structure=growing 'orig' "
                     "(StyleGAN2's revised synthesis, configs B-D) or 'stylegan1' (StyleGAN's G_style, config A).",
                     enum=('orig', 'skip', 'resnet', 'stylegan1', 'stylegan3-t', 'stylegan3-r'))
    d_arch: str = _f('resnet', "Discriminator architecture; with --structure=growing 'orig' (D_stylegan, configs "
                     "B-D) or 'stylegan1' (StyleGAN's D_basic, config A).", enum=('orig', 'skip', 'resnet', 'stylegan1'))
    mbstd_group: int = _f(4, 'Minibatch-stddev group size.')
    mbstd_features: int = _f(1, 'Minibatch-stddev features.')
    impl: str = _f('auto', 'Op implementation (compiled or pure-TF reference).', enum=('auto', 'custom', 'ref'))
    cond: bool = _f(False, 'Train a class-conditional model on the dataset labels.')
    precision: str = _f('fp32', 'Compute type of the --num_fp16_res highest-resolution blocks of G and D: fp32 (none '
                        'reduced), bf16 (bfloat16: CPUs with AMX/AVX512-BF16, recent GPUs) or fp16 (float16, GPUs; '
                        'trains with dynamic loss scaling). Weights, mapping network, images and losses stay float32.',
                        enum=('fp32', 'bf16', 'fp16'))
    num_fp16_res: int = _f(4, 'Number of highest resolutions (at least 8x8) that compute in --precision '
                           '(StyleGAN2-ADA: 4); ignored with fp32.')
    conv_clamp: Optional[float] = _f(None, 'Clamp every conv output of G and D to [-C, C] (after the activation '
                                     'gain); unset: 256 with bf16/fp16 (as StyleGAN2-ADA), none with fp32; 0: none.')


def resolve_precision(precision: str = 'fp32', num_fp16_res: int = 4, conv_clamp: Optional[float] = None):
    """Network kwargs from the precision flags: fp32 -> num_fp16_res 0; conv_clamp None -> 256 with a reduced
    precision, none with fp32; conv_clamp 0 -> none."""
    if precision not in ('fp32', 'bf16', 'fp16'):
        raise ValueError(f"--precision must be fp32, bf16 or fp16, got {precision!r}")
    if precision != 'fp32' and num_fp16_res < 1:
        raise ValueError(f'--precision {precision} needs --num_fp16_res >= 1 (the number of highest resolutions '
                         f'computed in it), got {num_fp16_res}')
    if conv_clamp is not None and conv_clamp < 0:
        raise ValueError(f'--conv_clamp must be > 0 (or 0 for none), got {conv_clamp}')
    if conv_clamp is None:
        conv_clamp = 256.0 if precision != 'fp32' else None
    return dict(precision=precision, num_fp16_res=int(num_fp16_res) if precision != 'fp32' else 0,
                conv_clamp=float(conv_clamp) if conv_clamp else None)


@dataclasses.dataclass
class TrainConfig:
    """Training hyper-parameters (defaults: StyleGAN2 config F)."""
    batch: int = _f(32, 'Global minibatch size (split over replicas and workers).')
    total_kimg: float = _f(25000.0, 'Train for this many thousand real images.')
    g_lr: float = _f(0.002, 'Generator learning rate (before the lazy-regularization correction).')
    d_lr: float = _f(0.002, 'Discriminator learning rate (before the correction).')
    beta1: float = _f(0.0, 'Adam beta1 (before the correction).')
    beta2: float = _f(0.99, 'Adam beta2 (before the correction).')
    eps: float = _f(1e-8, 'Adam epsilon.')
    gamma: float = _f(10.0, 'R1 weight (0 disables R1).')
    d_reg_interval: int = _f(16, 'R1 every this many minibatches (lazy regularization; 1 = every step).')
    g_reg_interval: int = _f(4, 'Path-length reg. every this many minibatches (1 = every step).')
    pl_weight: float = _f(2.0, 'Path-length regularization weight (0 disables it).')
    pl_decay: float = _f(0.01, 'Decay of the path-length moving average.')
    pl_batch_shrink: int = _f(2, 'Path-length batch = batch / this.')
    style_mixing: float = _f(0.9, 'Style-mixing probability.')
    ema_kimg: float = _f(10.0, 'Half-life of the generator EMA in kimg.')
    ema_rampup: Optional[float] = _f(None, 'EMA ramp-up (stylegan2-ada uses 0.05); unset = none (StyleGAN2).')
    mirror: bool = _f(False, 'Augment with random x-flips.')
    subset: Optional[int] = _f(None, 'Train on a fixed random subset of this many images of the dataset (chosen with '
                               '--seed, as stylegan2-ada-pytorch; before --mirror); unset = all images.')
    # Small datasets: augmentation of everything D sees (StyleGAN2-ADA; see training/augment.py and ada.py).
    aug: str = _f('noaug', "Augmentation of D's inputs: 'noaug' (none; the paper's configs A-F), 'ada' (adaptive "
                  "strength p, steered to --target) or 'fixed' (constant --p).", enum=('noaug', 'ada', 'fixed'))
    p: Optional[float] = _f(None, "Augmentation strength in [0, 1]: the constant p of --aug=fixed (required there), "
                            "or the initial p of --aug=ada (default 0; on --resume from a snapshot or pickle that "
                            "carries an augment pipe, its p).")
    augpipe: Optional[str] = _f(None, 'Augmentation preset (stylegan2-ada-pytorch --augpipe); default bgc (blit, '
                                'geom, color) with --aug=ada/fixed.',
                                enum=('blit', 'geom', 'color', 'filter', 'noise', 'cutout', 'bg', 'bgc', 'bgcf',
                                      'bgcfn', 'bgcfnc'))
    target: float = _f(0.6, "ADA target of r_t = E[sign(D(real))], in [0, 1].")
    ada_interval: int = _f(4, 'ADA: adjust p every this many minibatches.')
    ada_kimg: Optional[float] = _f(None, 'ADA: p can change by 1 per this many kimg; default 500, or 100 when '
                                   '--resume starts from a snapshot or pickle (as stylegan2-ada-pytorch).')
    freezed: int = _f(0, "Freeze-D: keep D's first N layers (from the highest resolution down, as "
                      'stylegan2-ada-pytorch counts them) fixed: no gradient, no Adam update.')
    blur_sigma: float = _f(0.0, "Blur D's inputs (reals and fakes, before augmentation) with a Gaussian-like filter "
                           'of this sigma in pixels at the start, fading linearly to 0 over --blur_fade_kimg '
                           '(StyleGAN3-R: 10); 0 = off; a --resume from a snapshot or pickle sets it to 0.')
    blur_fade_kimg: float = _f(200.0, "kimg over which --blur_sigma fades to 0 (StyleGAN3: batch * 200 / 32).")
    seed: int = _f(0, 'Random seed (latents, shuffling, flips, initialisation).')
    kimg_per_tick: float = _f(4.0, 'Progress interval in kimg.')
    snap: int = _f(10, 'Ticks between network snapshots and fake grids (0 = only at the end).')
    ckpt_ticks: int = _f(1, 'Ticks between checkpoints.')
    keep_ckpts: int = _f(3, 'Checkpoints kept.')
    grid: Optional[Tuple[int, int]] = _f(None, "Snapshot grid 'COLSxROWS' or 'auto' (about 1920x1080 pixels).")
    max_steps: Optional[int] = _f(None, 'Stop after this many steps in this process (smoke tests).')
    max_bad_steps: int = _f(10, 'Stop after this many consecutive steps with non-finite losses or gradients (their '
                            'non-finite gradient entries are zeroed, as stylegan2-ada does, and counted).')
    image_summaries: bool = _f(True, 'Write the fake grids to TensorBoard too.')
    # Progressive growing (configs A-D; see training/growing.py).
    lod_initial_resolution: int = _f(0, 'Progressive growing: start training at this resolution and double it in '
                                     'phases (configs A-D use 8); 0 = no growing (configs E, F).')
    lod_training_kimg: float = _f(600.0, 'Growing: kimg shown at each resolution before fading in the next.')
    lod_transition_kimg: float = _f(600.0, 'Growing: kimg of each fade-in of new layers.')
    batch_dict: str = _f('', "Growing: global minibatch per resolution, e.g. '8:256,16:128,32:64,64:32' "
                         '(others: --batch).')
    g_lr_dict: str = _f('', "Growing: G learning rate per resolution, e.g. '128:0.0015,256:0.002' (others: --g_lr).")
    d_lr_dict: str = _f('', "Growing: D learning rate per resolution (others: --d_lr).")
    minibatch_repeats: int = _f(4, 'Growing: minibatches between evaluations of the schedule (lod, batch, lr).')
    reset_opt_for_new_lod: bool = _f(True, 'Growing: reset the Adam state whenever a fade-in starts or ends.')
    exact_resume: bool = _f(False, 'Enable TensorFlow op determinism, so an interrupted + resumed run equals an '
                            'uninterrupted one bit for bit (all training randomness is stateless already; '
                            'determinism makes the reductions reproducible, at some speed cost).',
                            flag='deterministic')

    def validate(self):
        if self.batch < 1:
            raise ValueError(f'--batch must be >= 1, got {self.batch}')
        if self.total_kimg <= 0:
            raise ValueError(f'--total_kimg must be > 0, got {self.total_kimg}')
        if self.gamma < 0 or self.pl_weight < 0:
            raise ValueError('--gamma and --pl_weight must be >= 0')
        if self.pl_batch_shrink < 1:
            raise ValueError(f'--pl_batch_shrink must be >= 1, got {self.pl_batch_shrink}')
        if not 0 <= self.style_mixing <= 1:
            raise ValueError(f'--style_mixing must be in [0, 1], got {self.style_mixing}')
        if not 0 <= self.pl_decay <= 1:
            raise ValueError(f'--pl_decay must be in [0, 1], got {self.pl_decay}')
        if self.g_reg_interval < 1 or self.d_reg_interval < 1:
            raise ValueError('--g_reg_interval and --d_reg_interval must be >= 1 (1 = not lazy: the regularizer '
                             'joins the main loss every step; a weight of 0 switches it off)')
        if self.max_bad_steps < 1:
            raise ValueError(f'--max_bad_steps must be >= 1, got {self.max_bad_steps}')
        if self.kimg_per_tick <= 0:
            raise ValueError(f'--kimg_per_tick must be > 0, got {self.kimg_per_tick}')
        if self.lod_initial_resolution < 0:
            raise ValueError(f'--lod_initial_resolution must be >= 0 (0 = no growing), got '
                             f'{self.lod_initial_resolution}')
        for name in ('batch_dict', 'g_lr_dict', 'd_lr_dict'):
            parse_resolution_dict(getattr(self, name), int if name == 'batch_dict' else float, f'--{name}')
        self._validate_augmentation()
        if self.subset is not None and self.subset < 1:
            raise ValueError(f'--subset must be >= 1 (the number of images to train on), got {self.subset}')
        if self.freezed < 0:
            raise ValueError(f'--freezed must be >= 0, got {self.freezed}')
        if self.blur_sigma < 0 or self.blur_fade_kimg < 0:
            raise ValueError(f'--blur_sigma and --blur_fade_kimg must be >= 0, got {self.blur_sigma}, '
                             f'{self.blur_fade_kimg}')

    def _validate_augmentation(self):
        if self.p is not None and not 0 <= self.p <= 1:
            raise ValueError(f'--p must be in [0, 1], got {self.p}')
        if self.aug == 'fixed' and self.p is None:
            raise ValueError('--aug=fixed needs --p (the constant augmentation strength)')
        if self.aug == 'noaug':
            for name in ('p', 'augpipe', 'ada_kimg'):
                if getattr(self, name) is not None:
                    raise ValueError(f'--{name} is set but --aug=noaug: choose --aug=ada or --aug=fixed')
        if self.aug != 'ada' and self.ada_kimg is not None:
            raise ValueError('--ada_kimg applies only to --aug=ada')
        if not 0 <= self.target <= 1:
            raise ValueError(f'--target must be in [0, 1], got {self.target}')
        if self.ada_interval < 1:
            raise ValueError(f'--ada_interval must be >= 1, got {self.ada_interval}')
        if self.ada_kimg is not None and not self.ada_kimg > 0:
            raise ValueError(f'--ada_kimg must be > 0, got {self.ada_kimg}')


def parse_resolution_dict(text: str, value_type=float, what: str = 'dict') -> Dict[int, Any]:
    """'8:256,16:128' -> {8: 256, 16: 128}; '' -> {}. Keys must be powers of two >= 4, values > 0."""
    out: Dict[int, Any] = {}
    if text is None or not str(text).strip():
        return out
    for item in str(text).split(','):
        try:
            res, val = item.split(':')
            res, val = int(res), value_type(val)
        except ValueError:
            raise ValueError(f"{what}: expected RES:VALUE pairs like '8:256,16:128', got {text!r}") from None
        if res < 4 or res & (res - 1):
            raise ValueError(f'{what}: resolution {res} is not a power of two >= 4 (in {text!r})')
        if val <= 0:
            raise ValueError(f'{what}: values must be > 0, got {val} for resolution {res}')
        out[res] = val
    return out


# ------------------------------------------------------------------------------------------------
# absl flags from the dataclasses.


def parse_grid(value) -> Optional[Tuple[int, int]]:
    """'auto' -> None, 'COLSxROWS' -> (cols, rows)."""
    if value is None or isinstance(value, tuple):
        return value
    if value == 'auto':
        return None
    try:
        cols, rows = (int(v) for v in value.lower().split('x'))
        if cols < 1 or rows < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"--grid must be 'auto' or COLSxROWS like 8x4, got {value!r}") from None
    return cols, rows


def _base_type(tp):
    """int/float/bool/str of a field annotation (Optional[X] -> X; tuples are strings on the command line)."""
    if isinstance(tp, str):
        tp = eval(tp, vars(typing))  # noqa: S307  (annotations are postponed strings here)
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    if origin is tuple:
        return str
    return tp


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata.get('flag', field.name)


def define_flags(cls: Type, flag_values=None) -> None:
    """Define one absl flag per field of the dataclass ``cls`` (name, default and help from the field)."""
    from absl import flags
    fv = flag_values or flags.FLAGS
    for field in dataclasses.fields(cls):
        name, default, help_ = flag_name(field), field.default, field.metadata.get('help', field.name)
        tp = _base_type(field.type)
        if field.metadata.get('enum'):
            flags.DEFINE_enum(name, default, list(field.metadata['enum']), help_, flag_values=fv)
        elif field.name == 'grid':
            flags.DEFINE_string(name, 'auto', help_, flag_values=fv)
        elif tp is bool:
            flags.DEFINE_boolean(name, default, help_, flag_values=fv)
        elif tp is int:
            flags.DEFINE_integer(name, default, help_, flag_values=fv)
        elif tp is float:
            flags.DEFINE_float(name, default, help_, flag_values=fv)
        else:
            flags.DEFINE_string(name, default, help_, flag_values=fv)


def from_flags(cls: Type[T], flag_values=None) -> T:
    """An instance of the dataclass ``cls`` from the parsed flag values."""
    from absl import flags
    fv = flag_values or flags.FLAGS
    values = {}
    for field in dataclasses.fields(cls):
        v = getattr(fv, flag_name(field))
        values[field.name] = parse_grid(v) if field.name == 'grid' else v
    return cls(**values)
