#!/usr/bin/env python3
"""Train the Fashion-MNIST classifier behind the offline quality metrics (fd_fmnist10k, kid_fmnist10k).

    python3 scripts/train_fmnist_classifier.py [--data /usr/share/datasets/fashion-mnist] [--epochs 8]

Trains ``stylegan2_tf.metrics.fmnist_classifier.build_classifier`` on the 60,000 training images from a fixed seed
(op determinism on, so a rerun on the same machine and TensorFlow gives the same file), writes the float16 weights to
``stylegan2_tf/metrics/data/fmnist_classifier.npz`` and records their sha256 and the test accuracy *of the written
file* (10,000 test images) in ``fmnist_classifier.json``. Exits non-zero below ``--min-accuracy`` (0.91).
Adam (lr 1e-3, halved for the last quarter of the epochs), batch 128, random x-flips, dropout 0.3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_split(directory: str, split: str):
    """(uint8 [N, 32, 32, 1] zero-padded images, int64 labels [N]) of one split ('train' or 't10k')."""
    from stylegan2_tf.data.sources import DatasetError, load_idx_dataset
    try:
        return load_idx_dataset(directory, pad_to=32, splits=(split,))
    except DatasetError as e:
        raise SystemExit(f"error: {e}") from None


def accuracy(model, x, y, batch: int = 1000) -> float:
    import numpy as np
    from stylegan2_tf.metrics.fmnist_classifier import preprocess
    correct = 0
    for i in range(0, len(x), batch):
        logits = model(preprocess(x[i:i + batch]), training=False)["logits"].numpy()
        correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="directory of the IDX files")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="weight file (default: the package's shipped file)")
    p.add_argument("--min-accuracy", type=float, default=0.91)
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf
    from stylegan2_tf.metrics import fmnist_classifier as fc

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    model = fc.build_classifier()
    opt = keras.optimizers.Adam(learning_rate=args.lr)
    opt.build(model.trainable_variables)

    @tf.function
    def train_step(x_u8, y, flip):
        x = fc.preprocess(x_u8)
        x = tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)["logits"]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(args.seed)
    start = time.time()
    for epoch in range(args.epochs):
        if epoch == (3 * args.epochs) // 4:
            opt.learning_rate.assign(args.lr / 2)
        order = rng.permutation(len(x_train))
        flips = rng.random(len(x_train)) < 0.5
        losses = []
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            losses.append(float(train_step(tf.constant(x_train[idx]), tf.constant(y_train[idx]),
                                           tf.constant(flips[i:i + args.batch]))))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {np.mean(losses):.4f}, test accuracy "
              f"{accuracy(model, x_test, y_test):.4f} ({time.time() - start:.0f}s)", flush=True)

    out = args.out or fc.default_weights_path()
    digest = fc.save_classifier_weights(model, out)
    stored, _ = fc.load_classifier(out, expected_sha256=digest)  # what ships is what is measured
    test_acc = accuracy(stored, x_test, y_test)
    train_acc = accuracy(stored, x_train, y_train)
    info = dict(file=os.path.basename(out), sha256=digest, test_accuracy=test_acc, train_accuracy=train_acc,
                num_parameters=int(sum(int(np.prod(v.shape)) for v in model.weights)), dtype="float16",
                epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed, tensorflow=tf.__version__,
                train_seconds=round(time.time() - start, 1),
                features="fc1 (128-d, after ReLU); inputs uint8 32x32x1 scaled to [-1, 1]")
    info_path = os.path.join(os.path.dirname(out), fc.INFO_NAME)
    from stylegan2_tf.atomic_io import atomic_write_bytes
    atomic_write_bytes(info_path, (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    print(json.dumps(info, indent=2))
    if test_acc < args.min_accuracy:
        print(f"error: test accuracy {test_acc:.4f} < {args.min_accuracy}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
