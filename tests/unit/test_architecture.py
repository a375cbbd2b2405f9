"""The house rules of docs/architecture.md, checked on the code itself: layers that import only downward
(the import-linter contract in pyproject.toml), no import circles, one job per module."""

from __future__ import annotations

import grimp
import pytest

from tests.helpers import REPO

MAX_LINES = 400  # a module past this is telling you it holds two jobs


def test_the_layers_import_only_downward(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlinter.cli import lint_imports

    monkeypatch.chdir(REPO)
    assert lint_imports(no_cache=True) == 0, "lint-imports: an import runs up a layer (see its report above)"


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("higgs_lora", include_external_packages=False)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert edges["higgs_lora.cli"], "the graph was read (the CLI imports something)"
    assert _circles(edges) == []


def test_no_module_outgrows_one_job() -> None:
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in (REPO / "higgs_lora").rglob("*.py")
    }
    assert {path: lines for path, lines in sizes.items() if lines > MAX_LINES} == {}


def test_the_recipe_schema_knows_no_backend() -> None:
    """One TOML validates the same in every environment: what is installed is asked when a command runs."""
    graph = grimp.build_graph("higgs_lora", include_external_packages=False)
    for module in ("higgs_lora.core.schema", "higgs_lora.core.recipe"):
        assert not graph.chain_exists(module, "higgs_lora.backends", as_packages=True), module


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(edges[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_part_of_the_package_stands_on_a_layer() -> None:
    """A new module or package outside the contract would escape it: each has to be given its layer."""
    import tomllib

    contract = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layered = {name.strip() for layer in contract["contracts"][0]["layers"] for name in layer.split(":")}
    parts = {
        f"higgs_lora.{path.stem if path.is_file() else path.name}"
        for path in (REPO / "higgs_lora").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }
    assert parts - layered == set()
