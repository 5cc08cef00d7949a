"""Packaging: ``pip install .`` (not editable) into a fresh virtual environment ships every subpackage, the
compiled op library and the metrics' data files, and its console scripts train a few demo steps and render the
snapshot with the venv's own copy of stylegan2_tf, not the repository's nor an editable install's.

The venv reuses the installed TensorFlow (``--system-site-packages``), pip never goes to an index, and the op
library is not recompiled (custom_ops/build.py skips up-to-date libraries; the CUDA one is left out). About 1-2
minutes on 2 cores.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import PIL.Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, 'stylegan2_tf')
FMNIST = '/usr/share/datasets/fashion-mnist'
# Everything the sdist would not hold, plus the CUDA library (17 MB; SG2_NO_CUDA=1 below).
_IGNORE = shutil.ignore_patterns('.git', 'build', 'dist', 'runs', '*.egg-info', '__pycache__', '.pytest_cache',
                                 '.venv', '.gpu', '.whl', '_stylegan2_ops_cuda.so')
MARKER = 'install-test-marker.json'  # added to the copy's stylegan2_tf/metrics/data/ to prove package_data

# Run by the venv's python from a directory outside the repository: where everything came from (one JSON line), then
# `stylegan2-train --helpfull` in the same process (saves a TensorFlow start-up).
_PROBE = r'''
import importlib.metadata, importlib.util, json, os, sys, sysconfig
import stylegan2_tf, stylegan2_tf.ops as ops

def origin(name):
    try:
        return importlib.util.find_spec(name).origin
    except (ImportError, AttributeError) as e:
        return repr(e)

def loads(ep):
    try:
        return callable(ep.load())
    except Exception as e:
        return repr(e)

eps = [ep for ep in importlib.metadata.entry_points(group='console_scripts') if ep.value.startswith('stylegan2_tf.')]
names = ['stylegan2_tf.' + m for m in ('cli', 'cli.train', 'data', 'export', 'metrics', 'networks', 'ops',
                                       'training', 'training.config', 'training.loop')]
print(json.dumps(dict(
    file=stylegan2_tf.__file__, purelib=sysconfig.get_paths()['purelib'], sys_path=sys.path,
    modules={n: origin(n) for n in names},
    ops=ops.custom_ops_available(), ops_path=ops.library_path(), ops_error=ops.load_error(),
    marker=os.path.isfile(os.path.join(os.path.dirname(stylegan2_tf.__file__), 'metrics', 'data', MARKER)),
    scripts={ep.name: loads(ep) for ep in eps})), flush=True)
# Then the console script itself (as its own process would run it): stylegan2-train --helpfull.
import runpy
sys.argv = [os.path.join(os.path.dirname(sys.executable), 'stylegan2-train'), '--helpfull']
runpy.run_path(sys.argv[0], run_name='__main__')
'''

SCRIPTS = ['stylegan2-train', 'stylegan2-generate', 'stylegan2-style-mixing', 'stylegan2-interpolate',
           'stylegan2-project', 'stylegan2-export', 'stylegan2-serve-client', 'stylegan2-calc-metrics',
           'stylegan2-dataset-tool', 'stylegan2-import-official', 'stylegan2-convert-weights']


def test_every_source_directory_is_a_package():
    """find_packages only finds directories with __init__.py: any other one would be missing from the wheel."""
    missing = [os.path.relpath(d, ROOT) for d, _, files in os.walk(PKG)
               if '__pycache__' not in d and any(f.endswith('.py') for f in files) and '__init__.py' not in files]
    assert not missing, f'directories without __init__.py (not installed by pip install .): {missing}'


def _run(cmd, cwd, env, timeout=600):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f'{cmd[:3]} -> {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}'
    return p


def _editable_origin(cwd, env):
    """Where the test's own python imports stylegan2_tf from outside the repo (the editable install), or None."""
    code = 'import importlib.util as u; s = u.find_spec("stylegan2_tf"); print(s.origin if s else "")'
    p = subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    return p.stdout.strip() or None


