"""The folders are layers: core and db never reach for Flask, no module imports
one above its layer, and there is no import cycle. (No line count splits a
module: a module holds one concept.)"""

import ast
import subprocess
import sys
from pathlib import Path

import linksvc

PACKAGE = Path(linksvc.__file__).parent
#: Each layer may import from itself and the layers listed after it.
LAYERS = ["cli", "app", "web", "rules", "db", "core"]
RULES = {
    "access",
    "accounts",
    "delivery",
    "editing",
    "links",
    "mailing",
    "notices",
    "passwords",
    "policy",
    "sharing",
    "services",
    "config",
}
#: The composition root: create_app builds the parts and registers the web.
APP = {"__init__", "serve"}


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
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top == "__main__":
        return "cli"
    if top in APP:
        return "app"
    return "rules" if top in RULES else top


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


def test_core_and_db_import_without_flask():
    code = """
import importlib, pkgutil, sys
class NoFlask:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('flask', 'flask_login', 'flask_wtf', 'flask_limiter'):
            raise ImportError('Flask is not allowed in ' + name)
sys.meta_path.insert(0, NoFlask())
import linksvc.core, linksvc.db
for pkg in (linksvc.core, linksvc.db):
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(pkg.__name__ + '.' + info.name)
assert not any(m.split('.')[0] == 'flask' for m in sys.modules), 'flask imported'
print('ok')
"""
    # linksvc/__init__.py imports Flask; load the subpackages without it.
    code = code.replace(
        "import linksvc.core, linksvc.db",
        "import types, importlib.util\n"
        f"pkg = types.ModuleType('linksvc'); pkg.__path__ = [{str(PACKAGE)!r}]\n"
        "sys.modules['linksvc'] = pkg\n"
        "import linksvc.core, linksvc.db",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip() == "ok", result.stderr


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
