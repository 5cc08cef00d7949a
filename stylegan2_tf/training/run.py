"""Glue between the command line and the Trainer: networks from flags or from a snapshot, resume handling."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Optional, Tuple

import tensorflow as tf

from stylegan2_tf.training.ada import RESUME_ADA_KIMG
from stylegan2_tf.training.config import TrainConfig, resolve_precision
from stylegan2_tf.training.trainer import Trainer


def network_factories(dataset, net_kwargs: dict, batch: int = 32):
    """(make_G, make_D) building the networks for ``dataset`` from the flag values (``batch``: the training batch,
    which sets StyleGAN3's magnitude-EMA decay)."""
    cond = net_kwargs.get('cond', False)
    if cond and dataset.label_dim == 0:
        raise ValueError(f'--cond needs a labelled dataset, but {dataset.name!r} has no labels')
    c_dim = dataset.label_dim if cond else 0
    impl = net_kwargs.get('impl', 'auto')
    prec = _precision_kwargs(net_kwargs)

    structure = net_kwargs.get('structure', 'fixed')
    growing = structure == 'growing'
    if growing:  # the progressive-growing networks compute in float32
        if prec['precision'] != 'fp32' or net_kwargs.get('conv_clamp') is not None:
            raise ValueError('--precision bf16/fp16 and --conv_clamp are available with --structure fixed only')
        prec = {}
    for which in ('g_arch', 'd_arch'):
        allowed = ('orig', 'stylegan1') if growing else ('orig', 'skip', 'resnet')
        arch = net_kwargs[which]
        if which == 'g_arch' and not growing:
            allowed += ('stylegan3-t', 'stylegan3-r')
        if arch not in allowed:
            raise ValueError(f'--{which}={arch} is not available with --structure={structure} (choose from '
                             f'{", ".join(allowed)})')

    if net_kwargs['g_arch'].startswith('stylegan3'):
        return _stylegan3_factory(dataset, net_kwargs, c_dim, impl, prec, batch), make_D_factory(
            dataset, net_kwargs, c_dim, impl, prec, growing)
    return make_G_stylegan2(dataset, net_kwargs, c_dim, impl, prec, structure), make_D_factory(
        dataset, net_kwargs, c_dim, impl, prec, growing)


def _stylegan3_factory(dataset, net_kwargs: dict, c_dim: int, impl: str, prec: dict, batch: int):
    """StyleGAN3-T/R from the flags, as NVlabs/stylegan3's train.py builds them: channel_base = 2 * --fmap_base
    (its --cbase), channel_max = --fmap_max, both doubled for R, whose convolutions are 1x1 with radial filters; the
    magnitude EMA's beta 0.5 ** (batch / 20000)."""
    from stylegan2_tf.networks import StyleGAN3Generator
    radial = net_kwargs['g_arch'] == 'stylegan3-r'
    scale = 2 if radial else 1
    beta = 0.5 ** (batch / 20000)

    def make_G():
        return StyleGAN3Generator(
            z_dim=net_kwargs['z_dim'], c_dim=c_dim, w_dim=net_kwargs['w_dim'], img_resolution=dataset.resolution,
            img_channels=dataset.num_channels, mapping_layers=net_kwargs['mapping_layers'],
            mapping_lr_mul=net_kwargs['mapping_lr_mul'], channel_base=2 * net_kwargs['fmap_base'] * scale,
            channel_max=net_kwargs['fmap_max'] * scale, conv_kernel=1 if radial else 3, use_radial_filters=radial,
            magnitude_ema_beta=beta, impl=impl, precision=prec['precision'],
            num_fp16_res=prec['num_fp16_res'] or 4, conv_clamp=prec['conv_clamp'], name='G')
    return make_G


def make_G_stylegan2(dataset, net_kwargs: dict, c_dim: int, impl: str, prec: dict, structure: str):
    from stylegan2_tf.networks import Generator

    def make_G():
        return Generator(z_dim=net_kwargs['z_dim'], c_dim=c_dim, w_dim=net_kwargs['w_dim'],
                         img_resolution=dataset.resolution, img_channels=dataset.num_channels,
                         mapping_layers=net_kwargs['mapping_layers'], mapping_lr_mul=net_kwargs['mapping_lr_mul'],
                         fmap_base=net_kwargs['fmap_base'], fmap_max=net_kwargs['fmap_max'],
                         architecture=net_kwargs['g_arch'], structure=structure, impl=impl, name='G', **prec)

    return make_G


def make_D_factory(dataset, net_kwargs: dict, c_dim: int, impl: str, prec: dict, growing: bool):
    from stylegan2_tf.networks import Discriminator, GrowingDiscriminator

    def make_D():
        d_class = GrowingDiscriminator if growing else Discriminator
        return d_class(c_dim=c_dim, img_resolution=dataset.resolution, img_channels=dataset.num_channels,
                       fmap_base=net_kwargs['fmap_base'], fmap_max=net_kwargs['fmap_max'],
                       architecture=net_kwargs['d_arch'], mbstd_group_size=net_kwargs['mbstd_group'],
                       mbstd_num_features=net_kwargs['mbstd_features'], impl=impl, name='D', **prec)
    return make_D


def _precision_kwargs(net_kwargs: dict) -> dict:
    return resolve_precision(net_kwargs.get('precision', 'fp32'), net_kwargs.get('num_fp16_res', 4),
                             net_kwargs.get('conv_clamp'))


def snapshot_factories(path: str, impl: str = 'auto', net_kwargs: Optional[dict] = None):
    """(make_G, make_D, make_G_ema, metadata) that rebuild the networks of a snapshot / official pickle with its
    weights; metadata is the file's (e.g. its 'augment_pipe').

    net_kwargs: the network flags; their precision and num_fp16_res replace the file's, and so does conv_clamp
    when given (0: none); without it the file's clamp is kept."""
    from stylegan2_tf.serialization import clone_network, load_network, network_class_name, precision_overrides
    snap = load_network(path, impl=impl)
    if snap.G is None or snap.D is None:
        raise ValueError(f'{path}: fine-tuning needs G and D, the file has '
                         f'{[k for k in ("G", "D", "G_ema") if getattr(snap, k) is not None]}')
    g_ema = snap.G_ema if snap.G_ema is not None else snap.G
    prec = _precision_kwargs(net_kwargs) if net_kwargs is not None else {}

    def clone(net):
        changes = {}
        if prec:
            changes = precision_overrides(network_class_name(net), prec['precision'], prec['num_fp16_res'])
            if net_kwargs.get('conv_clamp') is not None:
                changes['conv_clamp'] = prec['conv_clamp']
        return clone_network(net, changes)
    return (lambda: clone(snap.G), lambda: clone(snap.D), lambda: clone(g_ema), dict(snap.metadata))


def save_snapshot(path: str, G, D, G_ema, metadata: Optional[dict] = None) -> str:
    from stylegan2_tf.serialization import save_network
    return save_network(path + '.npz', G=G, D=D, G_ema=G_ema, metadata=metadata or {})


def _stored_options(outdir: str) -> dict:
    """The training_options.json of a run directory ({} if none)."""
    path = os.path.join(outdir, 'training_options.json')
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _network_options_changed(outdir: str, run_options: dict):
    """Compare the network flags with those stored in the run directory; returns differences."""
    old = _stored_options(outdir)
    return [f'{k}: {old.get(k)!r} -> {v!r}' for k, v in run_options.items()
            if k.startswith('net_') and k != 'net_impl' and k in old and old[k] != v]


def build_trainer(strategy: tf.distribute.Strategy, dataset, outdir: str, cfg: TrainConfig, net_kwargs: dict,
                  resume: str, run_options: Optional[dict] = None,
                  snapshot_hook: Optional[Callable[[str, object], None]] = None) -> Tuple[Trainer, str]:
    """The Trainer for a command-line run, and the ``resume`` value to pass to ``loop.training_loop``.

    snapshot_hook(snapshot_path, G_ema) runs after each snapshot is written (the metrics, for example).
    """
    run_options = run_options or {}
    make_ema = None
    file_meta = None
    ckpt_dir = os.path.join(outdir, 'checkpoints')
    has_ckpt = tf.train.latest_checkpoint(ckpt_dir) is not None if os.path.isdir(ckpt_dir) else False
    if resume not in ('auto', 'none'):
        if not os.path.exists(resume) and tf.train.latest_checkpoint(os.path.dirname(resume) or '.') is None \
                and not os.path.exists(resume + '.index'):
            raise ValueError(f'--resume {resume}: no such snapshot, pickle or checkpoint')
        if os.path.isfile(resume) and not resume.endswith('.index'):
            if has_ckpt:
                raise ValueError(f'{outdir} already holds checkpoints of a run; fine-tune into a new --outdir')
            make_G, make_D, make_ema, file_meta = snapshot_factories(resume, net_kwargs.get('impl', 'auto'),
                                                                     net_kwargs)
            if cfg.aug == 'ada' and cfg.ada_kimg is None:  # as upstream when starting from another run's networks
                cfg = dataclasses.replace(cfg, ada_kimg=RESUME_ADA_KIMG)
            cfg = dataclasses.replace(cfg, blur_sigma=0.0)  # StyleGAN3: no blur of D's inputs when resuming
            resume = 'none'
        else:
            make_G, make_D = network_factories(dataset, net_kwargs, cfg.batch)
    else:
        if resume == 'auto' and has_ckpt:
            changed = _network_options_changed(outdir, run_options)
            if changed:
                raise ValueError(f'{outdir} holds a run with other network settings ({"; ".join(changed)}); '
                                 'use another --outdir')
        make_G, make_D = network_factories(dataset, net_kwargs, cfg.batch)
        if resume == 'auto' and has_ckpt and cfg.aug == 'ada' and cfg.ada_kimg is None:
            # Continue with the ada_kimg the run chose when it started (100 if it started from another run's networks).
            stored = _stored_options(outdir).get('ada_kimg')
            if stored is not None:
                cfg = dataclasses.replace(cfg, ada_kimg=float(stored))
    meta = {'dataset': dataset.name, 'dataset_fingerprint': dataset.fingerprint}

    def save_and_hook(path, G, D, G_ema, metadata=None):
        written = save_snapshot(path, G, D, G_ema, dict(meta, **(metadata or {})))
        if snapshot_hook is not None:
            snapshot_hook(written, G_ema)

    file_pipe = (file_meta or {}).get('augment_pipe') or {}
    trainer = Trainer(strategy, make_G, make_D, dataset, outdir, cfg, save_snapshot=save_and_hook,
                      run_options=run_options, make_generator_ema=make_ema, augment_p=file_pipe.get('p'))
    return trainer, resume
