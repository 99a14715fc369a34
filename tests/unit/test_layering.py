"""Layering of the source tree, read with `ast` (nothing is imported to find the imports).

- a service imports no other service: a module under services/<x>/ imports no services.<y>;
- core/ imports no services, titan or shared, and no module that does I/O;
- shared/ imports no services or titan;
- services and titan use core through its stated API: `from core.<pkg> import <name>` with
  <name> in core.<pkg>.__all__ (no core.<pkg>.<module> paths; tests and benches may).
Every import counts, also those inside functions or under `if TYPE_CHECKING:`, and
`importlib.import_module("...")` / `__import__("...")` with a constant name.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE_PACKAGES = ("cointegration", "portfolio", "regime", "strategy")
# Top-level modules core may not import: I/O, processes, the event loop, the network.
IO_MODULES = frozenset(
    {
        "aiokafka",
        "asyncio",
        "asyncpg",
        "fastapi",
        "httpx",
        "os",
        "pathlib",
        "psutil",
        "shutil",
        "socket",
        "starlette",
        "subprocess",
        "urllib",
        "uvicorn",
        "websockets",
    }
)


@dataclass(frozen=True)
class Import:
    path: Path  # relative to the root it was read from
    line: int
    module: str  # absolute dotted name imported
    names: tuple[str, ...]  # for `from module import a, b`; () for `import module`

    def __str__(self) -> str:
        names = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.path}:{self.line}: {self.module}{names}"


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every module `path` imports, as absolute dotted names (relative imports resolved)."""
    rel = path.relative_to(root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
    package = module_name(rel).split(".")
    if rel.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = tuple(alias.name for alias in node.names)
            yield Import(rel, node.lineno, module, names)
            # `from services import pairs` imports services.pairs
            for name in names:
                if name != "*":
                    yield Import(rel, node.lineno, f"{module}.{name}", ())
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield Import(rel, node.lineno, arg.value, ())


def _dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in {"import_module", "__import__"} and bool(node.args)


def sources(root: Path, top: str) -> list[Path]:
    return sorted(p for p in (root / top).rglob("*.py") if "__pycache__" not in p.parts)


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def cross_service_imports(root: Path) -> list[Import]:
    bad: list[Import] = []
    for path in sources(root, "services"):
        parts = path.relative_to(root / "services").parts
        if len(parts) < 2:  # services/__init__.py
            continue
        own = f"services.{parts[0]}"
        bad.extend(
            imp
            for imp in imports_of(root, path)
            if imp.module.startswith("services.") and not is_under(imp.module, own)
        )
    return bad


def core_violations(root: Path) -> list[Import]:
    return [
        imp
        for path in sources(root, "core")
        for imp in imports_of(root, path)
        if any(is_under(imp.module, top) for top in ("services", "titan", "shared"))
        or imp.module.split(".")[0] in IO_MODULES
    ]


def shared_violations(root: Path) -> list[Import]:
    return [
        imp
        for path in sources(root, "shared")
        for imp in imports_of(root, path)
        if is_under(imp.module, "services") or is_under(imp.module, "titan")
    ]


def core_api_violations(root: Path) -> list[Import]:
    """Imports of core from services/titan that bypass a subpackage's `__all__`."""
    public = {pkg: set(importlib.import_module(f"core.{pkg}").__all__) for pkg in CORE_PACKAGES}
    bad: list[Import] = []
    for top in ("services", "titan"):
        for path in sources(root, top):
            for imp in imports_of(root, path):
                if not is_under(imp.module, "core"):
                    continue
                parts = imp.module.split(".")
                if imp.names and len(parts) == 2 and parts[1] in public:
                    if set(imp.names) <= public[parts[1]]:
                        continue
                    bad.append(imp)
                elif imp.names or len(parts) != 3 or parts[1] not in public:
                    bad.append(imp)  # `import core...` or `from core.<pkg>.<module> import`
                elif parts[2] not in public[parts[1]]:
                    bad.append(imp)  # the synthetic core.<pkg>.<name> of a from-import
    return bad


def _report(bad: list[Import]) -> str:
    return "\n".join(str(imp) for imp in bad)


def test_the_tree_is_read() -> None:
    for top in ("core", "services", "shared", "titan"):
        assert len(sources(ROOT, top)) > 3, top
    some = {imp.module for imp in imports_of(ROOT, ROOT / "services/backtest/domain/regimes.py")}
    assert "core.regime" in some


def test_no_service_imports_another_service() -> None:
    bad = cross_service_imports(ROOT)
    assert not bad, "a service imports another service's modules:\n" + _report(bad)


def test_core_imports_no_service_titan_shared_or_io() -> None:
    bad = core_violations(ROOT)
    assert not bad, "core must stay pure (no services/titan/shared, no I/O):\n" + _report(bad)


def test_shared_imports_no_service_or_titan() -> None:
    bad = shared_violations(ROOT)
    assert not bad, "shared imports a service or titan:\n" + _report(bad)


def test_services_use_core_through_its_public_api() -> None:
    bad = core_api_violations(ROOT)
    assert not bad, "import these from core.<pkg> (add to its __all__ if public):\n" + _report(bad)


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_public_names_exist(package: str) -> None:
    module = importlib.import_module(f"core.{package}")
    assert module.__all__, package
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, missing


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_checks_catch_violations(tmp_path: Path) -> None:
    _write(tmp_path, "services/__init__.py", "")
    _write(tmp_path, "services/a/__init__.py", "from services.a.x import y\n")
    _write(tmp_path, "services/a/m.py", "from ..b import z\nfrom services import b\n")
    _write(tmp_path, "services/a/n.py", "def f():\n    import services.b.q\n")
    _write(tmp_path, "services/a/o.py", "import importlib\nimportlib.import_module('services.b')\n")
    _write(tmp_path, "services/b/__init__.py", "from . import q\n")
    _write(tmp_path, "core/k.py", "import httpx\nfrom titan import cli\nfrom shared.x import y\n")
    _write(tmp_path, "shared/s.py", "from services.a import m\n")
    cross = sorted((str(i.path), i.line, i.module) for i in cross_service_imports(tmp_path))
    assert cross == [
        ("services/a/m.py", 1, "services.b"),
        ("services/a/m.py", 1, "services.b.z"),
        ("services/a/m.py", 2, "services.b"),
        ("services/a/n.py", 2, "services.b.q"),
        ("services/a/o.py", 2, "services.b"),
    ]
    core = {imp.module for imp in core_violations(tmp_path)}
    assert core == {"httpx", "titan", "titan.cli", "shared.x", "shared.x.y"}
    assert {imp.module for imp in shared_violations(tmp_path)} == {
        "services.a",
        "services.a.m",
    }


def test_the_api_check_catches_private_paths(tmp_path: Path) -> None:
    _write(tmp_path, "services/a/ok.py", "from core.regime import ScopeTracker\n")
    _write(tmp_path, "services/a/deep.py", "from core.regime.tracker import ScopeTracker\n")
    _write(tmp_path, "titan/private.py", "from core.strategy import _not_public\n")
    _write(tmp_path, "titan/plain.py", "import core.cointegration.hedge\n")
    bad = {str(imp.path) for imp in core_api_violations(tmp_path)}
    assert bad == {"services/a/deep.py", "titan/private.py", "titan/plain.py"}
