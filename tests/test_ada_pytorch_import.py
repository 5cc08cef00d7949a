"""stylegan2-ada-pytorch pickles: the restricted reader of the torch_utils.persistence format, the conversion to our
networks, numerics against the numpy statement of the upstream networks in tests/torch_format.py, metadata, and
one-line errors for what is refused.

Tolerances: the imported float32 networks against the float64 statement with rtol 1e-4 and atol 1e-4 * max|ref|
(float32 rounding through a few layers); float16 blocks against the float32 statement with atol 5e-3 * max|ref|
(10 times float16's unit roundoff 2^-11: the reduced blocks round every activation to 11 significant bits; measured
8e-4 for G and 3e-4 for D).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import torch_format as tfm  # noqa: E402
from stylegan2_tf.official import import_official_pickle, read_official_content  # noqa: E402
from stylegan2_tf.official import torch_pickle  # noqa: E402
from stylegan2_tf.serialization import load_network, network_values, save_network  # noqa: E402

RTOL = 1e-4
# 16 channels at 4x4, 8 at 8x8, 4 at 16x16; channel_max <= channel_base / 4 as our D's 4x4 dense layer needs.
SMALL = dict(channel_base=64, channel_max=16)
TRAINING_SET = dict(class_name="training.dataset.ImageFolderDataset", path="/data/faces.zip", use_labels=False,
                    max_size=70000, xflip=True, resolution=8, random_seed=0)


def _write(tmp_path, data, name="net.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _close(out, ref, rtol=RTOL):
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _one_line_error(path, match, **kwargs):
    with pytest.raises(ValueError, match=match) as err:
        load_network(path, **kwargs)
    assert "\n" not in str(err.value), str(err.value)
    return str(err.value)


def _small_pickle(tmp_path, name="net.pkl", g=None, d=None, **kwargs):
    G = tfm.ada_generator(seed=1, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(SMALL, **(g or {})))
    D = tfm.ada_discriminator(seed=2, **SMALL, **(d or {}))
    data, params = tfm.make_ada_pytorch_pickle(G=G, D=D, G_ema=G, **kwargs)
    return _write(tmp_path, data, name), params, (G, D)


@pytest.mark.parametrize("g_arch,d_arch,res", [("skip", "resnet", 8), ("resnet", "skip", 16), ("orig", "orig", 8)])
def test_networks_match_ada_pytorch(tmp_path, g_arch, d_arch, res):
    make_g = lambda seed: tfm.ada_generator(seed=seed, img_resolution=res, mapping_kwargs=dict(num_layers=2),  # noqa
                                            synthesis_kwargs=dict(SMALL, architecture=g_arch))
    D = tfm.ada_discriminator(seed=3, img_resolution=res, architecture=d_arch, **SMALL)
    data, params = tfm.make_ada_pytorch_pickle(G=make_g(1), D=D, G_ema=make_g(2), augment=None,
                                               training_set_kwargs=dict(TRAINING_SET, resolution=res))
    snap = load_network(_write(tmp_path, data))
    G = snap.G_ema
    assert (G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution, G.img_channels) == (8, 8, 0, 2 * np.log2(res) - 2,
                                                                                        res, 3)
    assert G.synthesis.architecture == g_arch and snap.D.architecture == d_arch and G.precision == "fp32"
    z = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    ref = tfm.reference_generator(params["G_ema"], z, img_resolution=res, architecture=g_arch, mapping_layers=2)
    _close(G(z, noise_mode="const").numpy(), _nhwc(ref))
    ref_t = tfm.reference_generator(params["G_ema"], z, img_resolution=res, architecture=g_arch, mapping_layers=2,
                                    psi=0.6, cutoff=2)
    _close(G(z, truncation_psi=0.6, truncation_cutoff=2, noise_mode="const").numpy(), _nhwc(ref_t))
    ref_g = tfm.reference_generator(params["G"], z, img_resolution=res, architecture=g_arch, mapping_layers=2)
    _close(snap.G(z, noise_mode="const").numpy(), _nhwc(ref_g))   # G carries its own weights
    img = np.random.default_rng(1).standard_normal((4, res, res, 3)).astype(np.float32)
    ref_d = tfm.reference_discriminator(params["D"], img.transpose(0, 3, 1, 2), architecture=d_arch)
    out_d = snap.D(img).numpy()
    assert out_d.shape == (4, 1)
    _close(out_d, ref_d)


def test_conditional_networks_match_ada_pytorch(tmp_path):
    """Label embedding in G's mapping; D's label mapping with upstream's MappingNetwork defaults (8 layers, lr 0.01,
    cmap_dim = the 4x4 channel count) and with explicit mapping_kwargs / cmap_dim."""
    G = tfm.ada_generator(seed=4, c_dim=3, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SMALL)
    D = tfm.ada_discriminator(seed=5, c_dim=3, **SMALL, epilogue_kwargs=dict(mbstd_group_size=2))
    D2 = tfm.ada_discriminator(seed=6, c_dim=3, cmap_dim=6, **SMALL,
                               mapping_kwargs=dict(num_layers=1, lr_multiplier=0.1))
    data, params = tfm.make_ada_pytorch_pickle(G=G, D=D, G_ema=G)
    data2, params2 = tfm.make_ada_pytorch_pickle(G=G, D=D2, G_ema=G)
    snap = load_network(_write(tmp_path, data))
    assert snap.G_ema.mapping.label_embed == "embed" and snap.G_ema.mapping.label_fmaps == 8
    cfg = snap.D.get_config()
    assert (cfg["label_mapping"], cfg["mapping_layers"], cfg["mapping_fmaps"], cfg["mapping_lr_mul"]) == \
        ("embed", 8, 16, 0.01)
    rng = np.random.default_rng(2)
    z = rng.standard_normal((4, 8)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]
    ref = tfm.reference_generator(params["G_ema"], z, c, mapping_layers=2)
    _close(snap.G_ema(z, c, noise_mode="const").numpy(), _nhwc(ref))
    img = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    _close(snap.D(_nhwc(img), c).numpy(), tfm.reference_discriminator(params["D"], img, c, group_size=2))
    snap2 = load_network(_write(tmp_path, data2, "cmap.pkl"))
    assert (snap2.D.mapping_layers, snap2.D.mapping_fmaps, snap2.D.mapping_lr_mul) == (1, 6, 0.1)
    _close(snap2.D(_nhwc(img), c).numpy(),
           tfm.reference_discriminator(params2["D"], img, c, mapping_layers=1, mapping_lr=0.1))


def test_fp16_kwargs_map_to_reduced_precision_and_clamp(tmp_path):
    """num_fp16_res / conv_clamp -> precision 'fp16', num_fp16_res, conv_clamp (as for the TF1 ADA pickles); the
    clamp (0.5 here, so that it bites) matches the statement in float32 (precision='fp32' override) and the float16
    blocks stay within float16 rounding of it."""
    ada = dict(num_fp16_res=2, conv_clamp=0.5)
    G = tfm.ada_generator(seed=7, img_resolution=16, mapping_kwargs=dict(num_layers=2),
                          synthesis_kwargs=dict(SMALL, **ada), channels_last=True)
    D = tfm.ada_discriminator(seed=8, img_resolution=16, **SMALL, **ada)
    data, params = tfm.make_ada_pytorch_pickle(G=G, D=D, G_ema=G)
    path = _write(tmp_path, data)
    snap = load_network(path)
    for net in (snap.G_ema, snap.G, snap.D):
        assert (net.precision, net.num_fp16_res) == ("fp16", 2)
    assert snap.G_ema.synthesis.conv_clamp == 0.5 and snap.D.conv_clamp == 0.5
    z = np.random.default_rng(3).standard_normal((2, 8)).astype(np.float32)
    ref = _nhwc(tfm.reference_generator(params["G_ema"], z, img_resolution=16, mapping_layers=2, conv_clamp=0.5))
    unclamped = _nhwc(tfm.reference_generator(params["G_ema"], z, img_resolution=16, mapping_layers=2))
    assert np.abs(ref - unclamped).max() > 0.1 * np.abs(ref).max()
    img = np.random.default_rng(4).standard_normal((2, 3, 16, 16)).astype(np.float32)
    ref_d = tfm.reference_discriminator(params["D"], img, conv_clamp=0.5)
    as_fp32 = load_network(path, precision="fp32")
    assert as_fp32.G_ema.precision == "fp32"
    _close(as_fp32.G_ema(z, noise_mode="const").numpy(), ref)
    _close(as_fp32.D(_nhwc(img)).numpy(), ref_d)
    _close(snap.G_ema(z, noise_mode="const").numpy(), ref, rtol=5e-3)
    _close(snap.D(_nhwc(img)).numpy(), ref_d, rtol=5e-3)


def test_reader_takes_views_strides_and_protocol_3(tmp_path):
    """Tensors are copied out of their storage by offset / size / stride: a transposed view at an offset into a
    larger storage, channels_last weights (above), and a protocol-3 pickle (Python 3.7's default, sets written as
    builtins.set) read the same values."""
    flat = np.arange(20, dtype=np.float32)
    m = tfm.Module("Probe")
    m.buffers["view"] = tfm._Raw(None, tfm.Tensor(None, storage=tfm.Storage(flat), offset=5, size=(3, 4),
                                                  stride=(1, 3)))
    m.params["scalar"] = tfm._Raw(None, tfm.Tensor(None, param=True, storage=tfm.Storage(flat), offset=19, size=(),
                                                   stride=()))
    for protocol in (3, 4):
        content = read_official_content(_write(tmp_path, tfm.dump_with_fakes(dict(G_ema=m), protocol=protocol)))
        record = content["G_ema"]
        assert isinstance(record, torch_pickle.PersistentRecord) and record.class_name == "Probe"
        assert record.module_src == tfm.PLACEHOLDER_SRC                    # kept as a string, never run
        assert record.state["_non_persistent_buffers_set"] == set()
        tensors = torch_pickle.named_tensors(record)
        np.testing.assert_array_equal(tensors["view"], flat[5:17].reshape(4, 3).T)
        assert tensors["scalar"].shape == () and tensors["scalar"] == 19


def test_metadata_snapshot_round_trip_and_import_tool(tmp_path):
    pipe = tfm.augment_pipe(0.37, xflip=1, rotate90=1, xint=1, imgfilter=1, imgfilter_bands=[1, 1, 0, 1])
    path, params, _ = _small_pickle(tmp_path, augment=pipe, training_set_kwargs=TRAINING_SET)
    snap = load_network(path)
    meta = snap.metadata
    assert meta["source_format"] == "stylegan2_ada_pytorch_pickle" and meta["source"] == "net.pkl"
    assert meta["training_set_kwargs"] == TRAINING_SET
    assert meta["augment_pipe"]["p"] == pytest.approx(0.37, abs=1e-7)
    assert meta["augment_pipe"]["kwargs"] == dict(xflip=1, rotate90=1, xint=1, imgfilter=1,
                                                  imgfilter_bands=[1, 1, 0, 1])
    again = load_network(save_network(str(tmp_path / "snap.npz"), G=snap.G, D=snap.D, G_ema=snap.G_ema,
                                      metadata=snap.metadata))
    assert again.metadata == meta
    z = np.random.default_rng(5).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_array_equal(again.G_ema(z, noise_mode="const").numpy(),
                                  snap.G_ema(z, noise_mode="const").numpy())

    from stylegan2_tf.cli.import_official import main
    assert main(["--pkl", path, "--out", str(tmp_path / "out")]) == 0
    tool = load_network(str(tmp_path / "out" / "net.npz"))
    assert tool.metadata["augment_pipe"] == meta["augment_pipe"] and tool.D is not None
    va, vb = network_values(tool.G_ema), network_values(snap.G_ema)
    assert all(np.array_equal(va[k], vb[k]) for k in va)


def test_pickles_without_augment_pipe_or_training_networks(tmp_path):
    path, _, (G, D) = _small_pickle(tmp_path, augment=None)
    snap = load_network(path)
    assert "augment_pipe" not in snap.metadata and "training_set_kwargs" not in snap.metadata
    data, params = tfm.make_ada_pytorch_pickle(G_ema=G, include=("G_ema",), extra={"progress": {"kimg": 10}})
    snap = import_official_pickle(_write(tmp_path, data, "gema.pkl"))
    assert snap.G is None and snap.D is None and snap.G_ema is not None
    assert snap.metadata["ignored_pickle_keys"] == ["progress"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    G = tfm.ada_generator(seed=1, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SMALL)
    G.modules["mapping"].attrs["payload"] = _Evil(marker)
    data, _ = tfm.make_ada_pytorch_pickle(G_ema=G, include=("G_ema",))
    _one_line_error(_write(tmp_path, data), r"refusing to load (posix|os)\.system")
    assert not marker.exists()
    # At the top level too.
    _one_line_error(_write(tmp_path, tfm.dump_with_fakes(dict(G_ema=_Evil(marker))), "evil2.pkl"),
                    r"refusing to load (posix|os)\.system")
    assert not marker.exists()


@pytest.mark.parametrize("offset,size,stride,match", [
    (2, (2, 3), (3, 1), r"reaches element 7 of a storage of 6 elements"),
    (0, (3, 3), (3, 1), r"reaches element 8 of a storage of 6 elements"),
    (0, (2, 3), (4, 1), r"reaches element 6 of a storage of 6 elements"),
    (7, (0,), (1,), r"offset 7 lies past its storage"),
    (0, (4, 4), (0, 1), r"more elements than its storage"),
    (-1, (2,), (1,), r"negative tensor offset"),
])
def test_tensor_outside_its_storage_is_refused(tmp_path, offset, size, stride, match):
    m = tfm.Module("Probe")
    m.buffers["x"] = tfm._Raw(None, tfm.Tensor(None, storage=tfm.Storage(np.arange(6.0)), offset=offset, size=size,
                                               stride=stride))
    _one_line_error(_write(tmp_path, tfm.dump_with_fakes(dict(G_ema=m))), match)


def test_corrupt_storage_blobs_are_refused(tmp_path):
    flat = np.arange(6.0)
    good = tfm.storage_blob(flat)
    cases = [(tfm.storage_blob(flat, count=7), r"the data says 7 elements, the storage declares 6"),
             (good[:-4], r"expected 24 bytes of data, the blob holds 20"),
             (good + b"\0", r"trailing bytes"),
             (tfm.storage_blob(flat, magic=12345), r"legacy magic number"),
             (tfm.storage_blob(flat, little_endian=False), r"little-endian"),
             (b"PK\x03\x04" + good, r"zip-format")]
    for i, (blob, match) in enumerate(cases):
        m = tfm.Module("Probe")
        m.buffers["x"] = tfm._Raw(None, tfm.Tensor(None, storage=tfm.Storage(None, blob=blob), size=(6,),
                                                   stride=(1,)))
        _one_line_error(_write(tmp_path, tfm.dump_with_fakes(dict(G_ema=m)), f"blob{i}.pkl"), match)


def test_unknown_kwargs_and_wrong_versions_are_refused(tmp_path):
    G = tfm.ada_generator(seed=1, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SMALL)
    G.init_kwargs["synthesis_kwargs"]["mystery_knob"] = 3
    data, _ = tfm.make_ada_pytorch_pickle(G_ema=G, include=("G_ema",))
    _one_line_error(_write(tmp_path, data), r"generator synthesis_kwargs: unknown official kwargs \['mystery_knob'\]")
    path, _, _ = _small_pickle(tmp_path, "d.pkl", d=dict(extra_kwargs={"top_k": 0.5}))
    _one_line_error(path, r"discriminator: unknown official kwargs \['top_k'\]")
    G = tfm.ada_generator(seed=1, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SMALL)
    G.modules["synthesis"].modules["b8"].modules["conv1"].version = 5
    data, _ = tfm.make_ada_pytorch_pickle(G_ema=G, include=("G_ema",))
    _one_line_error(_write(tmp_path, data, "v5.pkl"), r"unsupported torch_utils\.persistence version 5 \(this reader "
                                                      r"knows version 6\)")


def test_stylegan3_generator_goes_to_the_stylegan3_importer(tmp_path):
    """A generator with StyleGAN3's synthesis layers (input, L0_...) is recognised by structure and handed to
    official/stylegan3.py, which checks it against its kwargs (tests/test_stylegan3.py has the real ones)."""
    G = tfm.Module("Generator", (), dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3))
    G.modules["synthesis"] = tfm.Module("SynthesisNetwork")
    G.modules["synthesis"].modules["input"] = tfm.Module("SynthesisInput")
    G.modules["synthesis"].modules["L0_36_512"] = tfm.Module("SynthesisLayer")
    G.modules["mapping"] = tfm.Module("MappingNetwork")
    data = tfm.dump_with_fakes(dict(G=G, D=None, G_ema=G, augment_pipe=None, training_set_kwargs={}))
    _one_line_error(_write(tmp_path, data), r"StyleGAN3 G is not the StyleGAN3 network its kwargs describe")


def test_what_our_networks_cannot_express_is_refused(tmp_path):
    cases = [
        (dict(d=dict(channel_base=64, channel_max=32)), r"4x4 fc layer has 16 features .* ours has nf\(0\) = 32"),
        (dict(g=dict(resample_filter=[1, 2, 1])), r"resample_filter=\[1, 2, 1\] is not supported"),
        (dict(d=dict(architecture="skip", conv_clamp=256)), r"'skip' discriminator with conv_clamp"),
        (dict(d=dict(block_kwargs=dict(activation="relu"))), r"activations .* differ"),
    ]
    for i, (kwargs, match) in enumerate(cases):
        G = tfm.ada_generator(seed=1, mapping_kwargs=dict(num_layers=2),
                              synthesis_kwargs=dict(SMALL, **kwargs.get("g", {})))
        D = tfm.ada_discriminator(seed=2, **dict(SMALL, **kwargs.get("d", {})))
        data, _ = tfm.make_ada_pytorch_pickle(G=G, D=D, G_ema=G)
        _one_line_error(_write(tmp_path, data, f"case{i}.pkl"), match)
    # A module tree that its kwargs do not describe (a tensor missing) is refused before anything is built.
    G = tfm.ada_generator(seed=1, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SMALL)
    del G.modules["synthesis"].modules["b8"].modules["conv1"].params["noise_strength"]
    data, _ = tfm.make_ada_pytorch_pickle(G_ema=G, include=("G_ema",))
    _one_line_error(_write(tmp_path, data, "missing.pkl"),
                    r"missing tensors \['synthesis\.b8\.conv1\.noise_strength'\]")
