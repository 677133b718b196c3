"""Funnels: ordered page steps within a session, read from a YAML file (reference/funnels.yml by
default, CLICKLAKE_FUNNELS to use another). The file's own comments describe the format."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from clicklake.config import ConfigError

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]*$")


@dataclass(frozen=True)
class Step:
    name: str
    regex: str  # anchored: matches the whole path


@dataclass(frozen=True)
class Funnel:
    name: str
    steps: tuple[Step, ...]
    conversion: bool = False


def glob_regex(glob: str) -> str:
    """'/products/*' -> '^/products/.*$': * is any run of characters, the rest is literal."""
    return "^" + ".*".join(re.escape(part) for part in glob.split("*")) + "$"


def _step(item, where: str) -> Step:
    if not isinstance(item, dict) or not item.get("name") or (("path" in item) == ("regex" in item)):
        raise ConfigError(f"{where}: a step needs a name and exactly one of path (a glob) or regex, got {item!r}")
    if "path" in item:
        return Step(str(item["name"]), glob_regex(str(item["path"])))
    pattern = str(item["regex"])
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: step {item['name']!r} has an invalid regex {pattern!r}: {exc}") from exc
    return Step(str(item["name"]), f"^(?:{pattern})$")


def parse_funnels(text: str, source: str) -> tuple[Funnel, ...]:
    try:
        spec = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    items = spec.get("funnels") if isinstance(spec, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{source}: expected a top-level 'funnels:' list")
    funnels, seen = [], set()
    for i, item in enumerate(items, 1):
        where = f"{source}, funnel {i}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not NAME.match(item["name"]):
            raise ConfigError(f"{where}: a funnel needs a name (letters, digits, space, _ . -)")
        if item["name"] in seen:
            raise ConfigError(f"{where}: the name {item['name']!r} is used twice")
        seen.add(item["name"])
        steps = item.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ConfigError(f"{where} ({item['name']}): needs a non-empty 'steps:' list")
        funnels.append(Funnel(item["name"], tuple(_step(s, f"{where} ({item['name']})") for s in steps), bool(item.get("conversion", False))))
    return tuple(funnels)


def load_funnels(path: str | None = None) -> tuple[Funnel, ...]:
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"CLICKLAKE_FUNNELS names {path}, which is not a file")
        return parse_funnels(file.read_text(), str(file))
    text = resources.files("clicklake.reference").joinpath("funnels.yml").read_text()
    return parse_funnels(text, "clicklake/reference/funnels.yml")
