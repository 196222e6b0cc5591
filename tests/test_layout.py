"""The layout's own rules (docs/architecture.md): small modules, functions that fit on a screen,
and a configuration reference that is the configuration model."""

from __future__ import annotations

import ast
from pathlib import Path

from pos import config_model

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("pos", "drivers", "ui", "collector", "sim")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80


def _modules() -> list[Path]:
    return sorted(p for top in PRODUCTION for p in (ROOT / top).rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_no_function_is_over_80_lines() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = n
    assert long == {}


def test_docs_config_md_is_generated_from_the_config_model() -> None:
    assert (ROOT / "docs" / "config.md").read_text() == config_model.markdown(), (
        "run: python -m pos.config_model > docs/config.md"
    )
