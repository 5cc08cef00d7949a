"""Imports run one way: no module of the package imports (at any level, lazily included) one that imports it back."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = "stylegan2_tf"


def _modules():
    """Dotted module name -> (source path, is a package __init__)."""
    out = {}
    for path in (ROOT / PKG).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _import_graph():
    """Module -> the package modules its import statements name (module-level and inside functions)."""
    mods = _modules()
    graph = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module
                for a in node.names:   # `from pkg import mod` names the submodule, `from mod import f` the module
                    full = f"{module}.{a.name}"
                    if full in mods:
                        deps.add(full)
                    elif module in mods:
                        deps.add(module)
        deps.discard(name)
        graph[name] = deps
    return graph


def _reaches(graph, start, goal):
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        for d in graph[m]:
            if d == goal:
                return True
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return False


def test_graph_sees_imports():
    g = _import_graph()
    assert "stylegan2_tf.serialization" in g["stylegan2_tf.official_pickle"]
    assert "stylegan2_tf.ops" in g["stylegan2_tf.networks.layers"]          # `from stylegan2_tf.ops import ...`
    assert "stylegan2_tf.networks.generator" in g["stylegan2_tf.serialization"]   # a lazy import in a function


def test_serialization_never_imports_official_pickle():
    g = _import_graph()
    assert not _reaches(g, "stylegan2_tf.serialization", "stylegan2_tf.official_pickle")


def test_no_import_cycles_in_the_package():
    g = _import_graph()
    cycles = sorted(m for m in g if _reaches(g, m, m))
    assert not cycles, f"modules on an import cycle: {cycles}"
