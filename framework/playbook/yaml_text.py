"""Editing a playbook's YAML text in place, keeping everything the edit does not touch.

:func:`edit_playbook_text` sets parameter values through ruamel.yaml's round trip: comments, blank
lines, key order, the mapping indentation, the spelling of untouched values, the comments and ``---``
that open the document and CRLF line endings all survive. It knows the playbook's layout (a
``default`` block and a ``regimes`` section of blocks) but not what the values mean; validating the
result is the caller's job.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

SECTIONS = ("default", "regimes", "strategy_weights", "bounds")
"""A playbook's top-level sections, in the order they are written."""


@dataclass(frozen=True)
class ScalarEdit:
    """Set ``key`` of the mapping at ``path`` to the YAML scalar ``scalar`` (int, float, text or None).

    ``path`` is ``("default",)``, ``("regimes", <regime>)`` or ``("strategy_weights",)``; mappings on
    it that are missing or empty are created. ``means`` is what ``scalar`` stands for; a value already
    in the file that means the same keeps its own spelling (see :func:`edit_playbook_text`).
    """

    path: tuple[str, ...]
    key: str
    scalar: Any
    means: object


def round_trip_yaml() -> YAML:
    """A ruamel.yaml round-trip loader and dumper that keeps quotes and never wraps long lines."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def edit_playbook_text(text: str, edits: Iterable[ScalarEdit], read_scalar: Callable[[str, Any], object]) -> str:
    """``text`` with ``edits`` applied in order. ``text`` must be a valid playbook.

    An edit of a key the block already has leaves it as written when ``read_scalar(key, current)``
    equals the edit's ``means`` (so ``2`` is not rewritten as ``2.0``); a missing key is added after
    the block's last key.
    """
    crlf = "\r\n" in text
    preamble, body = _split_preamble(text.replace("\r\n", "\n") if crlf else text)
    yaml = round_trip_yaml()
    data = yaml.load(body)
    _match_indentation(yaml, data)
    for edit in edits:
        _apply_edit(data, edit, read_scalar)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    new_text = preamble + buffer.getvalue()
    if crlf:
        new_text = new_text.replace("\n", "\r\n")
    return new_text


def _split_preamble(text: str) -> tuple[str, str]:
    """Split off the comments and ``---`` that open a document: ruamel's round trip drops them."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            if re.match(r"^---\s*(#.*)?$", stripped):
                return "".join(lines[: index + 1]), "".join(lines[index + 1 :])
            break
    return "", text


def _match_indentation(yaml: YAML, data: CommentedMap) -> None:
    """Dump with the file's own mapping indentation (ruamel would otherwise use 2)."""
    for value in data.values():
        if isinstance(value, CommentedMap) and value:
            indent = value.lc.col - data.lc.col
            if indent > 0:
                yaml.indent(mapping=indent)
            return


def _apply_edit(data: CommentedMap, edit: ScalarEdit, read_scalar: Callable[[str, Any], object]) -> None:
    mapping = data
    for depth, name in enumerate(edit.path):
        child = mapping.get(name)
        if not isinstance(child, CommentedMap) or not child:
            created = CommentedMap([(edit.key, edit.scalar)])
            for inner in reversed(edit.path[depth + 1 :]):
                created = CommentedMap([(inner, created)])
            if name in mapping:
                _replace_empty(mapping, name, created)
            else:
                _insert_after(mapping, _anchor(mapping, name, top_level=depth == 0), name, created)
            return
        mapping = child
    _set_scalar(mapping, edit, read_scalar)


def _anchor(mapping: CommentedMap, name: str, *, top_level: bool) -> Any:
    """The key a new ``name`` goes after: the nearest earlier playbook section, else the last key."""
    if top_level and name in SECTIONS:
        earlier = [s for s in SECTIONS[: SECTIONS.index(name)] if s in mapping]
        if earlier:
            return earlier[-1]
    return _last_key(mapping)


def _set_scalar(block: CommentedMap, edit: ScalarEdit, read_scalar: Callable[[str, Any], object]) -> None:
    if edit.key not in block:
        _insert_after(block, _last_key(block), edit.key, edit.scalar)
    elif read_scalar(edit.key, block[edit.key]) != edit.means:
        block[edit.key] = edit.scalar


def _last_key(mapping: CommentedMap) -> Any:
    return next(reversed(mapping), None)


# ruamel attaches the blank lines and comments that follow a block to the block's last key; when a key
# is added after it, that trailing text must move to the new key or it would end up above it.
def _insert_after(mapping: CommentedMap, after: Any, key: str, value: Any) -> None:
    if after is None:
        mapping.fa.set_block_style()
        mapping[key] = value
        return
    holder = _deepest_last(mapping, after)
    mapping.insert(list(mapping).index(after) + 1, key, value)
    _move_trailing_text(holder, _deepest_last(mapping, key))


def _replace_empty(mapping: CommentedMap, key: str, value: CommentedMap) -> None:
    mapping[key] = value
    _move_trailing_text((mapping, key), _deepest_last(mapping, key))


def _deepest_last(mapping: CommentedMap, key: Any) -> tuple[CommentedMap, Any]:
    value = mapping[key]
    while isinstance(value, CommentedMap) and value:
        mapping, key = value, _last_key(value)
        value = mapping[key]
    return mapping, key


def _move_trailing_text(source: tuple[CommentedMap, Any], target: tuple[CommentedMap, Any]) -> None:
    source_map, source_key = source
    target_map, target_key = target
    if (source_map, source_key) == (target_map, target_key):
        return
    item = source_map.ca.items.get(source_key)
    if not item or item[2] is None:
        return
    token = item[2]
    own_line, _, trailing = token.value.partition("\n")
    if not trailing:
        return
    moved = copy.copy(token)
    moved.value = "\n" + trailing
    token.value = own_line + "\n"
    target_map.ca.items.setdefault(target_key, [None, None, None, None])[2] = moved
