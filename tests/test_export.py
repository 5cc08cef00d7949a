"""End-to-end export tests: tools/export.py on a tiny network, loaded WITHOUT stylegan2_tf in a fresh process,
compared with tools/generate.py; saved_model_cli show/run; op check; atomic versions; ONNX; served over fake
REST/gRPC endpoints that run the SavedModel."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from stylegan2_tf.export import graph_check, savedmodel
from stylegan2_tf.networks import Generator
from stylegan2_tf.serialization import save_network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(z_dim=8, w_dim=8, img_resolution=8, img_channels=3, mapping_layers=2, fmap_base=32, fmap_max=8)
SEEDS = [0, 1, 7, 123456, 2 ** 32 - 1]
PSI = 0.7
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)


def _tiny_generator(**kw) -> Generator:
    G = Generator(**TINY, **kw)
    # A non-zero w_avg so that truncation changes the images; keep activations in range so uint8 is informative.
    G.mapping.w_avg.assign(np.random.RandomState(5).randn(G.w_dim).astype(np.float32))
    # Noise strengths start at 0 (official init); make them non-zero so the noise buffers / random noise matter.
    for name, var in G.named_variables().items():
        if name.endswith("noise_strength"):
            var.assign(np.full(var.shape, 0.3, np.float32))
    return G


def _run(args, **kw):
    res = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=ENV, cwd=ROOT, **kw)
    return res


def _tool_main(name):
    """main() of tools/NAME.py, loaded in this process (saves a TensorFlow start-up per call)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", os.path.join(ROOT, "tools", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def _read_pngs(outdir, seeds):
    out = []
    for s in seeds:
        im = np.asarray(Image.open(os.path.join(outdir, f"seed{s:04d}.png")))
        out.append(im if im.ndim == 3 else im[..., None])
    return np.stack(out)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Snapshot of a tiny G, its export via tools/export.py (subprocess), and generate.py PNGs for SEEDS."""
    tmp = tmp_path_factory.mktemp("export")
    G = _tiny_generator()
    snap = str(tmp / "tiny.npz")
    save_network(snap, G=G, G_ema=G)
    models = str(tmp / "models")
    res = _run(["tools/export.py", "--network", snap, "--out", models, "--name", "tiny", "--version", "3",
                "--trunc", str(PSI)])
    assert res.returncode == 0, res.stderr
    gen = {}
    for psi in (PSI, 1.0):
        outdir = str(tmp / f"gen_{psi}")
        # --impl ref: the same arithmetic as the export (with the compiled ops, results agree to float rounding,
        # which can move a pixel by one uint8 level).
        rc = _tool_main("generate")(["--network", snap, "--seeds", ",".join(map(str, SEEDS)), "--trunc", str(psi),
                                     "--outdir", outdir, "--impl", "ref"])
        assert rc == 0
        gen[psi] = _read_pngs(outdir, SEEDS)
    return dict(G=G, snap=snap, models=models, version_dir=os.path.join(models, "tiny", "3"), gen=gen, tmp=tmp)


FRESH_SCRIPT = textwrap.dedent("""
    import sys, json
    import numpy as np
    import tensorflow as tf
    path, out = sys.argv[1], sys.argv[2]
    m = tf.saved_model.load(path)
    sig = m.signatures
    seeds = np.array(json.loads(sys.argv[3]), np.int64)
    z = np.concatenate([np.random.RandomState(int(s)).randn(1, 8) for s in seeds]).astype(np.float32)
    res = {}
    res["seeds_psi"] = sig["from_seeds"](seeds=tf.constant(seeds), truncation_psi=tf.constant(0.7))["images"].numpy()
    res["seeds_psi1"] = sig["from_seeds"](seeds=tf.constant(seeds), truncation_psi=tf.constant(1.0))["images"].numpy()
    res["z_psi"] = sig["serving_default"](z=tf.constant(z), truncation_psi=tf.constant(0.7))["images"].numpy()
    res["z_default"] = m.serving_default(tf.constant(z))["images"].numpy()      # default psi (the export's --trunc)
    ws = sig["mapping"](z=tf.constant(z), truncation_psi=tf.constant(0.7))["ws"]
    res["ws"] = ws.numpy()
    res["synth"] = sig["synthesis"](ws=ws)["images"].numpy()
    assert not any(k == "stylegan2_tf" or k.startswith("stylegan2_tf.") for k in sys.modules), "stylegan2_tf imported"
    np.savez(out, **res)
    print("OK", sorted(sig.keys()))