def test_pip_install_into_fresh_venv_trains_and_generates(tmp_path):
    src, venv, work = tmp_path / 'src', tmp_path / 'venv', tmp_path / 'work'
    shutil.copytree(ROOT, src, ignore=_IGNORE)  # copy2 keeps mtimes: the op library stays up to date
    os.makedirs(src / 'stylegan2_tf' / 'metrics' / 'data', exist_ok=True)
    (src / 'stylegan2_tf' / 'metrics' / 'data' / MARKER).write_text('{}')
    os.makedirs(work)
    assert os.path.isdir(FMNIST), f'{FMNIST} missing: apt-get install dataset-fashion-mnist (scripts/setup.sh)'
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV')}
    env.update(TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1', SG2_NO_CUDA='1', SG2_REQUIRE_OPS='1',
               PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1', PYTHONDONTWRITEBYTECODE='1')
    editable = _editable_origin(str(work), env)

    # No pip inside the venv (ensurepip costs ~8 s): this pip installs into it with --python.
    _run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', str(venv)], str(work), env)
    py, bindir = str(venv / 'bin' / 'python'), venv / 'bin'
    p = _run([sys.executable, '-m', 'pip', '--python', py, 'install', '-v', '--no-build-isolation', str(src)],
             str(work), env)
    assert 'CPU library up to date' in p.stdout + p.stderr, 'pip install recompiled the op library'
    assert 'Successfully installed stylegan2' in p.stdout

    p = subprocess.run([py, '-c', _PROBE.replace('MARKER', repr(MARKER))], cwd=str(work), env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.stdout.startswith('{'), p.stdout[-2000:] + p.stderr[-3000:]
    probe = json.loads(p.stdout.split('\n', 1)[0])
    site = probe['purelib']
    assert site.startswith(str(venv)), probe
    assert probe['file'] == os.path.join(site, 'stylegan2_tf', '__init__.py'), probe
    for name, origin in probe['modules'].items():
        assert origin and origin.startswith(site), (name, origin)
    assert probe['ops'] and probe['ops_path'] == os.path.join(site, 'stylegan2_tf', 'ops', '_stylegan2_ops.so'), probe
    assert probe['marker'], 'stylegan2_tf/metrics/data/* is not installed'
    assert probe['scripts'] == {s: True for s in SCRIPTS}, probe['scripts']
    # The venv sees the system site-packages, where the editable install (if any) is registered, and yet imports
    # its own copy.
    assert sysconfig.get_paths()['purelib'] in probe['sys_path'], probe['sys_path']
    if editable:
        assert probe['file'] != editable and not editable.startswith(site), (editable, probe['file'])
    for s in SCRIPTS:  # the scripts run the venv's interpreter
        with open(bindir / s) as f:
            assert str(venv) in f.read(1000), s
    # stylegan2-train --helpfull: absl exits 1 after the help, which lists the tool's docstring, its own flags
    # and the config's.
    assert p.returncode in (0, 1) and 'Train StyleGAN2' in p.stdout, p.stdout[-2000:] + p.stderr[-3000:]
    for flag in ('--outdir', '--metrics', '--gamma', '--fmap_base', '--flagfile'):
        assert flag in p.stdout, flag

    # 3 demo steps (48 images = total_kimg: the run ends and writes its snapshot), compiled ops required.
    run = work / 'run'
    _run([str(bindir / 'stylegan2-train'), f'--flagfile={ROOT}/configs/demo.flags', f'--data={FMNIST}',
          f'--outdir={run}', '--total_kimg=0.048', '--max_steps=3', '--grid=4x2', '--impl=custom',
          '--metrics_num_gen=200'], str(work), env)
    snap = run / 'network-snapshot-000000.npz'
    assert snap.is_file(), os.listdir(run)
    # The demo's fd_fmnist10k ran on that snapshot with the classifier weights installed as package data.
    (fd,) = [json.loads(line) for line in (run / 'metric-fd_fmnist10k.jsonl').read_text().splitlines()]
    assert fd['results']['fd_fmnist10k'] > 0 and not fd['random_weights']
    assert (run / 'metric-fd_fmnist10k.png').is_file()
    assert json.loads((run / 'training_options.json').read_text())['batch'] == 16

    out = work / 'gen'
    quiet_env = {k: v for k, v in env.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}  # the scripts quiet TF themselves
    p = _run([str(bindir / 'stylegan2-generate'), '--network', str(snap), '--seeds', '0-1', '--impl', 'ref',
              '--outdir', str(out)], str(work), quiet_env)
    assert not re.search(r'^[IW]\d{4} ', p.stderr, re.M), p.stderr[-2000:]  # TensorFlow C++ INFO/WARNING lines
    assert sorted(os.listdir(out)) == ['seed0000.png', 'seed0001.png']
    # The same images from this process's (repository) package: the snapshot is sound and the tool is the same.
    from stylegan2_tf.serialization import load_network
    G = load_network(str(snap), impl='ref').G_ema
    z = np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in (0, 1)]).astype(np.float32)
    expected = np.clip(G(z, noise_mode='const').numpy() * 127.5 + 128, 0, 255).astype(np.uint8)
    for i, name in enumerate(['seed0000.png', 'seed0001.png']):
        img = PIL.Image.open(out / name)
        assert img.mode == 'L' and img.size == (32, 32)
        np.testing.assert_array_equal(np.asarray(img), expected[i, :, :, 0])
