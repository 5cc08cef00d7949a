"""The generation tools, run on networks freshly imported (tools/import_official.py) from synthetic official pickles."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from PIL import Image  # noqa: E402

from official_format import make_growing_pickle, make_official_pickle, reference_v1_generator  # noqa: E402
from stylegan2_tf.cli_utils import parse_int_list, parse_seeds  # noqa: E402
from stylegan2_tf.serialization import load_network  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """(rgb snapshot path, grayscale snapshot path), each written by tools/import_official.py from a fresh pickle."""
    d = tmp_path_factory.mktemp("nets")
    out = []
    for name, channels in (("rgb", 3), ("gray", 1)):
        data, _ = make_official_pickle(seed=11, resolution=16, num_channels=channels, fmap_base=64, fmap_max=8)
        (d / f"{name}.pkl").write_bytes(data)
        out.append(str(d / f"{name}.npz"))
    r = _run("tools/import_official.py", "--pkl", str(d / "rgb.pkl"), "--out", str(d))
    assert r.returncode == 0, r.stderr
    assert os.path.exists(out[0]) and "16x16x3" in r.stdout
    assert _tool("import_official").main(["--pkl", str(d / "gray.pkl"), "--out", out[1]]) == 0
    return out


def _expected_images(path, seeds, psi=1.0, cutoff=None):
    G = load_network(path).G_ema
    z = np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds]).astype(np.float32)
    x = G(z, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const").numpy()
    return np.clip(x * 127.5 + 128, 0, 255).astype(np.uint8)


def test_parse_lists():
    assert parse_int_list("0-3,10") == [0, 1, 2, 3, 10]
    assert parse_seeds(" 5 ,7-8") == [5, 7, 8]
    for bad in ("", "a", "3-1", "1,,2"):
        with pytest.raises(ValueError):
            parse_int_list(bad)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        parse_seeds("-1")


def test_generate_cli(nets, tmp_path):
    r = _run("tools/generate.py", "--network", nets[0], "--seeds", "0-3,10", "--trunc", "0.5", "--trunc-cutoff", "2",
             "--noise-mode", "const", "--outdir", str(tmp_path), "--grid")
    assert r.returncode == 0, r.stderr
    names = ["seed0000.png", "seed0001.png", "seed0002.png", "seed0003.png", "seed0010.png"]
    assert sorted(os.listdir(tmp_path)) == sorted(names + ["grid.png"])
    expected = _expected_images(nets[0], [0, 1, 2, 3, 10], psi=0.5, cutoff=2)
    for name, exp in zip(names, expected):
        img = Image.open(tmp_path / name)
        assert img.mode == "RGB" and img.size == (16, 16)
        np.testing.assert_array_equal(np.asarray(img), exp)
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (32, 48, 3)  # 5 images -> 3 columns x 2 rows
    np.testing.assert_array_equal(grid[16:32, 0:16], expected[3])


def test_generate_grayscale_and_errors(nets, tmp_path, capsys):
    gen = _tool("generate")
    assert gen.main(["--network", nets[1], "--seeds", "7", "--outdir", str(tmp_path)]) == 0
    img = Image.open(tmp_path / "seed0007.png")
    assert img.mode == "L" and img.size == (16, 16)
    np.testing.assert_array_equal(np.asarray(img), _expected_images(nets[1], [7])[0, :, :, 0])
    assert gen.main(["--network", nets[1], "--seeds", "x-y", "--outdir", str(tmp_path)]) == 2
    assert "cannot parse" in capsys.readouterr().err
    assert gen.main(["--network", str(tmp_path / "none.npz"), "--seeds", "1", "--outdir", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    r = _run("tools/generate.py", "--help")
    assert r.returncode == 0 and "--trunc-cutoff" in r.stdout and "RandomState" in r.stdout


def test_style_mixing(nets, tmp_path, capsys):
    tool = _tool("style_mixing")
    assert tool.main(["--network", nets[0], "--rows", "85,100,75", "--cols", "55,821", "--styles", "0-2",
                      "--trunc", "1", "--outdir", str(tmp_path)]) == 0
    files = set(os.listdir(tmp_path))
    expected_files = {f"{r}-{c}.png" for r in (85, 100, 75) for c in (55, 821)}
    expected_files |= {f"{s}-{s}.png" for s in (85, 100, 75, 55, 821)} | {"grid.png"}
    assert files == expected_files
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (4 * 16, 3 * 16, 3)
    # Cell (row 100, col 821) = synthesis of w(100) with layers 0-2 from w(821).
    G = load_network(nets[0]).G_ema
    ws = G.mapping(np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in (100, 821)])).numpy()
    w = ws[0].copy()
    w[0:3] = ws[1][0:3]
    exp = np.clip(G.synthesis(w[None], noise_mode="const").numpy()[0] * 127.5 + 128, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "100-821.png")), exp)
    np.testing.assert_array_equal(grid[2 * 16:3 * 16, 2 * 16:3 * 16], exp)
    np.testing.assert_array_equal(grid[0:16, 16:32], np.asarray(Image.open(tmp_path / "55-55.png")))
    assert tool.main(["--network", nets[0], "--rows", "1", "--cols", "2", "--styles", "0-9",
                      "--outdir", str(tmp_path)]) == 2
    assert "style layers must be in [0, 6)" in capsys.readouterr().err


def test_interpolate(nets, tmp_path):
    tool = _tool("interpolate")
    out = tmp_path / "anim.gif"
    assert tool.main(["--network", nets[1], "--seeds", "1,2,3", "--frames", "7", "--out", str(out)]) == 0
    gif = Image.open(out)
    assert gif.n_frames == 7 and gif.size == (16, 16)
    # Endpoints are the seeds' own images (grayscale GIF frames are lossless).
    first = np.asarray(gif.convert("L"))
    np.testing.assert_array_equal(first, _expected_images(nets[1], [1])[0, :, :, 0])
    gif.seek(6)
    np.testing.assert_array_equal(np.asarray(gif.convert("L")), _expected_images(nets[1], [3])[0, :, :, 0])
    assert tool.path_weights(3, 5, loop=False) == [(0, 1, 0.0), (0, 1, 0.5), (1, 2, 0.0), (1, 2, 0.5), (1, 2, 1.0)]
    assert tool.path_weights(2, 4, loop=True) == [(0, 1, 0.0), (0, 1, 0.5), (1, 0, 0.0), (1, 0, 0.5)]
    assert tool.main(["--network", nets[1], "--seeds", "1", "--out", str(out)]) == 2


def test_generate_on_imported_stylegan1_pickle(tmp_path, capsys):
    """StyleGAN (v1) G_style pickle -> import_official.py -> generate.py with NVIDIA's baked-in truncation passed as
    flags: the PNGs are the numpy statement of the official network (within one uint8 level of float rounding)."""
    data, nets = make_growing_pickle("stylegan1", seed=21, resolution=16)
    (tmp_path / "v1.pkl").write_bytes(data)
    npz = str(tmp_path / "v1.npz")
    assert _tool("import_official").main(["--pkl", str(tmp_path / "v1.pkl"), "--out", npz]) == 0
    assert "--trunc 0.7 --trunc-cutoff 8" in capsys.readouterr().out
    params = dict(nets["Gs"][0])
    params.update({f"mapping/{k}": v for k, v in nets["Gs"][1]})
    params.update({f"synthesis/{k}": v for k, v in nets["Gs"][2]})
    z = np.concatenate([np.random.RandomState(s).randn(1, 8) for s in (0, 1, 2)])
    ref = reference_v1_generator(params, z, psi=0.7, cutoff=4).transpose(0, 2, 3, 1)
    ref = np.clip(ref * 127.5 + 128, 0, 255).astype(np.uint8)
    for network in (npz, str(tmp_path / "v1.pkl")):
        out = tmp_path / os.path.basename(network).replace(".", "_")
        assert _tool("generate").main(["--network", network, "--seeds", "0-2", "--trunc", "0.7", "--trunc-cutoff",
                                       "4", "--outdir", str(out)]) == 0
        for i, s in enumerate((0, 1, 2)):
            img = np.asarray(Image.open(out / f"seed{s:04d}.png"))
            assert img.shape == (16, 16, 3)
            assert np.abs(img.astype(int) - ref[i]).max() <= 1