""")


def test_fresh_process_matches_generate(exported, tmp_path):
    script = tmp_path / "load.py"
    script.write_text(FRESH_SCRIPT)
    out = str(tmp_path / "out.npz")
    env = dict(ENV)
    env.pop("PYTHONPATH")   # the fresh process cannot even find stylegan2_tf
    res = subprocess.run([sys.executable, str(script), exported["version_dir"], out, json.dumps(SEEDS)],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "OK ['from_seeds', 'mapping', 'serving_default', 'synthesis']" in res.stdout
    r = np.load(out)
    gen = exported["gen"]
    assert r["seeds_psi"].dtype == np.uint8 and r["seeds_psi"].shape == (len(SEEDS), 8, 8, 3)
    np.testing.assert_array_equal(r["seeds_psi"], gen[PSI])
    np.testing.assert_array_equal(r["seeds_psi1"], gen[1.0])
    np.testing.assert_array_equal(r["z_psi"], gen[PSI])
    np.testing.assert_array_equal(r["z_default"], gen[PSI])
    np.testing.assert_array_equal(r["synth"], gen[PSI])
    assert not np.array_equal(gen[PSI], gen[1.0])           # truncation really acts
    assert len(np.unique(gen[PSI])) > 20                    # images are not saturated/constant
    # mapping equals the original network's mapping (which may run the compiled ops: float32 rounding only).
    z = np.concatenate([np.random.RandomState(s).randn(1, 8) for s in SEEDS]).astype(np.float32)
    np.testing.assert_allclose(r["ws"], exported["G"].mapping(z, truncation_psi=PSI).numpy(), rtol=0, atol=1e-5)


def _cli(args):
    res = subprocess.run(["saved_model_cli"] + args, capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _signature_block(text, name):
    m = re.search(rf"signature_def\['{name}'\]:\n(.*?)Method name is: (\S+)", text, re.S)
    assert m, f"signature {name} not listed"
    assert m.group(2) == "tensorflow/serving/predict"
    return m.group(1)


def _tensor(block, kind, key):
    m = re.search(rf"{kind}\['{key}'\] tensor_info:\s*dtype: (\S+)\s*shape: (\(.*?\))", block)
    assert m, f"{kind} {key} missing in\n{block}"
    return m.group(1), m.group(2)


def test_saved_model_cli_show_lists_signatures(exported):
    text = _cli(["show", "--dir", exported["version_dir"], "--all"])
    assert "MetaGraphDef with tag-set: 'serve'" in text
    b = _signature_block(text, "serving_default")
    assert _tensor(b, "inputs", "z") == ("DT_FLOAT", "(-1, 8)")
    assert _tensor(b, "inputs", "truncation_psi") == ("DT_FLOAT", "()")
    assert _tensor(b, "outputs", "images") == ("DT_UINT8", "(-1, 8, 8, 3)")
    b = _signature_block(text, "from_seeds")
    assert _tensor(b, "inputs", "seeds") == ("DT_INT64", "(-1)")
    assert _tensor(b, "inputs", "truncation_psi") == ("DT_FLOAT", "()")
    assert _tensor(b, "outputs", "images") == ("DT_UINT8", "(-1, 8, 8, 3)")
    b = _signature_block(text, "mapping")
    assert _tensor(b, "inputs", "z") == ("DT_FLOAT", "(-1, 8)")
    assert _tensor(b, "outputs", "ws") == ("DT_FLOAT", "(-1, 4, 8)")
    b = _signature_block(text, "synthesis")
    assert _tensor(b, "inputs", "ws") == ("DT_FLOAT", "(-1, 4, 8)")
    assert _tensor(b, "outputs", "images") == ("DT_UINT8", "(-1, 8, 8, 3)")
    # The SignatureDefs carry the export's psi as the default of truncation_psi (used when a request omits it).
    from tensorflow.core.protobuf import saved_model_pb2
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(exported["version_dir"], "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    for name in ("serving_default", "from_seeds", "mapping"):
        default = sm.meta_graphs[0].signature_def[name].defaults["truncation_psi"]
        assert tf.make_ndarray(default) == np.float32(PSI)


def test_saved_model_cli_run_serving_default(exported, tmp_path):
    # saved_model_cli run loads through the session-based loader, like TF Serving. truncation_psi is omitted:
    # the signature's default (the export's --trunc) applies.
    z = np.concatenate([np.random.RandomState(s).randn(1, 8) for s in SEEDS]).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    outdir = tmp_path / "cli"
    _cli(["run", "--dir", exported["version_dir"], "--tag_set", "serve", "--signature_def", "serving_default",
          "--inputs", f"z={tmp_path / 'z.npy'}", "--outdir", str(outdir)])
    np.testing.assert_array_equal(np.load(outdir / "images.npy"), exported["gen"][PSI])
    outdir2 = tmp_path / "cli2"
    np.save(tmp_path / "seeds.npy", np.array(SEEDS, np.int64))
    np.save(tmp_path / "psi.npy", np.float32(1.0))
    _cli(["run", "--dir", exported["version_dir"], "--tag_set", "serve", "--signature_def", "from_seeds",
          "--inputs", f"seeds={tmp_path / 'seeds.npy'};truncation_psi={tmp_path / 'psi.npy'}",
          "--outdir", str(outdir2)])
    np.testing.assert_array_equal(np.load(outdir2 / "images.npy"), exported["gen"][1.0])


def test_graph_check_accepts_export_and_rejects_custom_ops(exported, tmp_path):
    ops = graph_check.check_saved_model(exported["version_dir"])
    assert "Conv2D" in ops and "StatelessWhile" in ops or "While" in ops
    assert not any(op.startswith("Sg2") for op in ops)
    # Simulate a graph with custom ops by editing a copy of saved_model.pb: one node becomes our compiled op, one an
    # op no TensorFlow knows.
    import shutil
    from tensorflow.core.protobuf import saved_model_pb2
    bad = tmp_path / "bad"
    shutil.copytree(exported["version_dir"], bad)
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((bad / "saved_model.pb").read_bytes())
    funcs = sm.meta_graphs[0].graph_def.library.function
    target = next(f for f in funcs if any(n.op == "Mul" for n in f.node_def))
    next(n for n in target.node_def if n.op == "Mul").op = "Sg2BiasAct"
    sm.meta_graphs[0].graph_def.node[0].op = "SomeUnregisteredOp"
    (bad / "saved_model.pb").write_bytes(sm.SerializeToString())
    with pytest.raises(graph_check.NonStandardOpError) as info:
        graph_check.check_saved_model(str(bad))
    msg = str(info.value)
    assert "Sg2BiasAct" in msg and "SomeUnregisteredOp" in msg and target.signature.name in msg
    assert graph_check.main([str(bad)]) == 1
    assert graph_check.main([exported["version_dir"]]) == 0


def test_reference_generator_uses_reference_ops(exported):
    G_ref = savedmodel.reference_generator(exported["G"])
    assert G_ref.get_config()["impl"] == "ref" and G_ref.get_config()["fused_modconv"] is False
    for (k, a), (k2, b) in zip(sorted(exported["G"].named_variables().items()),
                               sorted(G_ref.named_variables().items())):
        assert k == k2
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_models_config(exported):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    for fname, base in (("models.config", os.path.join(exported["models"], "tiny")),
                        ("models.docker.config", "/models/tiny")):
        cfg = model_server_config_pb2.ModelServerConfig()
        with open(os.path.join(exported["models"], fname)) as f:
            text_format.Parse(f.read(), cfg)
        (entry,) = cfg.model_config_list.config
        assert entry.name == "tiny" and entry.base_path == base and entry.model_platform == "tensorflow"
    assert savedmodel.list_versions(os.path.join(exported["models"], "tiny")) == [3]


def test_export_refuses_existing_version_and_bad_names(exported, capsys):
    rc = _tool_main("export")(["--network", exported["snap"], "--out", exported["models"], "--name", "tiny",
                               "--version", "3"])
    assert rc == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(ValueError, match="version"):
        savedmodel.check_name_version("tiny", 0)
    with pytest.raises(ValueError, match="model name"):
        savedmodel.check_name_version("../x", 1)
    with pytest.raises(ValueError, match="model name"):
        savedmodel.check_name_version(".hidden", 1)


def test_interrupted_export_exception_leaves_no_version(exported, tmp_path):
    def boom(tmp_dir):
        assert os.path.isfile(os.path.join(tmp_dir, "saved_model.pb"))   # fully saved, not yet published
        raise RuntimeError("simulated crash")
    with pytest.raises(RuntimeError, match="simulated crash"):
        savedmodel.export_savedmodel(exported["G"], str(tmp_path), "m", 1, _after_save=boom)
    assert os.listdir(tmp_path / "m") == []          # no version, temporary directory removed
    assert savedmodel.list_versions(str(tmp_path / "m")) == []


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from stylegan2_tf.networks import Generator
    from stylegan2_tf.export import savedmodel
    G = Generator(**{tiny})
    def hang(tmp_dir):
        open(sys.argv[2], "w").write(tmp_dir)
        time.sleep(600)
    savedmodel.export_savedmodel(G, sys.argv[1], "m", 1, _after_save=hang)
""")


