#!/usr/bin/env python3
"""Benchmark the full StyleGAN2 training step (G + D, lazy regularization, EMA) and print JSON.

For each (config, impl, precision) it times, after one warm-up call per step variant:
  * ``main``: a step without regularization (Gmain + Dmain + EMA),
  * ``reg``: a step with both regularizers (Gmain + Greg + Dmain + Dreg + EMA),
  * ``amortized``: the average over one lazy-regularization cycle (R1 every 16, path length every 4),
and reports img/s and peak memory (GPU peak if a GPU is used, else the process's peak RSS).

  python benchmarks/train_step.py                                 # demo config, custom vs reference ops
  python benchmarks/train_step.py --configs demo,f64,f256 --impls custom,ref --steps 5
  python benchmarks/train_step.py --configs demo,c128,f64 --impls auto --precision fp32,bf16
  python benchmarks/train_step.py --configs demo --impls auto --aug noaug,ada --interleave   # cost of ADA at p 0.5

Each (config, impl, precision) runs in its own subprocess, so the reported peak memory (process peak RSS on CPU)
belongs to that run alone rather than to everything measured before it in the same process. ``--interleave`` puts
the precisions of a (config, impl) into one process and alternates their timed steps instead: on a machine whose
speed changes while it runs (cores shared with other work), only that gives fair speed ratios.

Configs: ``demo`` (configs/demo.flags networks, 32x32x1, batch 16), ``c128`` (32x32x3, 128 feature maps at every
resolution, 512-d z and w, 8 mapping layers, skip G, resnet D, batch 32), ``f64`` / ``f256`` (config F at 64x64 /
256x256, RGB, batch 4), ``c128_1ch`` (configs/bench-c128.flags as tools/train.py parses it: 32x32x1, 128 feature
maps, batch 32; issue 23's comparison with stylegan2-ada-pytorch). Random data is used: the data pipeline is not what
is measured.

Every result also has ``conv_gflop_per_step`` (the convolution work of an amortized step, counted from the traced
step graphs as the direct convolutions' multiply-adds, also where a convolution runs as Winograd's F(4x4, 3x3), whose
matrix products, ``winograd_gflop_per_step``, do a quarter of it) and ``conv_gflop_per_sec`` (the rate the step gets
through it; compare benchmarks/conv_throughput.py).
``--profile`` adds the share of op time per op class, step part and op type over one 16-step cycle in the TF profiler
(docs/training.md, "Speed").

``--precision``: fp32, bf16 or fp16 (comma list); a reduced precision computes the ``--num_fp16_res`` highest
resolutions in it (default 4, StyleGAN2-ADA's: every block of these configs from 8x8 up) with conv_clamp 256, as
``--precision`` does in training. ``--aug``: noaug and/or ada (comma list): ada augments every image D sees with the
``--augpipe`` preset (default bgc) at strength ``--aug-p`` (default 0.5; the controller runs, adjusting p by
+-0.0001 per 4 steps). With ``--interleave`` every (precision, aug) pair shares the process. benchmarks/generate.py
measures generation (forward only).
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

CONFIGS = {
    'demo': dict(resolution=32, channels=1, batch=16, z_dim=64, w_dim=64, mapping_layers=2, fmap_base=256,
                 fmap_max=32),
    'c128': dict(resolution=32, channels=3, batch=32, z_dim=512, w_dim=512, mapping_layers=8, fmap_base=16384,
                 fmap_max=128),
    'f64': dict(resolution=64, channels=3, batch=4, z_dim=512, w_dim=512, mapping_layers=8, fmap_base=16384,
                fmap_max=512),
    'f256': dict(resolution=256, channels=3, batch=4, z_dim=512, w_dim=512, mapping_layers=8, fmap_base=16384,
                 fmap_max=512),
    # configs/demo-sg3t.flags: StyleGAN3-T on the demo's data and batch (no style mixing or path length).
    'demo-sg3t': dict(resolution=32, channels=1, batch=16, z_dim=64, w_dim=64, mapping_layers=2, fmap_base=512,
                      fmap_max=32, g_arch='stylegan3-t', train=dict(style_mixing=0.0, pl_weight=0.0,
                                                                     g_reg_interval=1)),
    # configs/bench-c128.flags as tools/train.py parses it (networks and training options; batch 32).
    'c128_1ch': dict(resolution=32, channels=1, flagfile='bench-c128.flags'),
}


@functools.lru_cache(maxsize=None)
def flagfile_configs(flagfile: str):
    """(NetworkConfig, TrainConfig) from configs/FLAGFILE, parsed by the training CLI's own flag definitions."""
    from stylegan2_tf.cli import train as train_cli
    from stylegan2_tf.training import config
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    train_cli.FLAGS(['train_step', '--flagfile=' + os.path.join(root, 'configs', flagfile), '--outdir=unused'])
    return config.from_flags(config.NetworkConfig), config.from_flags(config.TrainConfig)


