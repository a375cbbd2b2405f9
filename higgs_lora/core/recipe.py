"""The recipe schema: one typed model per TOML table, validated before any heavy work starts.

`load_recipe` reads a TOML file, applies dotted overrides (``train.max_steps=10``) and reports every
problem at once, each with the file, line, ``[table] key``, what was found and what is allowed.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from higgs_lora.core.errors import RecipeError
from higgs_lora.core.schema import (
    DataConfig,
    EvalConfig,
    LoraConfig,
    ModelConfig,
    Recipe,
    SamplesConfig,
    TrainConfig,
)


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and validate a recipe; `overrides` maps dotted keys (``"train.max_steps"``) to values."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found.")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"{path}: not valid TOML: {err}. Check quotes, brackets and '=' there.") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    return validate_recipe(raw, path, text)


def validate_recipe(raw: dict[str, Any], path: Path, text: str | None = None) -> Recipe:
    """A recipe already parsed from `path` (its `text`, when known, gives errors their line numbers)."""
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as err:
        lines = text if text is not None else path.read_text(encoding="utf-8") if path.is_file() else ""
        problems = [_describe(error, raw, lines, path) for error in err.errors()]
        raise RecipeError("\n".join(problems)) from None
    recipe.source = path.resolve()
    return recipe


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *tables, key = dotted.split(".")
    node = raw
    for table in tables:
        node = node.setdefault(table, {})
    node[key] = value


_TABLE_MODELS: dict[str, type[BaseModel]] = {
    "model": ModelConfig,
    "lora": LoraConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "samples": SamplesConfig,
    "eval": EvalConfig,
}


def _describe(error: dict[str, Any], raw: dict[str, Any], text: str, path: Path) -> str:
    """One pydantic error as `file:line [table] key = value: what is wrong (what to do)`."""
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    table, key = (loc[0], loc[1]) if len(loc) >= 2 else (None, loc[0] if loc else None)
    if table is None and key in _TABLE_MODELS and error["type"] != "missing":
        table, key = key, None
    where = f"{path}:{_line_of(text, table, key)}" if _line_of(text, table, key) else str(path)
    section = f"[{table}]" if table else "(top level)"
    if error["type"] == "extra_forbidden":
        fields = _TABLE_MODELS[table].model_fields if table in _TABLE_MODELS else Recipe.model_fields
        allowed = [name for name in fields if name != "source"]
        hint = difflib.get_close_matches(key or "", allowed, n=1)
        suggestion = f' Did you mean "{hint[0]}"?' if hint else f" Allowed: {', '.join(allowed)}."
        return f'{where} {section}: unknown key "{key}".{suggestion}'
    if error["type"] == "missing":
        return f'{where} {section}: required key "{key}" is missing.'
    message = str(error["msg"]).removeprefix("Value error, ")
    if key is None:
        return f"{where} {section}: {message}."
    value = raw.get(table, {}).get(key) if table else raw.get(key)
    return f"{where} {section} {key} = {value!r}: {message}."


def _line_of(text: str, table: str | None, key: str | None) -> int | None:
    """Line number of `key` in `[table]` (or of the table header), for error messages."""
    current: str | None = None
    header_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[([^\[\]]+)\]", stripped)
        if header:
            current = header.group(1).strip()
            if current == table:
                header_line = number
            continue
        if key and current == table and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return header_line


def recipe_toml(recipe: Recipe) -> str:
    """The validated recipe as TOML (what was actually used, saved beside the adapter)."""
    return _dump_toml(recipe.model_dump(exclude_none=True, exclude={"source"}))


def _dump_toml(data: dict[str, Any]) -> str:
    """Minimal TOML writer for the recipe's flat tables (tomllib reads, it does not write)."""
    top = [f"{key} = {_toml_value(value)}" for key, value in data.items() if not isinstance(value, dict)]
    tables = [
        "\n".join([f"[{name}]"] + [f"{key} = {_toml_value(value)}" for key, value in table.items()])
        for name, table in data.items()
        if isinstance(table, dict)
    ]
    return "\n\n".join(["\n".join(top), *tables]) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
