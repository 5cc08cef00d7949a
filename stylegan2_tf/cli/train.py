#!/usr/bin/env python3
"""Train StyleGAN2 (`stylegan2-train` when installed, `python tools/train.py` in a checkout).

  stylegan2-train --flagfile=configs/demo.flags --outdir runs/demo        # Fashion-MNIST demo, CPU
  stylegan2-train --flagfile=configs/f.flags --data DATASET --outdir runs/ffhq --mirror

Every hyper-parameter is a flag (``--helpfull`` lists them); flag files hold presets and later flags on the
command line override them. ``--data`` takes a dataset_tool directory, an image folder or zip (read on the fly),
or a directory of IDX files (Fashion-MNIST). The run directory ``--outdir`` receives checkpoints/, network
snapshots (network-snapshot-KIMG.npz), grids (reals.png, fakesKIMG.png), TensorBoard events, stats.jsonl and
log.txt. ``--resume auto`` (default) continues the latest checkpoint in --outdir if there is one;
``--resume PATH`` starts from a network snapshot or an official pickle (fine-tuning).

Several GPUs: ``--num_devices N`` (MirroredStrategy; on a CPU it makes N logical CPU devices). Several
machines: set TF_CONFIG on every machine and run the same command (MultiWorkerMirroredStrategy).
"""

import dataclasses
import os
import sys
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import app, flags  # noqa: E402

from stylegan2_tf.training import config  # noqa: E402  (no TensorFlow import)

FLAGS = flags.FLAGS

# Data and run.
flags.DEFINE_string('data', None, 'Dataset: dataset_tool dir, image folder/zip, or IDX dir (Fashion-MNIST).')
flags.DEFINE_string('outdir', None, 'Run directory (created if missing).')
flags.DEFINE_string('resume', 'auto', "'auto': continue the latest checkpoint in --outdir if any; 'none': start "
                    "fresh (error if --outdir has checkpoints); or a snapshot/.pkl/checkpoint path to start from.")
flags.DEFINE_integer('num_devices', 0, 'Replicas on this machine: 0 = all GPUs (or 1 device); N>1 = N GPUs or, '
                     'without GPUs, N logical CPU devices.')
# Networks and training: one flag per field of NetworkConfig / TrainConfig (defaults: config F).
config.define_flags(config.NetworkConfig)
config.define_flags(config.TrainConfig)
# Metrics.
flags.DEFINE_list('metrics', [], 'Metrics computed at every snapshot, e.g. fid50k_full,pr50k3_full (see '
                  'docs/metrics.md); the run stops before training if their feature-network weights are missing.')
flags.DEFINE_string('inception', None, 'Inception weights for FID/KID/IS (.pb or pytorch-fid .pth; or '
                    '$STYLEGAN2_TF_INCEPTION).')
flags.DEFINE_string('vgg', None, 'VGG16 weights (torchvision .pth) for precision/recall and LPIPS ($STYLEGAN2_TF_VGG16).')
flags.DEFINE_string('lpips', None, 'LPIPS linear-layer weights (lpips vgg.pth) for PPL ($STYLEGAN2_TF_LPIPS).')
flags.DEFINE_integer('metrics_snaps', 1, 'Compute --metrics every this many snapshots (at the first snapshot of a '
                     'run or resumed run, then each time that many snapshots of kimg have passed, and at the last '
                     'one), to keep their cost a small part of training time.')
flags.DEFINE_integer('metrics_num_gen', None, 'Override the number of generated images per metric (quick runs only; '
                     'results are then not comparable to published numbers).')
flags.DEFINE_boolean('metrics_allow_random_weights', False, 'Build missing feature networks with random weights '
                     '(exercises the code path; results NOT comparable to published numbers).')

flags.mark_flags_as_required(['data', 'outdir'])


def build_config():
    return config.from_flags(config.TrainConfig)


def _metrics_networks():
    """Feature networks for --metrics (None without), checked now so that a missing weight file or an unknown
    metric stops the run before any training, instead of the metric being skipped at every snapshot."""
    if not FLAGS.metrics:
        return None
    from stylegan2_tf.metrics.detectors import FeatureNetworks, WeightsNotFoundError
    from stylegan2_tf.metrics.metric_main import list_valid_metrics, required_networks
    unknown = [m for m in FLAGS.metrics if m not in list_valid_metrics()]
    if unknown:
        raise ValueError(f'unknown --metrics {unknown}; known: {", ".join(list_valid_metrics())}')
    networks = FeatureNetworks(inception=FLAGS.inception, vgg=FLAGS.vgg, lpips=FLAGS.lpips,
                               allow_random_weights=FLAGS.metrics_allow_random_weights)
    for name in FLAGS.metrics:
        for kind in required_networks(name):  # [] for metrics whose weights ship with the package
            try:
                networks._path(kind)  # pylint: disable=protected-access  (the check calc_metrics does)
            except WeightsNotFoundError as e:
                raise WeightsNotFoundError(f'--metrics {name}: {e} (Here that switch is '
                                           '--metrics_allow_random_weights.)') from None
    return networks


