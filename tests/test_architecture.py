"""How the apps depend on each other: one way only, and no import cycle between files.

The rules (DESIGN.md, README "Events"): the ledger imports no other app; the
domain apps below bots, deriv and realtime never import those; no domain app
imports realtime (it listens to their signals and pushes); and no two modules
import each other at load time, directly or around a loop.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"

# Apps that may only be imported by the apps above them.
HIGHER = ("apps.bots", "apps.deriv", "apps.exchanges", "apps.realtime")
LOWER = ("ledger", "markets", "trading", "revenue", "billing", "accounts", "notifications", "audit", "users", "common")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if path.name == "__init__.py" else parts)


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Modules `path` imports (relative imports resolved): anywhere in it, or only at load time."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


def sources(app: str = "") -> list[Path]:
    return sorted(p for p in (APPS / app).rglob("*.py") if "migrations" not in p.parts)


def offending(app: str, forbidden: tuple[str, ...]) -> set[str]:
    return {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sources(app)
        for module in imports(path)
        if module.startswith(forbidden)
    }


def test_the_ledger_imports_no_other_app():
    others = tuple(f"apps.{p.name}" for p in APPS.iterdir() if p.is_dir() and p.name not in ("ledger", "common"))
    assert offending("ledger", others) == set()


@pytest.mark.parametrize("app", LOWER)
def test_lower_apps_never_import_bots_deriv_exchanges_or_realtime(app):
    assert offending(app, HIGHER) == set()


@pytest.mark.parametrize("app", ["bots", "deriv"])
def test_bots_and_deriv_never_import_exchanges(app):
    """Spot exchanges build on the bots' engine and kill switches; nothing below them reaches up."""
    assert offending(app, ("apps.exchanges",)) == set()


@pytest.mark.parametrize("app", ["bots", "deriv", "exchanges"])
def test_domain_apps_tell_realtime_through_signals_only(app):
    assert offending(app, ("apps.realtime",)) == set()


def test_no_two_modules_import_each_other_at_load_time():
    modules = {module_name(path): path for path in sources()}
    graph = {
        name: {m for m in imports(path, top_level_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    cycles, done, stack = [], set(), []

    def visit(name: str) -> None:
        stack.append(name)
        for target in sorted(graph[name]):
            if target in stack:
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in done:
                visit(target)
        stack.pop()
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name)
    assert cycles == []


def test_the_checks_see_lazy_relative_and_load_time_imports(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_architecture.ROOT", tmp_path)
    module = tmp_path / "apps" / "trading" / "services" / "purchase.py"
    module.parent.mkdir(parents=True)
    module.write_text("from ..models import Contract\ndef f():\n    from apps.deriv import gateway\n")
    assert {"apps.trading.models", "apps.deriv.gateway"} <= imports(module)
    assert "apps.deriv.gateway" not in imports(module, top_level_only=True)