PRECISIONS = ('fp32', 'bf16', 'fp16')


def network_factories(name: str, precision: str, num_fp16_res: int, impl: str, dataset, batch: int):
    """(make_G, make_D) of a config, built by the trainer's own factories as the flags would build them."""
    import dataclasses
    from stylegan2_tf.training.config import NetworkConfig
    from stylegan2_tf.training.run import network_factories as factories
    c = CONFIGS[name]
    if 'flagfile' in c:
        net = dataclasses.replace(flagfile_configs(c['flagfile'])[0], impl=impl, precision=precision,
                                  num_fp16_res=num_fp16_res)
    else:
        net = NetworkConfig(z_dim=c['z_dim'], w_dim=c['w_dim'], mapping_layers=c['mapping_layers'],
                            fmap_base=c['fmap_base'], fmap_max=c['fmap_max'], g_arch=c.get('g_arch', 'skip'),
                            impl=impl, precision=precision, num_fp16_res=num_fp16_res)
    return factories(dataset, dataclasses.asdict(net), batch)


def random_dataset(name: str, n: int):
    import numpy as np
    from stylegan2_tf.data import ArrayImageDataset
    c = CONFIGS[name]
    images = np.random.RandomState(0).randint(0, 256, (n, c['resolution'], c['resolution'], c['channels']),
                                              dtype=np.uint8)
    return ArrayImageDataset(images, name='random')


# Op classes of the profile, by TensorFlow op type (first match wins; the rest is 'element-wise').
_CONTROL_FLOW = {'PartitionedCall', 'StatefulPartitionedCall', 'If', 'StatelessIf', 'While', 'StatelessWhile', 'Case'}
_REDUCTIONS = {'Sum', 'Mean', 'Max', 'Min', 'Prod', 'All', 'Any', 'AddN'}
_MOVEMENT = {'Transpose', '_MklTranspose', 'ConcatV2', 'Pad', 'MirrorPad', 'MirrorPadGrad', 'Slice', 'StridedSlice',
             'StridedSliceGrad', 'Tile', 'GatherV2', 'Pack', 'Unpack', 'Split', 'SplitV', 'BroadcastTo', 'ReverseV2',
             'Reshape', 'Identity', 'ExpandDims', 'Squeeze', 'Fill', 'ZerosLike', 'OnesLike', 'Shape'}
_VARIABLES = {'ReadVariableOp', 'AssignVariableOp', 'AssignAddVariableOp', 'AssignSubVariableOp', 'VarHandleOp'}


def op_class(op_type: str) -> str:
    """The class a TensorFlow op type counts in, for the time shares of --profile."""
    if op_type.startswith('Sg2'):
        return 'custom ops'
    if 'Conv' in op_type:
        return 'convolutions'
    if 'MatMul' in op_type or op_type == 'Einsum':
        return 'matmuls'
    if op_type == 'Cast':
        return 'casts'
    if op_type in _REDUCTIONS:
        return 'reductions'
    if op_type in _MOVEMENT:
        return 'data movement'
    if op_type in _VARIABLES or op_type.startswith('ResourceApply'):
        return 'variables'
    if 'Random' in op_type:
        return 'random'
    return 'element-wise'


