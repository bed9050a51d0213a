"""The package's import graph: no cycles, and no module imports one of a higher layer.

The layers are documented in ``sapnet_ros/__init__.py``; this test reads them
from ``LAYERS`` there and every ``import`` of the package (``TYPE_CHECKING``
blocks and imports inside functions included) from the source.
"""

import ast
from pathlib import Path

import sapnet_ros

PACKAGE_DIR = Path(sapnet_ros.__file__).parent


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path, package_dir: Path = PACKAGE_DIR) -> set[str]:
    name = module_name(path, package_dir)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("sapnet_ros.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            if base.startswith("sapnet_ros"):
                found |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    return found


def layer_of(module: str) -> int:
    """Index in ``sapnet_ros.LAYERS`` of the most specific entry that names ``module`` or a package above it."""
    best = None
    for index, layer in enumerate(sapnet_ros.LAYERS):
        for entry in layer:
            full = f"sapnet_ros.{entry}"
            if (module == full or module.startswith(full + ".")) and (best is None or len(full) > best[1]):
                best = (index, len(full))
    assert best is not None, f"{module} is in no layer of sapnet_ros.LAYERS"
    return best[0]


def graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    modules = {module_name(path, package_dir): path for path in package_dir.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = set()
        for target in project_imports(path, package_dir):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target not in (name, "sapnet_ros"):
                targets.add(target)
        edges[name] = targets
    return edges


def test_every_module_has_a_layer():
    for module in graph():
        if module != "sapnet_ros":
            layer_of(module)


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in edges.items()
        if module != "sapnet_ros"
        for target in targets
        if layer_of(target) > layer_of(module)
    ]


def test_no_module_imports_a_higher_layer():
    assert upward_imports(graph()) == []


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_layer_check_sees_upward_imports(tmp_path):
    """The check itself can fail: a leaf that imports the node (relatively, inside a function) is caught."""
    package = tmp_path / "sapnet_ros"
    (package / "ros").mkdir(parents=True)
    for name in ("__init__.py", "ros/__init__.py", "ros/node.py"):
        (package / name).write_text("")
    (package / "frames.py").write_text("def late():\n    from .ros import node\n")
    assert "sapnet_ros.frames (layer 0) imports sapnet_ros.ros.node (layer 6)" in upward_imports(graph(package))
