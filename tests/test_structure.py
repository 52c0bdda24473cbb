"""Rules about the code itself that the import contract cannot express."""

from __future__ import annotations

import ast
from pathlib import Path

import hermes_dash

PACKAGE = Path(hermes_dash.__file__).parent


def _is_pilot(module: str) -> bool:
    return module == "textual.pilot" or module.startswith("textual.pilot.")


def pilot_imports(source: str) -> list[int]:
    """The lines of ``source`` that import ``textual.pilot`` in any spelling."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        if any(_is_pilot(name) for name in names):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_check_sees_every_spelling_of_the_import() -> None:
    assert pilot_imports("from textual.pilot import Pilot") == [1]
    assert pilot_imports("import os\nimport textual.pilot as p") == [2]
    assert pilot_imports("def f():\n    from textual import app, pilot") == [2]
    assert pilot_imports("from textual.app import App\nimport textual") == []


def test_no_module_of_the_product_imports_textual_pilot() -> None:
    # Pilot drives an app for tests and screenshots (tests/frozen.py); the product never
    # does. import-linter cannot forbid a submodule of an external package, hence this.
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50  # the whole package, not an empty folder
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in modules
        if (lines := pilot_imports(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_no_two_modules_of_the_interface_import_each_other() -> None:
    import grimp  # import-linter's own graph builder

    # Imports for annotations only (under TYPE_CHECKING) never run: not a cycle.
    graph = grimp.build_graph("hermes_dash", exclude_type_checking_imports=True, cache_dir=None)
    tui = sorted(m for m in graph.modules if m.startswith("hermes_dash.tui"))
    assert "hermes_dash.tui.widgets.plot" in tui
    assert "hermes_dash.tui.widgets.plot" in graph.find_modules_directly_imported_by(
        "hermes_dash.tui.widgets.charts"
    )  # the chart loads its picture when armed; the picture knows nothing of the chart
    cycles = [
        (a, b)
        for a in tui
        for b in graph.find_modules_directly_imported_by(a)
        if a < b and a in graph.find_modules_directly_imported_by(b)
    ]
    assert cycles == []


def test_the_recorder_plugin_has_the_packages_version() -> None:
    # `plugin status` compares the installed plugin.yaml's version with __version__: a
    # release that bumps one and not the other would report every install as outdated.
    import yaml

    manifest = yaml.safe_load((PACKAGE / "calllog" / "recorder" / "plugin.yaml").read_text())
    assert manifest["version"] == hermes_dash.__version__