def op_part(op_name: str) -> str:
    """The part of a training step an op belongs to, from its name scope: the phase (Gmain, Greg, Dmain, Dreg, or
    a merged one), its forward pass, backward pass (``gradient_tape/...``) or optimizer step, or the G EMA update."""
    parts = op_name.split('/')
    backward = parts[0] == 'gradient_tape'
    if backward:
        parts = parts[1:]
    head = parts[0]
    if head == 'ema':
        return 'ema'
    if head[:1] in ('G', 'D') and head[1:] in ('main', 'reg', 'both'):
        # The tape sums the gradients of a tensor used several times with AddN ops named in the phase's scope.
        if backward or (len(parts) == 2 and parts[1].split('_')[0] == 'AddN'):
            return head + ' backward'
        if len(parts) > 1 and parts[1] in ('G_opt', 'D_opt'):  # the trainer's optimizers' name scopes
            return head + ' optimizer'
        return head + ' forward'
    return 'other'


def _static_shape(tensor):
    shape = tensor.shape
    return None if shape.rank is None or None in shape.as_list() else shape.as_list()


def graph_flops(graph) -> dict:
    """Floating-point operations (multiply + add = 2) of the convolutions and matmuls in a traced graph and the
    functions it calls, from their static shapes (NHWC convolutions, filters HWIO). Ops in a tf.cond branch count
    as if they ran; the training step has none there. Shapes the graph leaves unknown count 0 and are reported."""
    import numpy as np
    out = {'conv': 0.0, 'matmul': 0.0, 'winograd': 0.0, 'unknown_shape_ops': 0}
    seen = set()

    def live_ops(g):
        # What the executor runs: ops the outputs or a stateful op (variable updates) depend on. TF's gradient
        # functions may build results nobody uses (e.g. a filter gradient of an unwatched D); those are pruned.
        stack = [t.op for t in g.outputs] + [op for op in g.get_operations() if op._is_stateful]
        live = set()
        while stack:
            op = stack.pop()
            if op.name in live:
                continue
            live.add(op.name)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
        return live

    def walk(g):
        live = live_ops(g)
        for op in g.get_operations():
            if op.name not in live:
                continue
            t = op.type
            if t in ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DepthwiseConv2dNative'):
                # Forward and both backward convolutions do the work of the forward one: 2 * |dy| * kh * kw * Ci.
                dy = op.outputs[0] if t in ('Conv2D', 'DepthwiseConv2dNative') else op.inputs[2]
                f_shape = _static_shape(op.outputs[0] if t == 'Conv2DBackpropFilter' else op.inputs[1])
                dy_shape = _static_shape(dy)
                if f_shape is None or dy_shape is None:
                    out['unknown_shape_ops'] += 1
                    continue
                kh, kw, ci = f_shape[0], f_shape[1], f_shape[2]
                per_out = kh * kw * (1 if t == 'DepthwiseConv2dNative' else ci)
                out['conv'] += 2.0 * float(np.prod(dy_shape)) * per_out
            elif t in ('MatMul', 'BatchMatMulV2', 'BatchMatMulV3'):
                a, y = _static_shape(op.inputs[0]), _static_shape(op.outputs[0])
                if a is None or y is None:
                    out['unknown_shape_ops'] += 1
                    continue
                k = a[-2] if op.get_attr('transpose_a' if t == 'MatMul' else 'adj_x') else a[-1]
                flop = 2.0 * float(np.prod(y)) * k
                if any(x.op.type == 'Sg2WinogradToTiles' for x in op.inputs):
                    # The product of a Winograd convolution (F(4x4, 3x3), stylegan2_tf/ops/winograd.py) or of its
                    # gradients: 36 instead of 144 multiply-adds per 4x4 tile, so the convolution's work is 4x.
                    out['winograd'] += flop
                    out['conv'] += 4.0 * flop
                else:
                    out['matmul'] += flop
        for f in getattr(g, '_functions', {}).values():
            fg = getattr(f, 'graph', None)
            if fg is not None and id(fg) not in seen:
                seen.add(id(fg))
                walk(fg)

    walk(graph)
    return out


def amortized(per_kind: dict) -> float:
    """Mean over one lazy-regularization cycle of a per-step figure {'main', 'greg', 'reg'}: R1 (with path length)
    once, path length alone 3 times, 12 plain steps."""
    return (per_kind['reg'] + 3 * per_kind['greg'] + 12 * per_kind['main']) / 16


def step_flops(trainer, batch_data) -> dict:
    """graph_flops of the traced step variants: {'main' | 'greg' | 'reg': {...}} (the steps 1, 4, 16 run)."""
    import tensorflow as tf
    out = {}
    for label, step in (('main', 1), ('greg', 4), ('reg', 16)):
        active = trainer.active_phases(step)
        (fn,) = [f for key, f in trainer._step_fns.items() if key[0] == active]
        zero = tf.constant(0.0)
        out[label] = graph_flops(fn.get_concrete_function(batch_data, zero, zero, zero).graph)
    return out