def test_killed_export_leaves_no_version(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT.replace("{tiny}", repr(TINY)))
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "out"), str(marker)], env=ENV, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    model_dir = tmp_path / "out" / "m"
    entries = os.listdir(model_dir)
    assert savedmodel.list_versions(str(model_dir)) == []
    # Only the hidden temporary directory remains; TF Serving ignores non-numeric names.
    assert len(entries) == 1 and entries[0].startswith(".tmp-1-")
    assert marker.read_text() == str(model_dir / entries[0])


def test_conditional_random_noise_export(tmp_path):
    G = _tiny_generator(c_dim=3)
    d = savedmodel.export_savedmodel(G, str(tmp_path), "cond", 1, truncation_psi=0.5, noise_mode="random")
    m = tf.saved_model.load(d)
    sig = m.signatures["from_seeds"]
    assert set(sig.structured_input_signature[1]) == {"seeds", "labels", "truncation_psi"}
    seeds = tf.constant([3, 4], tf.int64)
    labels = tf.constant(np.eye(3, dtype=np.float32)[[0, 2]])
    a = sig(seeds=seeds, labels=labels, truncation_psi=tf.constant(0.5))["images"].numpy()
    b = sig(seeds=seeds, labels=labels, truncation_psi=tf.constant(0.5))["images"].numpy()
    assert a.shape == (2, 8, 8, 3) and not np.array_equal(a, b)          # random noise per request
    z = np.concatenate([np.random.RandomState(s).randn(1, 8) for s in (3, 4)]).astype(np.float32)
    ws = m.signatures["mapping"](z=tf.constant(z), labels=labels, truncation_psi=tf.constant(0.5))["ws"].numpy()
    np.testing.assert_allclose(ws, G.mapping(z, labels.numpy(), truncation_psi=0.5).numpy(), rtol=0, atol=1e-5)


