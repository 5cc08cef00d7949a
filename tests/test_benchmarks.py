"""benchmarks/train_step.py runs end to end and prints the JSON it documents (the figures themselves are not tested)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, 'benchmarks', 'train_step.py')


def _run(args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')
    return subprocess.run([sys.executable, BENCH] + args, env=env, capture_output=True, text=True, timeout=timeout)


def test_train_step_benchmark_prints_json():
    # Demo networks at batch 4 in bfloat16 (every block from 8x8 up) with ADA augmenting D's inputs, one timed step
    # per variant; each run in its own subprocess.
    p = _run(['--configs', 'demo', '--impls', 'ref', '--steps', '1', '--batch', '4', '--precision', 'bf16',
              '--aug', 'ada', '--profile'])
    assert p.returncode == 0, p.stderr[-3000:]
    (result,) = json.loads(p.stdout)['results']
    assert result['config'] == 'demo' and result['impl'] == 'ref' and result['batch'] == 4
    assert result['precision'] == 'bf16' and result['num_fp16_res'] == 4
    assert (result['aug'], result['augpipe'], result['aug_p']) == ('ada', 'bgc', 0.5)
    for key in ('img_per_sec_main', 'img_per_sec_reg', 'img_per_sec_amortized', 'trace_sec'):
        assert result[key] > 0, (key, result)
    # The amortized rate is that of one lazy-regularization cycle: R1 (with path length) once, path length alone 3
    # times, 12 plain steps. (No ordering of the timings is asserted: on shared cores one timed step can be slow.)
    cycle = result['sec_per_step_reg'] + 3 * result['sec_per_step_greg'] + 12 * result['sec_per_step_main']
    assert abs(result['img_per_sec_amortized'] - 16 * 4 / cycle) < 1e-9 * result['img_per_sec_amortized']
    assert result['peak_host_mem_gb'] > 0.1 and result['device'] == 'CPU'
    # --profile: one lazy-regularization cycle (16 steps) in the TF profiler. Every phase and the EMA show up; the
    # shares of op time sum to 1; ops ran for most of the wall time (wall - busy: executor and Python overhead).
    prof = result['profile']
    assert prof['cycle_steps'] == 16 and 0 < prof['busy_sec'] <= prof['wall_sec']
    for table in ('op_share_by_class', 'op_share_by_part'):
        assert abs(sum(prof[table].values()) - 1) < 2e-3, prof[table]
    parts = set(prof['op_share_by_part'])
    assert {f'{ph} {pt}' for ph in ('Gmain', 'Greg', 'Dmain', 'Dreg') for pt in ('forward', 'backward')} <= parts
    assert {'ema', 'Gmain optimizer', 'Dmain optimizer'} <= parts and prof['op_share_by_part'].get('other', 0) < 0.1
    classes = prof['op_share_by_class']
    assert classes['convolutions'] > 0.05 and classes['casts'] > 0 and 'Sg2BiasAct' not in prof['op_share_by_type']
    assert 'Conv2D' in prof['op_share_by_type'] and len(prof['op_share_by_type']) <= 15
    # The largest op instances, named by graph node and op type; the main phases' nodes carry their scopes (which
    # phase's nodes are among the 30 largest varies with the timing).
    nodes = prof['op_share_by_node']
    assert 0 < len(nodes) <= 30 and all(':' in k for k in nodes)
    assert any('Gmain/' in k or 'Dmain/' in k for k in nodes), nodes
    assert sorted(nodes.values(), reverse=True) == list(nodes.values()) and sum(nodes.values()) <= 1 + 2e-3
    # The CPU (only figures of one CPU compare: bfloat16's speed depends on AMX).
    assert set(result['cpu']) == {'model', 'logical_cpus', 'amx_bf16', 'avx512_bf16'}
    assert result['cpu']['logical_cpus'] == os.cpu_count()
    # FLOPs of the convolutions that run in one amortized step (graph_flops is tested on its own below).
    assert result['conv_gflop_per_step'] > 0 and 'flop_count_unknown_shape_ops' not in result
    assert abs(result['conv_gflop_per_sec'] - result['conv_gflop_per_step'] * result['img_per_sec_amortized'] / 4) \
        < 1e-6 * result['conv_gflop_per_sec']


def test_graph_flops_counts_the_convolutions_and_matmuls_that_run():
    sys.path.insert(0, os.path.dirname(BENCH))
    import tensorflow as tf
    import train_step

    @tf.function
    def f(x, w, a, b):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, w, 1, 'SAME')                                   # [2, 8, 8, 5]
            loss = tf.reduce_sum(y * y)
        # Only x's gradient is used: a filter gradient, if TF's Conv2D gradient builds one, never runs.
        return tape.gradient(loss, x), tf.matmul(a, b, transpose_a=True)   # [6, 4]^T [6, 7]

    graph = f.get_concrete_function(tf.TensorSpec([2, 8, 8, 3]), tf.TensorSpec([3, 3, 3, 5]), tf.TensorSpec([6, 4]),
                                    tf.TensorSpec([6, 7])).graph
    fl = train_step.graph_flops(graph)
    assert fl == {'conv': 2 * (2 * 8 * 8 * 5) * (3 * 3 * 3) * 2, 'matmul': 2 * 4 * 7 * 6, 'winograd': 0.0,
                  'unknown_shape_ops': 0}
    graph = f.get_concrete_function(tf.TensorSpec([None, 8, 8, 3]), tf.TensorSpec([3, 3, 3, 5]),
                                    tf.TensorSpec([6, 4]), tf.TensorSpec([6, 7])).graph
    assert train_step.graph_flops(graph)['unknown_shape_ops'] == 2


def test_graph_flops_counts_winograd_convolutions_as_direct_ones(needs_custom_ops):
    """A Winograd convolution and its two gradients count as the direct convolution's work (forward, input and
    weight gradient: 3 x 2 |y| 9 Cin), and their BatchMatMuls (a quarter of it) as `winograd`, not as matmuls."""
    sys.path.insert(0, os.path.dirname(BENCH))
    import tensorflow as tf
    import train_step
    from stylegan2_tf.ops import winograd

    @tf.function
    def f(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = winograd.winograd_conv2d(x, w, impl='custom')              # [2, 8, 8, 5]
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, w])

    graph = f.get_concrete_function(tf.TensorSpec([2, 8, 8, 3]), tf.TensorSpec([3, 3, 3, 5])).graph
    fl = train_step.graph_flops(graph)
    direct = 3 * 2 * (2 * 8 * 8 * 5) * (3 * 3 * 3)
    assert fl['conv'] == direct and fl['winograd'] == direct / 4, fl
    assert fl['matmul'] == 0 and fl['unknown_shape_ops'] == 0, fl


def test_conv_throughput_benchmark_prints_json():
    script = os.path.join(ROOT, 'benchmarks', 'conv_throughput.py')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')
    p = subprocess.run([sys.executable, script, '--shapes', '2x8x16', '--dtypes', 'float32,bfloat16', '--repeats', '2'],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(p.stdout)
    results = report['results']
    assert isinstance(report['cpu']['amx_bf16'], bool)
    assert [(r['shape'], r['dtype']) for r in results] == [('2x8x16', 'float32'), ('2x8x16', 'bfloat16')]
    for r in results:
        assert r['gflop_per_call'] == 2 * 2 * 8 * 8 * 16 * 16 * 9 / 1e9
        rates = [r[f'{k}_gflop_per_sec'] for k in ('forward', 'backprop_input', 'backprop_filter')]
        assert min(rates) > 0 and min(rates) <= r['mean_gflop_per_sec'] <= max(rates)
    p = subprocess.run([sys.executable, script, '--shapes', '2x8'], env=env, capture_output=True, text=True)
    assert p.returncode != 0 and "bad shape '2x8'" in p.stderr


def test_profile_op_classes_and_step_parts():
    sys.path.insert(0, os.path.dirname(BENCH))
    import train_step
    classes = {t: train_step.op_class(t) for t in ('Conv2DBackpropFilter', 'Sg2UpFirDn2d', 'MatMul', 'Cast', 'Sum',
                                                      'Transpose', 'AssignAddVariableOp', 'StatelessRandomNormalV2',
                                                      'Mul', 'LeakyRelu')}
    assert classes == {'Conv2DBackpropFilter': 'convolutions', 'Sg2UpFirDn2d': 'custom ops', 'MatMul': 'matmuls',
                       'Cast': 'casts', 'Sum': 'reductions', 'Transpose': 'data movement',
                       'AssignAddVariableOp': 'variables', 'StatelessRandomNormalV2': 'random',
                       'Mul': 'element-wise', 'LeakyRelu': 'element-wise'}
    parts = {n: train_step.op_part(n) for n in (
        'Gmain/synthesis_1/b32_conv1_1/modconv_1/Conv2D', 'gradient_tape/Dreg/D_1/b32_conv0_1/Conv2DBackpropInput',
        'Dmain/D_opt/Mul_3', 'ema/AssignVariableOp_7', 'Gboth/D_1/Mul', 'AssignAddVariableOp', 'Dmain/AddN_12')}
    assert parts == {'Gmain/synthesis_1/b32_conv1_1/modconv_1/Conv2D': 'Gmain forward',
                     'gradient_tape/Dreg/D_1/b32_conv0_1/Conv2DBackpropInput': 'Dreg backward',
                     'Dmain/D_opt/Mul_3': 'Dmain optimizer', 'ema/AssignVariableOp_7': 'ema',
                     'Gboth/D_1/Mul': 'Gboth forward', 'AssignAddVariableOp': 'other',
                     'Dmain/AddN_12': 'Dmain backward'}


def test_train_step_benchmark_rejects_unknown_names():
    p = _run(['--configs', 'f1024'])
    assert p.returncode != 0 and "unknown config 'f1024'" in p.stderr
    p = _run(['--configs', 'demo', '--impls', 'cuda'])
    assert p.returncode != 0 and "unknown impl 'cuda'" in p.stderr
    p = _run(['--configs', 'demo', '--precision', 'fp8'])
    assert p.returncode != 0 and "unknown precision 'fp8'" in p.stderr
    p = _run(['--configs', 'demo', '--aug', 'adaptive'])
    assert p.returncode != 0 and "unknown --aug 'adaptive'" in p.stderr


def test_generation_benchmark_prints_json():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')
    # Both precisions in one process, their calls alternating (--interleave).
    p = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'generate.py'), '--configs', 'demo',
                        '--precision', 'fp32,bf16', '--interleave', '--steps', '1', '--batch', '2'],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    results = json.loads(p.stdout)['results']
    assert [(r['config'], r['precision'], r['num_fp16_res']) for r in results] == [('demo', 'fp32', 0),
                                                                                  ('demo', 'bf16', 4)]
    assert all(r['img_per_sec'] > 0 and r['batch'] == 2 and r['peak_host_mem_gb'] > 0.1 for r in results)
    assert [r['interleaved_with'] for r in results] == [['bf16'], ['fp32']]


def test_quality_benchmark_trains_evaluates_and_prints_json(tmp_path):
    # Two seeds of a tiny Fashion-MNIST run, a snapshot every 16 images, FD/KID from 100 generated images.
    bench = os.path.join(ROOT, 'benchmarks', 'quality.py')
    tiny = ['--z_dim=8', '--w_dim=8', '--mapping_layers=1', '--fmap_base=32', '--fmap_max=8', '--batch=8',
            '--kimg_per_tick=0.016', '--grid=2x2', '--impl=ref']
    args = [sys.executable, bench, '--kimg', '0.032', '--eval-kimg', '0.016', '--seeds', '0,1', '--num-gen', '100',
            '--outdir', str(tmp_path / 'q'), '--cache-dir', str(tmp_path / 'cache')]
    args += [f'--train-arg={a}' for a in tiny]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert [r['seed'] for r in out['runs']] == [0, 1]
    for run in out['runs']:
        assert run['img_per_sec'] > 0 and run['train_wall_sec'] > 0
        # Snapshots at 0 kimg (floor of 16 images) and at the end; every one evaluated with both metrics.
        assert len(run['curve']) >= 1
        for point in run['curve']:
            assert point['fd_fmnist10k'] > 0 and 'kid_fmnist10k' in point
    row = out['spread'][-1]
    assert row['fd_fmnist10k_min'] <= row['fd_fmnist10k_mean'] <= row['fd_fmnist10k_max']
    # The two seeds trained different networks.
    assert out['runs'][0]['curve'][-1]['fd_fmnist10k'] != out['runs'][1]['curve'][-1]['fd_fmnist10k']


def test_paper_table_trains_configs_and_prints_json(tmp_path):
    # Config A (growing G_style/D_basic) and E (fixed networks) for 32 images each with tiny networks; both metrics
    # (FD and the classifier-feature path length) at every snapshot from 64 samples. A's schedule (phases of 32/6
    # images) reaches 32x32 (lod 0) at its 4th step of 8 images.
    bench = os.path.join(ROOT, 'benchmarks', 'paper_table.py')
    tiny = ['--z_dim=8', '--w_dim=8', '--mapping_layers=1', '--fmap_base=32', '--fmap_max=8', '--batch=8',
            '--batch_dict=8:8,16:8,32:8', '--minibatch_repeats=1', '--kimg_per_tick=0.016', '--grid=2x2', '--impl=ref']
    args = [sys.executable, bench, '--configs', 'a,e', '--kimg', '0.032', '--eval-kimg', '0.016', '--num-gen', '64',
            '--outdir', str(tmp_path / 't'), '--cache-dir', str(tmp_path / 'cache')] + [f'--train-arg={a}' for a in tiny]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert [r['config'] for r in out['rows']] == ['a', 'e']
    for row in out['rows']:
        assert row['fd_fmnist10k'] > 0 and row['ppl_fmnist_wend'] > 0 and row['img_per_sec'] > 0, row
        assert all('fd_fmnist10k' in c and 'ppl_fmnist_wend' in c for c in row['curve'])
    a_opts = json.load(open(tmp_path / 't' / 'config-a' / 'training_options.json'))
    assert (a_opts['lod_initial_resolution'], a_opts['gamma'], a_opts['net_g_arch']) == (8, 0.1, 'stylegan1')
    assert 'lod 0.00' in open(tmp_path / 't' / 'config-a' / 'log.txt').read()  # grew to full resolution
    bad = subprocess.run([sys.executable, bench, '--configs', 'g'], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown config(s) ['g']" in bad.stderr


def test_ops_benchmark_reports_each_dtype(needs_custom_ops):
    """benchmarks/ops.py --dtype float32,bfloat16 at a tiny size: one record per dtype and case; the forward outputs
    of custom and ref agree (float32 up to summation order; bfloat16 within one ulp at the outputs' scale <= ~8,
    i.e. 2 * 2^-8 * 8 / 2); the bf16 records carry their speed relative to float32. (The forward+backward figure
    includes the bias gradient, a sum whose two implementations round at different points, so it is not checked.)"""
    bench = os.path.join(ROOT, 'benchmarks', 'ops.py')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')
    p = subprocess.run([sys.executable, bench, '--batch', '1', '--channels', '4', '--repeats', '1', '--warmup', '0',
                        '--dtype', 'float32,bfloat16', '--cases', 'bias_act_lrelu,downsample2d_2x'],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(p.stdout)
    assert report['dtypes'] == ['float32', 'bfloat16']
    for dtype, tol in (('float32', 1e-5), ('bfloat16', 2 ** -8 * 8)):
        cases = report['results'][dtype]
        assert sorted(cases) == ['bias_act_lrelu', 'downsample2d_2x']
        for rec in cases.values():
            assert rec['forward']['max_abs_diff'] <= tol, (dtype, rec)
            for mode in ('forward', 'forward_backward'):
                assert rec[mode]['custom_ms'] > 0 and rec[mode]['ref_ms'] > 0, (dtype, rec)
                assert ('custom_speedup_vs_float32' in rec[mode]) == (dtype == 'bfloat16')
    p = subprocess.run([sys.executable, bench, '--dtype', 'float8'], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode != 0 and "unknown element type(s) ['float8']" in p.stderr


def test_small_data_report_reads_run_directories(tmp_path):
    # benchmarks/small_data.py report: the FD curve from metric-fd_fmnist10k.jsonl, p / r_t / D-loss curves and the
    # median img/s (first tick excluded) from stats.jsonl, for every run directory; a directory without stats is not
    # a run. (Its training subcommands are tools/train.py runs, tested in test_training_cli.py.)
    run = tmp_path / 'subset50-ada-seed0'
    run.mkdir()
    (tmp_path / 'not-a-run').mkdir()
    with open(run / 'metric-fd_fmnist10k.jsonl', 'w') as f:
        for kimg, fd in ((40, 30.5), (20, 60.25)):
            f.write(json.dumps({'kimg': kimg, 'results': {'fd_fmnist10k': fd}}) + '\n')
    with open(run / 'stats.jsonl', 'w') as f:
        for kimg, rate, p in ((1, 5.0, 0.0), (20, 100.0, 0.001), (30, 120.0, 0.002), (40, 90.0, 0.004)):
            f.write(json.dumps({'kimg': kimg, 'Timing/img_per_sec': rate, 'Progress/augment': p,
                                'Loss/signs/real': 0.5, 'Loss/D/loss': 1.0}) + '\n')
    script = os.path.join(ROOT, 'benchmarks', 'small_data.py')
    p = subprocess.run([sys.executable, script, 'report', '--outdir', str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (out,) = json.loads(p.stdout)['runs']
    assert out['fd'] == [[20, 60.25], [40, 30.5]]
    assert out['p'] == [[1, 0.0], [20, 0.001], [30, 0.002], [40, 0.004]] and out['rt'][0] == [1, 0.5]
    assert out['img_per_sec'] == 100.0
    p = subprocess.run([sys.executable, script, 'report', '--outdir', str(tmp_path), '--markdown'],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == '| kimg | subset50-ada-seed0 |'
    assert lines[2] == '| 20 | 60.2 (0.001) |' and lines[3] == '| 40 | 30.5 (0.004) |'
    assert lines[-1] == '| best | 30.5 @ 40 |'
    p = subprocess.run([sys.executable, script, 'subsets'], capture_output=True, text=True)
    assert p.returncode != 0 and 'needs --outdir' in p.stderr


def test_exact_steps_compare_reports_identical_and_differing_weights(tmp_path):
    """benchmarks/exact_steps.py --compare: exit 0 only when every array is bit-identical (NaN equal to NaN)."""
    import numpy as np
    script = os.path.join(ROOT, 'benchmarks', 'exact_steps.py')
    w = {'0000_g/w': np.arange(6, dtype=np.float32).reshape(2, 3), '0001_d/b': np.array([np.nan, 1.0], np.float32)}
    np.savez(tmp_path / 'a.npz', **w)
    np.savez(tmp_path / 'b.npz', **w)
    w2 = dict(w, **{'0000_g/w': w['0000_g/w'] + np.float32(2 ** -20) * (np.arange(6).reshape(2, 3) == 4)})
    np.savez(tmp_path / 'c.npz', **w2)
    same = subprocess.run([sys.executable, script, '--compare', str(tmp_path / 'a.npz'), str(tmp_path / 'b.npz')],
                          capture_output=True, text=True)
    assert same.returncode == 0 and '2 arrays, 0 differ (bit-identical)' in same.stdout, same.stdout + same.stderr
    diff = subprocess.run([sys.executable, script, '--compare', str(tmp_path / 'a.npz'), str(tmp_path / 'c.npz')],
                          capture_output=True, text=True)
    assert diff.returncode == 1 and '1 differ' in diff.stdout and '0000_g/w' in diff.stdout, diff.stdout