def profile_steps(run_steps, logdir: str) -> dict:
    """Profile ``run_steps()`` with the TensorFlow profiler and sum the recorded op kernels' durations.

    Returns the wall time, the op time (summed over the executor's threads), the busy time (the union of op
    intervals: wall - busy is time no op kernel ran, i.e. tf.function/executor overhead and Python), and the op
    time per op class, per step part and per op type. Kernels nested in a control-flow op count once (the
    enclosing op is skipped)."""
    import glob
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    run_steps()
    wall = time.perf_counter() - t0
    tf.profiler.experimental.stop()
    (path,) = glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True)
    space = xplane_pb2.XSpace()
    with open(path, 'rb') as f:
        space.ParseFromString(f.read())
    by_class, by_part, by_type, by_node, intervals = {}, {}, {}, {}, []
    for plane in space.planes:
        for line in plane.lines:
            for ev in line.events:
                name = plane.event_metadata[ev.metadata_id].name
                op_name, _, op_type = name.rpartition(':')
                # Op kernels are recorded as 'node/name:OpType'; runtime events (Python, executor) are not.
                if not op_name or ' ' in name or '::' in name or not (op_type[:1].isupper() or op_type[:1] == '_'):
                    continue
                if op_type in _CONTROL_FLOW:
                    continue
                sec = ev.duration_ps * 1e-12
                start = line.timestamp_ns * 1e-9 + ev.offset_ps * 1e-12
                intervals.append((start, start + sec))
                for prefix in ('_MklNative', '_Mkl'):  # oneDNN's kernels of the standard ops
                    op_type = op_type[len(prefix):] if op_type.startswith(prefix) else op_type
                # By node: an op's instance, named by its graph node with the trace's numbering stripped.
                node = op_name.split('/', 1)[-1] if op_name.startswith('__inference_') else op_name
                for table, key in ((by_class, op_class(op_type)), (by_part, op_part(op_name)), (by_type, op_type),
                                   (by_node, f'{node}:{op_type}')):
                    table[key] = table.get(key, 0.0) + sec
    busy, end = 0.0, -1.0
    for a, b in sorted(intervals):
        if b > end:
            busy += b - max(a, end)
            end = b
    total = sum(by_class.values()) or 1.0

    def shares(table, top=None):
        items = sorted(table.items(), key=lambda kv: -kv[1])[:top]
        return {k: round(v / total, 4) for k, v in items}
    return {'wall_sec': wall, 'op_sec': total, 'busy_sec': busy, 'op_share_by_class': shares(by_class),
            'op_share_by_part': shares(by_part), 'op_share_by_type': shares(by_type, 15),
            'op_share_by_node': shares(by_node, 30)}


