"""Official TF1 pickle import: restricted unpickler, variable conversion, numerics vs the official definitions."""
import os
import pickle

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from official_format import (make_official_pickle, reference_discriminator,  # noqa: E402
                             reference_generator)
from stylegan2_tf.official import RestrictedUnpickler, import_official_pickle  # noqa: E402
from stylegan2_tf.official.tf1 import read_official_pickle  # noqa: E402
from stylegan2_tf.serialization import load_network, network_values, save_network  # noqa: E402


def _write(tmp_path, data, name="net.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _official_params(nets, gname):
    g_vars, m_vars, s_vars = nets[gname]
    params = dict(g_vars)
    params.update({f"mapping/{k}": v for k, v in m_vars})
    params.update({f"synthesis/{k}": v for k, v in s_vars})
    return params


@pytest.mark.parametrize("g_arch,d_arch", [("skip", "resnet"), ("resnet", "skip"), ("orig", "orig")])
def test_import_matches_official_definition(tmp_path, g_arch, d_arch):
    data, nets = make_official_pickle(seed=1, resolution=8, g_architecture=g_arch, d_architecture=d_arch)
    snap = load_network(_write(tmp_path, data))
    assert snap.G is not None and snap.D is not None and snap.G_ema is not None
    G = snap.G_ema
    assert (G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution, G.img_channels) == (8, 8, 0, 4, 8, 3)
    params = _official_params(nets, "Gs")
    z = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    ref = reference_generator(params, z, architecture=g_arch).transpose(0, 2, 3, 1)
    out = G(z, noise_mode="const").numpy()
    assert out.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # Truncation with the imported dlatent_avg (official lerp, cutoff on the first layers).
    ref_t = reference_generator(params, z, architecture=g_arch, psi=0.5, cutoff=2).transpose(0, 2, 3, 1)
    out_t = G(z, truncation_psi=0.5, truncation_cutoff=2, noise_mode="const").numpy()
    np.testing.assert_allclose(out_t, ref_t, rtol=1e-4, atol=1e-4 * np.abs(ref_t).max())
    # G (not Gs) carries its own weights.
    assert not np.allclose(snap.G(z, noise_mode="const").numpy(), out)

    d_vars = dict(nets["D"])
    img = np.random.default_rng(2).standard_normal((4, 8, 8, 3)).astype(np.float32)
    ref_d = reference_discriminator(d_vars, img.transpose(0, 3, 1, 2), architecture=d_arch)
    out_d = snap.D(img).numpy()
    assert out_d.shape == (4, 1)
    np.testing.assert_allclose(out_d, ref_d, rtol=1e-4, atol=1e-4 * np.abs(ref_d).max())


def test_conditional_import_matches_official_definition(tmp_path):
    data, nets = make_official_pickle(seed=3, resolution=8, label_size=3)
    snap = load_network(_write(tmp_path, data))
    assert snap.G_ema.c_dim == 3 and snap.D.c_dim == 3
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 8)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 2]]
    ref = reference_generator(_official_params(nets, "Gs"), z, c).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(snap.G_ema(z, c, noise_mode="const").numpy(), ref, rtol=1e-4,
                               atol=1e-4 * np.abs(ref).max())
    img = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    ref_d = reference_discriminator(dict(nets["D"]), img.transpose(0, 3, 1, 2), c=c)
    np.testing.assert_allclose(snap.D(img, c).numpy(), ref_d, rtol=1e-4, atol=1e-4 * np.abs(ref_d).max())


def test_import_round_trips_through_snapshot(tmp_path):
    data, nets = make_official_pickle(seed=4)
    snap = import_official_pickle(_write(tmp_path, data))
    # Variables land unchanged except for the documented layout changes.
    values = network_values(snap.G_ema)
    g_vars, m_vars, s_vars = nets["Gs"]
    np.testing.assert_array_equal(values["dlatent_avg"], dict(g_vars)["dlatent_avg"])
    np.testing.assert_array_equal(values["mapping/Dense1/weight"], dict(m_vars)["Dense1/weight"])
    np.testing.assert_array_equal(values["synthesis/4x4/Const/const"],
                                  dict(s_vars)["4x4/Const/const"][0].transpose(1, 2, 0))
    np.testing.assert_array_equal(values["synthesis/noise2"], dict(s_vars)["noise2"][0, 0])
    np.testing.assert_array_equal(values["synthesis/8x8/Conv0_up/mod_bias"], dict(s_vars)["8x8/Conv0_up/mod_bias"])
    path = save_network(str(tmp_path / "snap.npz"), G=snap.G, D=snap.D, G_ema=snap.G_ema, metadata=snap.metadata)
    again = load_network(path)
    z = np.random.default_rng(5).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_array_equal(again.G_ema(z, noise_mode="const").numpy(), snap.G_ema(z, noise_mode="const").numpy())
    img = snap.G_ema(z, noise_mode="const").numpy()[:2]
    np.testing.assert_array_equal(again.D(img).numpy(), snap.D(img).numpy())
    assert again.metadata["source_format"] == "official_tf_pickle"


def test_gs_only_pickle(tmp_path):
    data, _ = make_official_pickle(seed=6)
    G, D, Gs = read_official_pickle(_write(tmp_path, data))
    assert (G.name, D.name, Gs.name) == ("G", "D", "Gs")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_code_running_pickle_is_refused(tmp_path):
    path = _write(tmp_path, pickle.dumps(_Evil()))
    with pytest.raises(ValueError, match="refusing to load posix.system|refusing to load os.system"):
        load_network(path)
    # An evil object hidden inside otherwise valid network variables is refused too.
    data, _ = make_official_pickle(seed=7, tamper=lambda nets: nets["D"].append(("4x4/evil", _Evil())))
    with pytest.raises(ValueError, match="refusing to load"):
        load_network(_write(tmp_path, data, "evil2.pkl"))
    # builtins.eval / exec and arbitrary classes are never resolved.
    for module, name in [("builtins", "eval"), ("builtins", "exec"), ("subprocess", "Popen"), ("numpy", "load")]:
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            RestrictedUnpickler(open(path, "rb")).find_class(module, name)


