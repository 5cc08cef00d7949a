"""Training checkpoints: tf.train.CheckpointManager with crash-safe writes and restore fallback.

A TensorFlow checkpoint is written as data + index files first and only then recorded in the
``checkpoint`` state file, which TensorFlow replaces atomically; ``latest`` therefore always names a
complete checkpoint, and a process killed mid-write leaves at worst unreferenced partial files, which
:func:`cleanup_partial` removes. On restore, a checkpoint that fails to load is skipped in favour of the
previous one, with a warning.

Under MultiWorkerMirroredStrategy every worker must take part in saving; non-chief workers write to a
private temporary directory that is deleted afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
from typing import Callable, Optional

import tensorflow as tf


class CheckpointStore:
    """Owns the run's ``checkpoints/`` directory."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, max_to_keep: int = 3, is_chief: bool = True,
                 restore_fn: Optional[Callable[[str], None]] = None):
        """restore_fn(path) restores one checkpoint (default: ``checkpoint.restore`` with matching asserted)."""
        self.checkpoint = checkpoint
        self.restore_fn = restore_fn or (lambda path: checkpoint.restore(path).assert_existing_objects_matched())
        self.is_chief = is_chief
        self.directory = directory
        if is_chief:
            os.makedirs(directory, exist_ok=True)
            cleanup_partial(directory)
            self._dir = directory
        else:
            self._dir = tempfile.mkdtemp(prefix='ckpt-worker-')
        self.manager = tf.train.CheckpointManager(checkpoint, self._dir, max_to_keep=max_to_keep)

    @property
    def latest(self) -> Optional[str]:
        return tf.train.latest_checkpoint(self.directory) if os.path.isdir(self.directory) else None

    def all_checkpoints(self):
        state = tf.train.get_checkpoint_state(self.directory) if os.path.isdir(self.directory) else None
        return list(state.all_model_checkpoint_paths) if state else []

    def save(self, step: int) -> str:
        path = self.manager.save(checkpoint_number=step)
        if not self.is_chief:
            shutil.rmtree(self._dir, ignore_errors=True)
            os.makedirs(self._dir, exist_ok=True)
            return os.path.join(self.directory, os.path.basename(path))
        return path

    def restore_latest(self) -> Optional[str]:
        """Restore the newest checkpoint that loads; returns its path (None if there is none)."""
        candidates = list(reversed(self.all_checkpoints()))
        errors = []
        for path in candidates:
            try:
                self.restore_fn(path)
                return path
            except Exception as e:  # corrupt or mismatching checkpoint: try the previous one
                errors.append(f'{path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}')
                print(f'warning: cannot restore {path} ({errors[-1]}); trying an older checkpoint', file=sys.stderr)
        if candidates:
            raise ValueError('no checkpoint in {} could be restored:\n  {}'.format(self.directory, '\n  '.join(errors)))
        return None


def cleanup_partial(directory: str) -> None:
    """Remove files of checkpoints that were being written when a process died (not in the state file)."""
    state = tf.train.get_checkpoint_state(directory)
    keep = set()
    if state is not None:
        for p in state.all_model_checkpoint_paths:
            keep.add(os.path.basename(p))
    for f in glob.glob(os.path.join(directory, 'ckpt-*')):
        base = os.path.basename(f)
        prefix = base.split('.')[0]
        if prefix not in keep:
            if os.path.isdir(f):
                shutil.rmtree(f, ignore_errors=True)
            else:
                os.remove(f)
    for f in glob.glob(os.path.join(directory, '*_temp*')):
        shutil.rmtree(f, ignore_errors=True) if os.path.isdir(f) else os.remove(f)
