"""Training: configuration (``config``), losses, EMA, distribution, checkpoints and the loop.

Import the submodules directly (``from stylegan2_tf.training import config``); this file only makes the
directory a package, so that ``pip install .`` ships it.
"""
