# SPDX-License-Identifier: Apache-2.0
"""Where each heavy framework may be imported inside edge_service/ (DESIGN.md "Layers").

import-linter checks the layers between packages; this walks every module's imports to check
the finer rule: sqlite only in the store, paho in exactly one module, FastAPI only in the API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "edge_service"

ALLOWED: dict[str, tuple[str, ...]] = {
    "sqlite3": ("store/",),
    "sqlite_utils": ("store/",),
    "paho": ("sync/mqtt_client.py",),
    "fastapi": ("api/",),
    "starlette": ("api/",),
    "uvicorn": ("api/", "daemon"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_frameworks_stay_in_their_module(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    for framework, places in ALLOWED.items():
        if framework in _imports(path):
            assert relative.startswith(places), f"{relative} imports {framework}"


def test_the_walk_sees_the_store() -> None:
    assert any("sqlite3" in _imports(p) for p in MODULES if "store" in str(p))


LOWER_LAYERS = ("protocols", "firmware_bridge")
REPO = ROOT.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_lower_layers_are_used_through_their_public_packages(path: Path) -> None:
    """DESIGN.md: edge_service imports protocols/ and firmware_bridge/ through their public
    ``__init__`` APIs, so what it may use is exactly what a package re-exports."""
    for module in _imported_modules(path):
        if module.split(".")[0] not in LOWER_LAYERS:
            continue
        target = REPO.joinpath(*module.split("."))
        assert (target / "__init__.py").is_file(), (
            f"{path.relative_to(ROOT)} imports the private module {module}; "
            "import it from its package instead"
        )
