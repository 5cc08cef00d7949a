"""Run logging: a progress line per tick, a JSONL log, and TensorBoard scalars/images (chief only)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import time
from typing import Dict, Optional

import numpy as np


def format_time(seconds: float) -> str:
    s = int(np.rint(seconds))
    if s < 60:
        return f'{s}s'
    if s < 3600:
        return f'{s // 60}m {s % 60:02d}s'
    if s < 86400:
        return f'{s // 3600}h {(s // 60) % 60:02d}m'
    return f'{s // 86400}d {(s // 3600) % 24:02d}h'


@contextlib.contextmanager
def quiet_framework_logs():
    """TensorFlow's and absl's Python loggers at WARNING for the block (restored after it), so that the progress lines
    are not interleaved with INFO records such as the checkpoint saver's "Sharding callback duration" at every save.
    """
    from absl import logging as absl_logging
    tf_logger = logging.getLogger('tensorflow')
    saved = tf_logger.level, absl_logging.get_verbosity()
    tf_logger.setLevel(logging.WARNING)
    absl_logging.set_verbosity(absl_logging.WARNING)
    try:
        yield
    finally:
        tf_logger.setLevel(saved[0])
        absl_logging.set_verbosity(saved[1])


def peak_memory() -> Dict[str, float]:
    """Peak host RSS and (if a GPU is used) peak GPU memory, in GiB."""
    out = {'Resources/peak_host_mem_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    try:
        import tensorflow as tf
        if tf.config.list_logical_devices('GPU'):
            out['Resources/peak_gpu_mem_gb'] = tf.config.experimental.get_memory_info('GPU:0')['peak'] / 2**30
    except Exception:  # memory stats are best-effort (not all devices report them)
        pass
    return out


class RunLogger:
    """Writes ``log.txt`` (progress lines), ``stats.jsonl`` and TensorBoard events under ``outdir``."""

    def __init__(self, outdir: str, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.outdir = outdir
        self._writer = None
        if enabled:
            os.makedirs(outdir, exist_ok=True)
            self._log = open(os.path.join(outdir, 'log.txt'), 'a')
            self._jsonl = open(os.path.join(outdir, 'stats.jsonl'), 'a')
            if tensorboard:
                import tensorflow as tf
                self._writer = tf.summary.create_file_writer(os.path.join(outdir, 'tensorboard'))

    def print(self, line: str) -> None:
        if not self.enabled:
            return
        print(line, flush=True)
        self._log.write(line + '\n')
        self._log.flush()

    def scalars(self, stats: Dict[str, float], step_kimg: float, extra: Optional[dict] = None) -> None:
        if not self.enabled:
            return
        rec = dict(extra or {}, timestamp=time.time(), kimg=step_kimg)
        rec.update({k: float(v) for k, v in stats.items()})
        self._jsonl.write(json.dumps(rec) + '\n')
        self._jsonl.flush()
        if self._writer is not None:
            import tensorflow as tf
            with self._writer.as_default():
                for k, v in stats.items():
                    tf.summary.scalar(k, float(v), step=int(step_kimg * 1000))
            self._writer.flush()

    def image(self, name: str, image_uint8: np.ndarray, nimg: int) -> None:
        if not self.enabled or self._writer is None:
            return
        import tensorflow as tf
        with self._writer.as_default():
            tf.summary.image(name, image_uint8[None], step=int(nimg))
        self._writer.flush()

    def close(self) -> None:
        if self.enabled:
            self._log.close()
            self._jsonl.close()
            if self._writer is not None:
                self._writer.close()
