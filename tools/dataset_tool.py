#!/usr/bin/env python3
"""Shim: runs stylegan2_tf/cli/dataset_tool.py from this checkout (installed as `stylegan2-dataset-tool`)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout before any install
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no C++ INFO/WARNING lines
from stylegan2_tf.cli.dataset_tool import *  # noqa: E402,F401,F403  (the tool's functions, for scripts and tests)
from stylegan2_tf.cli.dataset_tool import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
