"""The audience definitions file analysts edit: read, checked and turned into typed records.

The file (default `audiences.yml` in the project, `CP_AUDIENCES_FILE` to point elsewhere)
holds a list of audiences. Each is either a rule over `customer_profile`, written in the
expression language of `expression.py`, or a lookalike expansion of another audience:

    exclusive: false        # true: a customer belongs only to their highest-priority audience
    audiences:
      - name: shanghai_90s_skincare          # lowercase snake_case, unique
        owner: crm-team
        description: 上海 90后, heavy face-care buyers
        expression: city = '上海市' and age_band = '90后' and top_category = '面部护理'
        priority: 10                          # optional; higher wins under exclusivity
      - name: shanghai_90s_skincare_lookalike
        owner: crm-team
        description: 5,000 more customers most like the audience above
        lookalike_of: shanghai_90s_skincare
        size: 5000

Every problem is reported with the file and the audience it is in; nothing is skipped quietly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RULE_KEYS = {"name", "owner", "description", "expression", "priority"}
_LOOKALIKE_KEYS = {"name", "owner", "description", "lookalike_of", "size", "priority"}


class AudienceDefinitionError(ValueError):
    """A definitions file that cannot be used; the message names the file and the audience."""


@dataclass(frozen=True)
class AudienceDefinition:
    name: str
    owner: str
    description: str
    priority: int = 0
    expression: str | None = None  # a rule audience
    lookalike_of: str | None = None  # or a lookalike expansion of another audience
    size: int | None = None  # how many customers the expansion adds

    @property
    def is_lookalike(self) -> bool:
        return self.lookalike_of is not None


@dataclass(frozen=True)
class AudienceSet:
    audiences: tuple[AudienceDefinition, ...]
    exclusive: bool = False
    source: str = "<memory>"

    def get(self, name: str) -> AudienceDefinition:
        for audience in self.audiences:
            if audience.name == name:
                return audience
        known = ", ".join(a.name for a in self.audiences) or "none"
        raise KeyError(f"{self.source}: no audience named {name!r} (defined: {known})")


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last
    one, so a second `expression:` or `audiences:` would silently replace the first."""


def _mapping_without_repeats(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            repeated = key in first_line
        except TypeError:  # an unhashable key: construct_mapping reports it
            break
        if repeated:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} is given twice (first on line {first_line[key] + 1})",
                key_node.start_mark,
            )
        first_line[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats
)


def load_definitions(path: Path) -> AudienceSet:
    """Read and check the definitions file (which must exist: an empty list says "none")."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the audience definitions file does not exist (to build no audiences,"
            " write `audiences: []` in it)"
        )
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        raise AudienceDefinitionError(f"{path}: not valid YAML: {error}") from None
    except UnicodeDecodeError:
        raise AudienceDefinitionError(f"{path}: not UTF-8 text") from None
    return parse_definitions(document, source=str(path))


def parse_definitions(document: Any, source: str = "<memory>") -> AudienceSet:
    """Check the parsed YAML document's shape, names, priorities and lookalike references."""
    if document is None:
        document = {"audiences": []}
    if not isinstance(document, dict):
        raise AudienceDefinitionError(f"{source}: expected a mapping with an `audiences` list")
    unknown = set(document) - {"exclusive", "audiences"}
    if unknown:
        raise AudienceDefinitionError(
            f"{source}: unknown top-level key(s) {sorted(unknown)}; expected exclusive, audiences"
        )
    exclusive = document.get("exclusive", False)
    if not isinstance(exclusive, bool):
        raise AudienceDefinitionError(f"{source}: `exclusive` must be true or false")
    entries = document.get("audiences") or []
    if not isinstance(entries, list):
        raise AudienceDefinitionError(f"{source}: `audiences` must be a list")
    audiences = tuple(_audience(entry, i, source) for i, entry in enumerate(entries))
    names = [a.name for a in audiences]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AudienceDefinitionError(f"{source}: audience name(s) used twice: {duplicates}")
    rules = {a.name for a in audiences if not a.is_lookalike}
    for audience in audiences:
        if audience.is_lookalike and audience.lookalike_of not in rules:
            raise AudienceDefinitionError(
                f"{source}: audience {audience.name!r}: lookalike_of {audience.lookalike_of!r}"
                f" is not a rule audience in this file (rule audiences: {sorted(rules)})"
            )
    return AudienceSet(audiences=audiences, exclusive=exclusive, source=source)


def _audience(entry: Any, index: int, source: str) -> AudienceDefinition:
    where = f"{source}: audience #{index + 1}"
    if not isinstance(entry, dict):
        raise AudienceDefinitionError(f"{where}: expected a mapping of name, owner, ...")
    name = entry.get("name")
    if isinstance(name, bool):
        raise AudienceDefinitionError(
            f"{where}: name {name!r} is how YAML reads an unquoted yes/no/on/off/true/false:"
            " put the name in quotes"
        )
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AudienceDefinitionError(
            f"{where}: name {name!r} must be lowercase snake_case (a-z, 0-9, _), "
            "starting with a letter, at most 63 characters"
        )
    where = f"{source}: audience {name!r}"
    is_lookalike = "lookalike_of" in entry
    allowed = _LOOKALIKE_KEYS if is_lookalike else _RULE_KEYS
    unknown = set(entry) - allowed
    if unknown:
        raise AudienceDefinitionError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    for key in ("owner", "description"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise AudienceDefinitionError(f"{where}: `{key}` is required (non-empty text)")
    priority = entry.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise AudienceDefinitionError(f"{where}: `priority` must be a whole number")
    common = {
        "name": name,
        "owner": entry["owner"].strip(),
        "description": entry["description"].strip(),
        "priority": priority,
    }
    if is_lookalike:
        seed, size = entry.get("lookalike_of"), entry.get("size")
        if not isinstance(seed, str) or not seed:
            raise AudienceDefinitionError(f"{where}: `lookalike_of` must name an audience")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise AudienceDefinitionError(f"{where}: `size` must be a positive whole number")
        return AudienceDefinition(**common, lookalike_of=seed, size=size)
    expression = entry.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise AudienceDefinitionError(
            f"{where}: `expression` is required (or `lookalike_of` and `size` for a lookalike)"
        )
    return AudienceDefinition(**common, expression=expression)