def test_onnx_export_matches_tensorflow(exported, tmp_path):
    try:
        import onnxruntime as ort
        import tf2onnx  # noqa: F401
    except ImportError as exc:   # a missing extra is a failure with the fix, not a skip
        pytest.fail(f"ONNX export test needs the onnx extra: pip install tf2onnx onnxruntime ({exc})")
    rc = _tool_main("export")(["--network", exported["snap"], "--out", str(tmp_path), "--name", "tiny",
                               "--version", "1", "--trunc", str(PSI), "--format", "onnx"])
    assert rc == 0
    path = tmp_path / "tiny" / "1" / "model.onnx"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["z", "truncation_psi"]
    z = np.concatenate([np.random.RandomState(s).randn(1, 8) for s in SEEDS]).astype(np.float32)
    for psi in (PSI, 1.0):
        images, ws = sess.run(["images", "ws"], {"z": z, "truncation_psi": np.array(psi, np.float32)})
        G = exported["G"]
        np.testing.assert_allclose(images, G(z, truncation_psi=psi, noise_mode="const").numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(ws, G.mapping(z, truncation_psi=psi).numpy(), rtol=0, atol=1e-4)
        # And the uint8 images agree with generate.py except where rounding straddles a level (at most 1).
        u8 = np.clip(images * 127.5 + 128, 0, 255).astype(np.uint8)
        assert np.abs(u8.astype(int) - exported["gen"][psi].astype(int)).max() <= 1


# -- served over fake endpoints that run the SavedModel like TF Serving would --------------------------------------
class _SavedModelServer:
    """Minimal stand-in for tensorflow_model_server (REST predict, columnar format) backed by the SavedModel."""

    def __init__(self, name, path):
        from tensorflow.core.protobuf import saved_model_pb2
        self.name = name
        self.model = tf.saved_model.load(path)
        sm = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            sm.ParseFromString(f.read())
        # Like TF Serving: inputs missing from a request take the SignatureDef's default, if it has one.
        self.defaults = {k: {a: tf.make_ndarray(t) for a, t in v.defaults.items()}
                         for k, v in sm.meta_graphs[0].signature_def.items()}

    def predict(self, signature_name, inputs):
        sig = self.model.signatures.get(signature_name)
        if sig is None:
            return 400, {"error": f'Serving signature name: "{signature_name}" not found in signature def'}
        specs = sig.structured_input_signature[1]
        inputs = dict(self.defaults[signature_name], **inputs)
        missing = sorted(set(specs) - set(inputs))
        if missing:
            return 400, {"error": f"Signature input alias(es) {missing} not found in request and no default"}
        feeds = {k: tf.constant(np.asarray(v), specs[k].dtype) for k, v in inputs.items()}
        out = sig(**feeds)
        return 200, {k: v.numpy() for k, v in out.items()}


def test_rest_and_grpc_end_to_end(exported, tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    server = _SavedModelServer("tiny", exported["version_dir"])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/\d+)?:predict", self.path)
            if not m or m.group(1) != server.name:
                code, payload = 404, {"error": f"Servable not found for request: Latest({m and m.group(1)})"}
            else:
                code, out = server.predict(body.get("signature_name", "serving_default"), body["inputs"])
                payload = out if code != 200 else {"outputs": {k: v.tolist() for k, v in out.items()}
                                                   if len(out) > 1 else next(iter(out.values())).tolist()}
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"

    import grpc
    from concurrent import futures
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            if request.model_spec.name != server.name:
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"Servable not found for request: Latest({request.model_spec.name})")
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            code, out = server.predict(request.model_spec.signature_name or "serving_default", inputs)
            if code != 200:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, out["error"])
            resp = predict_pb2.PredictResponse()
            for k, v in out.items():
                resp.outputs[k].CopyFrom(tf.make_tensor_proto(v))
            return resp

    gserver = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), gserver)
    port = gserver.add_insecure_port("127.0.0.1:0")
    gserver.start()
    try:
        seeds_arg = ",".join(map(str, SEEDS))
        for how, where, psi in (("--url", url, PSI), ("--grpc", f"127.0.0.1:{port}", 1.0)):
            outdir = tmp_path / how.strip("-")
            res = _run(["tools/serve_client.py", how, where, "--model", "tiny", "--seeds", seeds_arg,
                        "--trunc", str(psi), "--outdir", str(outdir), "--batch", "2"])
            assert res.returncode == 0, res.stderr
            np.testing.assert_array_equal(_read_pngs(outdir, SEEDS), exported["gen"][psi])
        # Without --trunc the export's default applies (REST request without truncation_psi).
        from stylegan2_tf.serving_client import ServingError, images_from_seeds
        np.testing.assert_array_equal(images_from_seeds(SEEDS, "tiny", url=url), exported["gen"][PSI])
        # Wrong model / signature: clear messages over both protocols.
        for kw in (dict(url=url), dict(grpc_target=f"127.0.0.1:{port}")):
            with pytest.raises(ServingError, match="model 'nope' not found"):
                images_from_seeds([1], "nope", **kw)
            with pytest.raises(ServingError, match="signature 'bogus' not found"):
                images_from_seeds([1], "tiny", signature_name="bogus", **kw)
    finally:
        httpd.shutdown()
        gserver.stop(0)