def test_missing_variable_is_a_clear_error(tmp_path):
    def drop(nets):
        nets["Gs"][2][:] = [(k, v) for k, v in nets["Gs"][2] if k != "8x8/Conv1/mod_weight"]
    data, _ = make_official_pickle(seed=8, tamper=drop)
    with pytest.raises(ValueError, match=r"missing variables \['synthesis/8x8/Conv1/mod_weight'\]"):
        load_network(_write(tmp_path, data))


def test_wrong_shape_and_extra_variable_are_clear_errors(tmp_path):
    def reshape(nets):
        s = nets["G"][2]
        s[:] = [(k, v[:, :, :, :-1] if k == "8x8/Conv1/weight" else v) for k, v in s]
    data, _ = make_official_pickle(seed=9, tamper=reshape)
    with pytest.raises(ValueError, match=r"shape mismatch.*synthesis/8x8/Conv1/weight"):
        load_network(_write(tmp_path, data))

    def extra(nets):
        nets["D"].append(("8x8/Mystery/weight", np.zeros(3, np.float32)))
    data, _ = make_official_pickle(seed=9, tamper=extra)
    with pytest.raises(ValueError, match=r"unexpected variables \['8x8/Mystery/weight'\]"):
        load_network(_write(tmp_path, data, "extra.pkl"))


def test_unknown_kwarg_is_a_clear_error(tmp_path):
    data, _ = make_official_pickle(seed=10, extra_g_kwargs={"mystery_knob": 3})
    with pytest.raises(ValueError, match=r"unknown official kwargs \['mystery_knob'\]"):
        load_network(_write(tmp_path, data))
    data, _ = make_official_pickle(seed=10, extra_d_kwargs={"use_spectral_norm": True})
    with pytest.raises(ValueError, match="unsupported use_spectral_norm=True"):
        load_network(_write(tmp_path, data, "sn.pkl"))


def test_not_a_network_pickle(tmp_path):
    with pytest.raises(ValueError, match=r"expected an official pickle holding \(G, D, Gs\)"):
        load_network(_write(tmp_path, pickle.dumps({"a": np.zeros(3)})))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_network(str(tmp_path / "nope.pkl"))


def test_load_network_goes_by_content_not_extension(tmp_path):
    """A snapshot named .pkl and an official pickle named .npz load; anything else is a clear error naming the file
    and the accepted formats."""
    import stylegan2_tf
    from stylegan2_tf import serialization
    data, nets = make_official_pickle(seed=13)
    from_pkl = load_network(_write(tmp_path, data, "official.npz"))                 # a pickle named .npz
    assert from_pkl.metadata["source_format"] == "official_tf_pickle"
    snap = save_network(str(tmp_path / "snap.npz"), G_ema=from_pkl.G_ema, metadata={"kimg": 3})
    os.replace(snap, tmp_path / "snap.pkl")                                          # a snapshot named .pkl
    from_npz = stylegan2_tf.load_network(str(tmp_path / "snap.pkl"))
    assert from_npz.metadata == {"kimg": 3} and from_npz.G is None
    va, vb = network_values(from_pkl.G_ema), network_values(from_npz.G_ema)
    assert va.keys() == vb.keys() and all(np.array_equal(va[k], vb[k]) for k in va)
    assert stylegan2_tf.load_network is serialization.load_network
    for name, content in (("garbage.pkl", b"GIF89a not a network"), ("empty.npz", b""), ("zip.pkl", b"PK\x05\x06")):
        with pytest.raises(ValueError) as err:
            load_network(_write(tmp_path, content, name))
        msg = str(err.value)
        assert name in msg and "stylegan2_tf snapshot" in msg and "official NVIDIA StyleGAN2" in msg, msg
    with pytest.raises(ValueError, match="is a directory"):
        load_network(str(tmp_path))


@pytest.mark.parametrize("label_size,group", [(0, None), (3, 2)])
def test_stylegan2_ada_pickle_matches_official_definition(tmp_path, label_size, group):
    data, nets = make_official_pickle(seed=12, resolution=8, label_size=label_size, variant="ada",
                                      d_mapping_layers=1, extra_d_kwargs={"mbstd_group_size": group},
                                      extra_g_kwargs={"num_fp16_res": 0, "conv_clamp": None})
    snap = load_network(_write(tmp_path, data))
    assert snap.G_ema.mapping.label_embed == "embed" and snap.D.mbstd_group_size == group
    rng = np.random.default_rng(1)
    n = 4
    z = rng.standard_normal((n, 8)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 2, 1, 1]] if label_size else None
    ref = reference_generator(_official_params(nets, "Gs"), z, c).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(snap.G_ema(z, c, noise_mode="const").numpy(), ref, rtol=1e-4,
                               atol=1e-4 * np.abs(ref).max())
    img = rng.standard_normal((n, 8, 8, 3)).astype(np.float32)
    ref_d = reference_discriminator(dict(nets["D"]), img.transpose(0, 3, 1, 2), c=c, group_size=group)
    np.testing.assert_allclose(snap.D(img, c).numpy(), ref_d, rtol=1e-4, atol=1e-4 * np.abs(ref_d).max())
