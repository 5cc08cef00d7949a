"""ONNX export of the generator (z [, labels], truncation_psi -> raw float images) via tf2onnx, checked with
onnxruntime.

Optional dependencies (the `onnx` extra): `pip install tf2onnx onnxruntime`. The ONNX graph is converted from the
same reference-op (standard TF) generator as the SavedModel export. Inputs: `z` float32 [B, z_dim], `truncation_psi`
float32 [] (ONNX has no input defaults: always feed it), `labels` float32 [B, c_dim] for conditional models. Output:
`images` float32 [B, H, W, C] raw (NHWC, about [-1, 1]; uint8 = clip(x*127.5+128, 0, 255)) and `ws`.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
import tensorflow as tf

from stylegan2_tf.atomic_io import atomic_write_bytes
from stylegan2_tf.export import savedmodel

DEFAULT_OPSET = 17
TOLERANCE = 1e-4


def _require():
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"ONNX export needs tf2onnx and onnxruntime: pip install tf2onnx onnxruntime ({exc})") \
            from None
    return tf2onnx, onnxruntime


def onnx_function(G_ref, truncation_cutoff: Optional[int] = None, noise_mode: str = "const"):
    """tf.function (z [, labels], truncation_psi) -> {'images': raw float32, 'ws'} over the reference generator."""
    z_spec = tf.TensorSpec([None, G_ref.z_dim], tf.float32, name="z")
    psi_spec = tf.TensorSpec([], tf.float32, name="truncation_psi")
    if G_ref.c_dim:
        labels_spec = tf.TensorSpec([None, G_ref.c_dim], tf.float32, name="labels")

        def fn(z, labels, truncation_psi):
            ws = G_ref.mapping(z, labels, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
            return {"images": G_ref.synthesis(ws, noise_mode=noise_mode), "ws": ws}
        return tf.function(fn, input_signature=[z_spec, labels_spec, psi_spec])

    def fn(z, truncation_psi):
        ws = G_ref.mapping(z, None, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return {"images": G_ref.synthesis(ws, noise_mode=noise_mode), "ws": ws}
    return tf.function(fn, input_signature=[z_spec, psi_spec])


def _convert(tf2onnx, fn, opset: int, path: str) -> None:
    """Freezes the concrete function (variables AND captured eager constants such as the FIR filters become Const
    nodes; tf2onnx.convert.from_function would turn the latter into extra graph inputs) and converts the GraphDef."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    concrete = fn.get_concrete_function()
    flat_names = sorted(concrete.structured_outputs)   # tf.nest flattens dicts in sorted key order
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    inputs = [t.name for t in frozen.inputs]
    outputs = [t.name for t in frozen.outputs]
    model_proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs,
                                                     opset=opset)
    rename = {}
    for graph_in in model_proto.graph.input:
        rename[graph_in.name] = graph_in.name.split(":")[0]
    for graph_out, key in zip(model_proto.graph.output, flat_names):
        rename[graph_out.name] = key
    for node in model_proto.graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for v in list(model_proto.graph.input) + list(model_proto.graph.output):
        v.name = rename.get(v.name, v.name)
    atomic_write_bytes(path, model_proto.SerializeToString(), file_mode=0o644)  # a server must be able to read it


def verify_onnx(path: str, fn, z_dim: int, c_dim: int, truncation_psi: float, num: int = 3,
                tolerance: float = TOLERANCE) -> float:
    """Runs the ONNX model with onnxruntime on `num` latents (RandomState(seed).randn for seeds 0..num-1) and
    compares with the TensorFlow function; returns the max abs difference, raises ValueError above tolerance."""
    _, ort = _require()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    z = np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in range(num)]).astype(np.float32)
    feeds = {"z": z, "truncation_psi": np.array(truncation_psi, np.float32)}
    args = [tf.constant(z)]
    if c_dim:
        labels = np.eye(c_dim, dtype=np.float32)[np.arange(num) % c_dim]
        feeds["labels"] = labels
        args.append(tf.constant(labels))
    args.append(tf.constant(truncation_psi, tf.float32))
    expected = {k: v.numpy() for k, v in fn(*args).items()}
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(names, feeds)))
    worst = 0.0
    for key, ref in expected.items():
        if key not in got:
            raise ValueError(f"ONNX model has no output {key!r} (outputs: {names})")
        if got[key].shape != ref.shape:
            raise ValueError(f"ONNX output {key!r} has shape {got[key].shape}, TensorFlow {ref.shape}")
        worst = max(worst, float(np.max(np.abs(got[key].astype(np.float64) - ref))))
    if not worst <= tolerance:
        raise ValueError(f"ONNX export differs from TensorFlow by {worst:.3g} (> {tolerance:g}); not publishing it")
    return worst


def export_onnx(G, out_dir: str, name: str, version: int, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "const",
                opset: int = DEFAULT_OPSET, precision: Optional[str] = "fp32",
                num_fp16_res: Optional[int] = None) -> tuple:
    """Writes `out_dir/name/version/model.onnx` atomically (same versioned layout as the SavedModel export) after
    checking it against TensorFlow with onnxruntime. Returns (path, max abs difference). float32 unless `precision`
    asks otherwise (see savedmodel.reference_generator)."""
    tf2onnx, _ = _require()
    if noise_mode not in ("const", "none"):
        raise ValueError(f"ONNX export supports noise_mode 'const' or 'none' (deterministic), got {noise_mode!r}")
    G_ref = savedmodel.reference_generator(G, precision, num_fp16_res)
    fn = onnx_function(G_ref, truncation_cutoff, noise_mode)
    with savedmodel.atomic_version_dir(out_dir, name, version) as tmp:
        path = os.path.join(tmp, "model.onnx")
        _convert(tf2onnx, fn, opset, path)
        diff = verify_onnx(path, fn, G_ref.z_dim, G_ref.c_dim, truncation_psi)
    final = os.path.join(os.path.abspath(out_dir), name, str(int(version)), "model.onnx")
    return final, diff