def test_stylegan3_onnx_export_matches_tensorflow(tmp_path):
    # A StyleGAN3-T generator (Fourier input, filtered leaky ReLUs through the reference ops) exports to ONNX with a
    # user transform baked into its weights, and onnxruntime reproduces it.
    import onnxruntime as ort
    from stylegan2_tf.networks import StyleGAN3Generator
    G = StyleGAN3Generator(z_dim=8, w_dim=8, img_resolution=16, img_channels=1, channel_base=64, channel_max=8,
                           name="G")
    G.synthesis.input.transform.assign(np.array([[1, 0, -0.1], [0, 1, 0.05], [0, 0, 1]], np.float32))
    snap = str(tmp_path / "sg3.npz")
    save_network(snap, G_ema=G)
    rc = _tool_main("export")(["--network", snap, "--out", str(tmp_path), "--name", "sg3", "--version", "1",
                               "--format", "onnx"])
    assert rc == 0
    sess = ort.InferenceSession(str(tmp_path / "sg3" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    z = np.random.RandomState(0).randn(2, 8).astype(np.float32)
    images, = sess.run(["images"], {"z": z, "truncation_psi": np.array(1.0, np.float32)})
    np.testing.assert_allclose(images, G(z, noise_mode="const").numpy(), rtol=0, atol=1e-4)