def _metrics_hook(networks):
    """Runs --metrics on each snapshot's G_ema against the (unmirrored) training data; None without --metrics."""
    if networks is None:
        return None
    from stylegan2_tf.data import open_dataset
    from stylegan2_tf.metrics.metric_main import run_snapshot_metrics
    dataset = open_dataset(FLAGS.data)

    if FLAGS.metrics_snaps < 1:
        raise ValueError(f'--metrics_snaps must be >= 1, got {FLAGS.metrics_snaps}')
    # Evaluate when the snapshot enters a new period of metrics_snaps snapshots' worth of kimg (robust to resuming:
    # the first snapshot of a process is always evaluated), and at the end of training.
    period = FLAGS.metrics_snaps * max(FLAGS.snap, 1) * FLAGS.kimg_per_tick
    previous = [None]

    def hook(snapshot_path, G_ema):
        kimg = int(os.path.basename(snapshot_path).split('-')[-1].split('.')[0])
        due = previous[0] is None or int(kimg // period) != int(previous[0] // period)
        previous[0] = kimg
        if not due and kimg < int(FLAGS.total_kimg):
            return
        run_snapshot_metrics(FLAGS.metrics, G_ema, dataset, FLAGS.outdir, snapshot_pkl=os.path.basename(snapshot_path),
                             step=kimg, networks=networks, num_gen=FLAGS.metrics_num_gen)
    return hook


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    # The strategy must exist before anything else touches TensorFlow devices.
    import tensorflow as tf
    from stylegan2_tf.training.distribute import make_strategy
    strategy = make_strategy(FLAGS.num_devices)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(FLAGS.seed)
    import keras
    keras.utils.set_random_seed(FLAGS.seed)
    metric_networks = _metrics_networks()  # after the strategy: FeatureNetworks lists the devices

    from stylegan2_tf.data import open_dataset
    from stylegan2_tf.training.loop import training_loop
    from stylegan2_tf.training.run import build_trainer
    cfg = build_config()
    cfg.validate()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        dataset = open_dataset(FLAGS.data, mirror=FLAGS.mirror, subset=cfg.subset, subset_seed=cfg.seed)
    for w in caught:
        print(f'warning: --subset: {w.message}', file=sys.stderr)
    net_kwargs = dataclasses.asdict(config.from_flags(config.NetworkConfig))
    run_options = {'data': os.path.abspath(FLAGS.data),
                   'flags': {k: getattr(FLAGS, k) for k in ('num_devices', 'deterministic', 'cond')},
                   **{f'net_{k}': v for k, v in net_kwargs.items()}}
    trainer, resume = build_trainer(strategy, dataset, FLAGS.outdir, cfg, net_kwargs, FLAGS.resume,
                                    snapshot_hook=_metrics_hook(metric_networks), run_options=run_options)
    training_loop(trainer, resume=resume)


def _help_shows_this_tool() -> None:
    """Makes absl's --help describe this tool whichever script runs it.

    absl prints ``__main__``'s docstring and the key flags of the module named by ``sys.argv[0]``; under the
    console script or the tools/ shim neither is this module, so --help would show only absl's own flags.
    """
    main_module = sys.modules.get('__main__')
    if main_module is not None:
        main_module.__doc__ = __doc__
    own = {__name__, config.__name__}
    for module, module_flags in FLAGS.flags_by_module_dict().items():
        if module in own:
            for flag in module_flags:
                FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def run_main():
    """Console-script entry (``stylegan2-train``): absl parses sys.argv; errors exit 2 with one line."""
    from stylegan2_tf.data.sources import DatasetError
    from stylegan2_tf.metrics.detectors import WeightsNotFoundError
    from stylegan2_tf.training.trainer import TrainingDivergedError

    def wrapped(argv):
        try:
            main(argv)
        except (DatasetError, TrainingDivergedError, ValueError, WeightsNotFoundError) as e:
            print(f'error: {e}', file=sys.stderr)
            sys.exit(2)
    _help_shows_this_tool()
    app.run(wrapped)


if __name__ == '__main__':
    run_main()
