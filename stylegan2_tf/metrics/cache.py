"""On-disk cache of dataset feature statistics.

Entries are keyed by everything that changes the result: the dataset (name, fingerprint,
resolution, channels, size), the feature network (name and weight-file identity) and the
options (item count, what is captured).  Files are ``<cache_dir>/<dataset>-<detector>-<md5>.npz``
written atomically, so an interrupted run never leaves a truncated entry behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from typing import Any, Dict, Optional

import numpy as np

from stylegan2_tf.atomic_io import atomic_write_bytes

__all__ = ["StatsCache", "cache_key", "default_cache_dir"]

CACHE_VERSION = 1


def default_cache_dir() -> str:
    """``$STYLEGAN2_TF_CACHE`` or ``~/.cache/stylegan2_tf/metrics``."""
    return os.environ.get("STYLEGAN2_TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "stylegan2_tf",
                                                                 "metrics")


def cache_key(options: Dict[str, Any]) -> str:
    """md5 of the canonical JSON of ``options`` (plus the cache format version)."""
    blob = json.dumps({"cache_version": CACHE_VERSION, **options}, sort_keys=True, default=str)
    return hashlib.md5(blob.encode("utf-8")).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))[:60] or "x"


class StatsCache:
    """Get/put dicts of numpy arrays under option dicts."""

    def __init__(self, cache_dir: Optional[str] = None):
        self.cache_dir = cache_dir or default_cache_dir()

    def path(self, options: Dict[str, Any]) -> str:
        return os.path.join(self.cache_dir, f"{_safe(options.get('dataset_name', 'data'))}-"
                                            f"{_safe(options.get('detector', 'det'))}-{cache_key(options)}.npz")

    def load(self, options: Dict[str, Any]) -> Optional[Dict[str, np.ndarray]]:
        p = self.path(options)
        if not os.path.isfile(p):
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                stored = json.loads(str(z["__options__"]))
                if stored != json.loads(json.dumps(options, sort_keys=True, default=str)):
                    return None  # hash collision or foreign file: recompute
                return {k: z[k] for k in z.files if k != "__options__"}
        except (OSError, ValueError, KeyError):
            return None  # unreadable entry: recompute and overwrite

    def save(self, options: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> str:
        p = self.path(options)
        buf = io.BytesIO()
        np.savez(buf, __options__=np.array(json.dumps(options, sort_keys=True, default=str)), **arrays)
        atomic_write_bytes(p, buf.getvalue())
        return p
