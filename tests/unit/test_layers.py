"""The packages are layers: pure modules do no I/O, nothing below the web
reaches for Flask, no module imports one above its layer, and there is no
import cycle. (No line count splits a module: a module holds one concept.)"""

import ast
import subprocess
import sys
from pathlib import Path

import linksvc

PACKAGE = Path(linksvc.__file__).parent
#: Each layer may import from itself and the layers listed after it: the
#: adapters, the composition root, the features (which may use each other,
#: without a cycle), the store, the parts that touch the system, pure rules.
LAYERS = ["cli", "app", "web", "features", "db", "system", "core"]
#: (metrics and logs listen to the audit, a part of the store.)
FEATURES = {"links", "accounts", "notify", "services", "backups", "metrics", "logs"}
#: Files, key files, the limiter's storage and the settings file.
SYSTEM = {"files", "keys", "throttle", "config", "directory"}
#: The composition root: create_app builds the parts and registers the web.
APP = {"__init__", "app", "serve"}
#: What is called pure: no I/O, no threads, no Flask, no database.
PURE = {"linksvc.links.options"}
#: What a pure module may not import (directly; its imports of ours are
#: pure by the same test).
IMPURE = {
    "os",
    "io",
    "socket",
    "threading",
    "subprocess",
    "pathlib",
    "shutil",
    "smtplib",
    "http",
    "urllib",
    "flask",
    "flask_login",
    "flask_wtf",
    "sqlalchemy",
    "limits",
    "gevent",
    "gunicorn",
}


def modules() -> dict[str, Path]:
    """Every module of ours by its full name (a package by its own name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = ["linksvc", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer(module: str) -> str:
    if module in PURE:
        return "core"  # pure, wherever its feature keeps it
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top in ("__main__", "healthcheck"):
        return "cli"  # entry points of their own
    if top in APP:
        return "app"
    if top in FEATURES:
        return "features"
    return "system" if top in SYSTEM else top


def pure(module: str) -> bool:
    return layer(module) == "core"


def _runtime_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:``."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.If)
                and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"
            ):
                pending.extend(child.orelse)
                continue
            pending.append(child)


def imports(module: str, path: Path) -> set[str]:
    """Modules of ours that ``module`` imports anywhere it runs: at the top
    and inside functions (not under TYPE_CHECKING, which never runs)."""
    known = modules()
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("linksvc"))
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.startswith("linksvc"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    found.add(candidate if candidate in known else node.module)
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
    return {name for name in found if name in known and name != module}


def test_below_the_web_nothing_imports_flask():
    """``import linksvc.core`` (or the store, the files, the link rules) in a
    process where Flask cannot be imported at all."""
    code = """
import importlib, pkgutil, sys
class NoFlask:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('flask', 'flask_login', 'flask_wtf', 'flask_limiter'):
            raise ImportError('Flask is not allowed in ' + name)
sys.meta_path.insert(0, NoFlask())
import linksvc, linksvc.core, linksvc.db, linksvc.files, linksvc.links.options
for pkg in (linksvc.core, linksvc.db, linksvc.files):
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(pkg.__name__ + '.' + info.name)
assert not any(m.split('.')[0] == 'flask' for m in sys.modules), 'flask imported'
print('ok')
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent
    )
    assert result.stdout.strip() == "ok", result.stderr


def _outside_names(node: ast.AST) -> list[str]:
    """The modules an import statement names by absolute name."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        return [node.module]
    return []


def test_the_store_is_the_only_door_to_the_database():
    """No SQL outside db/ (sqlalchemy.exc only names errors), and no engine
    handed out: services.py builds the parts from it, nothing else reads it."""
    for module, path in modules().items():
        if layer(module) == "db":
            continue
        tree = ast.parse(path.read_text())
        for node in _runtime_nodes(tree):
            for name in _outside_names(node):
                if name.startswith("sqlalchemy"):
                    assert name == "sqlalchemy.exc", f"{module} imports {name}"
            if isinstance(node, ast.Attribute) and node.attr == "engine":
                assert module == "linksvc.services", f"{module} reads .engine"


def test_work_goes_to_real_threads_in_two_places_only():
    """offload() (the gevent/thread hand-off) is called by the files (walks,
    CRCs), by the store (statements, hashes) and by the LDAP client (a C
    library that blocks its thread), not by the features."""
    for module, path in modules().items():
        if module.split(".")[1:2] in (["files"], ["db"], ["directory"]):
            continue
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else None
                name = func.id if isinstance(func, ast.Name) else name
                assert name != "offload", f"{module} calls offload()"


def test_the_two_adapters_never_reach_into_each_other():
    """cli/ and web/ are thin and apart: a command is not a view's helper."""
    found = modules()
    for module, path in found.items():
        side = layer(module)
        if side in ("cli", "web"):
            other = "web" if side == "cli" else "cli"
            for target in imports(module, path):
                assert layer(target) != other, f"{module} imports {target}"


def test_every_module_has_a_layer():
    for module in modules():
        assert layer(module) in LAYERS, module


def test_pure_modules_do_no_io():
    """No module of theirs touches the system, and they import only pure
    modules of ours: ``import linksvc.core`` is safe in any process."""
    found = modules()
    for module in (m for m in found if pure(m)):
        tree = ast.parse(found[module].read_text())
        for node in _runtime_nodes(tree):
            for name in _outside_names(node):
                assert name.split(".")[0] not in IMPURE, f"{module} imports {name}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", f"{module} opens a file"
        for target in imports(module, found[module]):
            assert pure(target), f"{module} (pure) imports {target}"


def test_no_module_imports_from_a_layer_above_it():
    for module, path in modules().items():
        mine = LAYERS.index(layer(module))
        for target in imports(module, path):
            theirs = LAYERS.index(layer(target))
            assert theirs >= mine, f"{module} imports {target}"


def test_there_is_no_import_cycle():
    graph = {m: imports(m, p) for m, p in modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])
