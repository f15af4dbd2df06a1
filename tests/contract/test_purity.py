# SPDX-License-Identifier: Apache-2.0
"""protocols/contract is pure: standard library only, no clock, no randomness, no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import protocols.contract

PACKAGE = Path(protocols.contract.__file__).parent
ALLOWED_IMPORTS = {"__future__", "dataclasses", "datetime", "enum", "fractions", "json", "math",
                   "re", "typing", "protocols"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "urandom",
                   "random", "randbytes", "token_bytes", "uuid1", "uuid4", "open", "print"}


def test_only_the_standard_library_and_no_clock_or_randomness() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                roots = set()
            assert roots <= ALLOWED_IMPORTS, (path.name, roots - ALLOWED_IMPORTS)
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in FORBIDDEN_CALLS, (path.name, node.lineno, name)


def test_the_package_exports_what_it_lists() -> None:
    for name in protocols.contract.__all__:
        assert hasattr(protocols.contract, name), name
    assert sorted(protocols.contract.__all__) == sorted(set(protocols.contract.__all__))