def bench(name, impl, steps, batch_override=None, variants=(('fp32', 'noaug'),), num_fp16_res=4, aug_p=0.5,
          augpipe='bgc', profile=False):
    """One result per variant (precision, aug). With several variants (--interleave) they share this process and their
    timed steps alternate (variant A, B, A, B, ... per step kind), so that a machine whose speed drifts (shared
    cores) slows all of them alike; the peak memory is then that of the process holding all of them."""
    import dataclasses
    import numpy as np
    import tensorflow as tf
    from stylegan2_tf.training.config import TrainConfig
    from stylegan2_tf.training.trainer import Trainer
    from stylegan2_tf.training.run_log import peak_memory
    c = CONFIGS[name]
    default_batch = flagfile_configs(c['flagfile'])[1].batch if 'flagfile' in c else c['batch']
    r, ch, batch = c['resolution'], c['channels'], batch_override or default_batch
    ds = random_dataset(name, batch * 4)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for precision, aug in variants:
            aug_kw = dict(aug='ada', p=aug_p, augpipe=augpipe) if aug == 'ada' else {}
            if 'flagfile' in c:
                cfg = dataclasses.replace(flagfile_configs(c['flagfile'])[1], batch=batch, total_kimg=1e9, **aug_kw)
            else:
                train_kw = dict(dict(gamma=10.0, pl_weight=2.0), **c.get('train', {}))
                cfg = TrainConfig(batch=batch, total_kimg=1e9, **train_kw, **aug_kw)
            make_G, make_D = network_factories(name, precision, num_fp16_res, impl, ds, batch)
            trainer = Trainer(tf.distribute.get_strategy(), make_G, make_D, ds, os.path.join(tmp, f'{precision}-{aug}'),
                              cfg)
            trainer.scope_phases = profile  # op names by phase for the profile (before the step is traced)
            it = trainer.make_iterator()
            out = {'config': name, 'impl': impl, 'precision': precision, 'aug': aug,
                   'num_fp16_res': trainer.G.num_fp16_res, 'resolution': r, 'channels': ch, 'batch': batch}
            if aug == 'ada':
                out.update(augpipe=augpipe, aug_p=aug_p)
            runs.append((trainer, next(it), out))

        def timed(run, step_value):
            # Choose the variant through the step counter (reg steps: multiples of 4 / 16).
            trainer, batch_data, _ = run
            trainer.step.assign(step_value)
            t0 = time.perf_counter()
            trainer.train_step(batch_data)
            return time.perf_counter() - t0

        for run in runs:
            t0 = time.perf_counter()
            for s in (1, 4, 16):  # warm-up/trace: main only, +Greg, +Greg+Dreg
                timed(run, s)
            run[2]['trace_sec'] = time.perf_counter() - t0
        times = [{} for _ in runs]
        for label, s in (('main', 1), ('greg', 4), ('reg', 16)):
            ts = [[] for _ in runs]
            for _ in range(steps):
                for i, run in enumerate(runs):
                    ts[i].append(timed(run, s))
            for i in range(len(runs)):
                times[i][label] = float(np.median(ts[i]))
        memory = {k.split('/')[-1]: v for k, v in peak_memory().items()}
        flops = [step_flops(trainer, batch_data) for trainer, batch_data, _ in runs]
        profiles = [None] * len(runs)
        if profile:  # one lazy-regularization cycle: R1 at its first step, path length at every 4th
            for i, (trainer, batch_data, _) in enumerate(runs):
                def cycle(trainer=trainer, batch_data=batch_data):
                    trainer.step.assign(16)
                    for _ in range(16):
                        trainer.train_step(batch_data)
                profiles[i] = profile_steps(cycle, os.path.join(tmp, f'profile{i}'))
        results = []
        for (trainer, _, out), t, prof, fl in zip(runs, times, profiles, flops):
            cycle = amortized(t)
            conv_flop = amortized({k: v['conv'] for k, v in fl.items()})
            out.update(conv_gflop_per_step=conv_flop / 1e9, conv_gflop_per_sec=conv_flop / 1e9 / cycle,
                       matmul_gflop_per_step=amortized({k: v['matmul'] for k, v in fl.items()}) / 1e9,
                       winograd_gflop_per_step=amortized({k: v['winograd'] for k, v in fl.items()}) / 1e9)
            unknown = sum(v['unknown_shape_ops'] for v in fl.values())
            if unknown:
                out['flop_count_unknown_shape_ops'] = unknown  # the FLOP figures then undercount
            out.update({
                'img_per_sec_main': batch / t['main'],
                'img_per_sec_reg': batch / t['reg'],
                'img_per_sec_amortized': batch / cycle,
                'sec_per_step_main': t['main'], 'sec_per_step_greg': t['greg'], 'sec_per_step_reg': t['reg'],
            })
            out.update(memory)
            if prof:
                out['profile'] = dict(prof, cycle_steps=16)
            if len(runs) > 1:
                out['interleaved_with'] = [f'{p}/{a}' for p, a in variants if (p, a) != (out['precision'], out['aug'])]
            if trainer.loss_scales:
                out['skipped_phases'] = {k: int(v.skipped.numpy()) for k, v in trainer.loss_scales.items()}
            out['device'] = 'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'
            from stylegan2_tf.ops import cpu_loops, host_cpu
            out['cpu_loops'] = cpu_loops()  # which copy of the compiled CPU loops ran
            out['cpu'] = host_cpu()  # bfloat16's speed depends on AMX: only figures of one CPU compare
            results.append(out)
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--configs', default='demo', help='comma list of ' + ','.join(CONFIGS))
    p.add_argument('--impls', default='custom,ref', help='comma list of custom,ref,auto')
    p.add_argument('--steps', type=int, default=3, help='timed steps per variant (median)')
    p.add_argument('--batch', type=int, default=None, help='override every config\'s batch size')
    p.add_argument('--precision', default='fp32', help='comma list of ' + ','.join(PRECISIONS))
    p.add_argument('--num_fp16_res', type=int, default=4, help='highest resolutions in the reduced precision')
    p.add_argument('--aug', default='noaug', help='comma list of noaug,ada (augmentation of D\'s inputs)')
    p.add_argument('--aug-p', type=float, default=0.5, help='augmentation strength p of the ada runs')
    p.add_argument('--augpipe', default='bgc', help='augmentation preset of the ada runs')
    p.add_argument('--interleave', action='store_true',
                   help='time every (precision, aug) pair in one process, alternating their steps (fair speed ratios '
                        'on a machine whose speed drifts; the peak memory is then that of all of them together)')
    p.add_argument('--profile', action='store_true',
                   help='after timing, profile one lazy-regularization cycle (16 steps) of each variant and report '
                        'the share of op time per op class, per step part (phase forward/backward/optimizer, EMA) '
                        'and per op type, and the time no op ran (executor and Python overhead)')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)  # 'config:impl:prec/aug[+..]', subprocesses
    args = p.parse_args()
    if args.worker:
        name, impl, variants = args.worker.split(':')
        variants = [tuple(v.split('/')) for v in variants.split('+')]
        for out in bench(name, impl, args.steps, args.batch, variants, args.num_fp16_res, args.aug_p, args.augpipe,
                         args.profile):
            print(json.dumps(out))
        return
    # Names are checked before TensorFlow is imported, so a typo fails at once.
    precisions, augs = args.precision.split(','), args.aug.split(',')
    bad = [x for x in precisions if x not in PRECISIONS]
    if bad:
        raise SystemExit(f'unknown precision {bad[0]!r}; choose from {", ".join(PRECISIONS)}')
    bad = [x for x in augs if x not in ('noaug', 'ada')]
    if bad:
        raise SystemExit(f'unknown --aug {bad[0]!r}; choose from noaug, ada')
    bad = [x for x in args.configs.split(',') if x not in CONFIGS]
    if bad:
        raise SystemExit(f'unknown config {bad[0]!r}; choose from {sorted(CONFIGS)}')
    bad = [x for x in args.impls.split(',') if x not in ('custom', 'ref', 'auto')]
    if bad:
        raise SystemExit(f'unknown impl {bad[0]!r}; choose from custom, ref, auto')
    from stylegan2_tf.ops import custom_ops_available
    from stylegan2_tf.training.augment import AUGPIPE_SPECS
    if args.augpipe not in AUGPIPE_SPECS:
        raise SystemExit(f'unknown --augpipe {args.augpipe!r}; choose from {", ".join(AUGPIPE_SPECS)}')
    variants = [f'{p}/{a}' for p in precisions for a in augs]
    results = []
    for name in args.configs.split(','):
        for impl in args.impls.split(','):
            groups = ['+'.join(variants)] if args.interleave else variants
            for group in groups:
                run = {'config': name, 'impl': impl, 'variants': group}
                first = len(results)
                if impl == 'custom' and not custom_ops_available():
                    results.append(dict(run, skipped='custom op library not built/loadable'))
                else:
                    cmd = [sys.executable, os.path.abspath(__file__), '--worker', f'{name}:{impl}:{group}',
                           '--steps', str(args.steps), '--num_fp16_res', str(args.num_fp16_res),
                           '--aug-p', str(args.aug_p), '--augpipe', args.augpipe]
                    if args.batch:
                        cmd += ['--batch', str(args.batch)]
                    if args.profile:
                        cmd += ['--profile']
                    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
                    if proc.returncode != 0:
                        results.append(dict(run, failed=f'exit status {proc.returncode}'))
                    else:
                        results.extend(json.loads(line) for line in proc.stdout.strip().splitlines()
                                       if line.startswith('{'))
                for out in results[first:]:
                    print(json.dumps(out), file=sys.stderr, flush=True)
    print(json.dumps({'results': results}, indent=2))


if __name__ == '__main__':
    main()
