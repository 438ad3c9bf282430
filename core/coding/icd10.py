"""The ICD-10-CM code set (April 2026, from the PyPI package simple-icd-10-cm).

Only billable codes (leaves of the hierarchy) are ever output. A term found at a category level
("pneumonia", "type 2 diabetes") is coded with the category's default leaf: its unspecified or
"without complications" child, and for injuries the initial encounter (7th character A), which is
what a coder assigns when the note says no more.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import simple_icd_10_cm as cm

CODE_SET = "ICD-10-CM April 2026 (simple-icd-10-cm)"


@dataclass(frozen=True)
class IndexEntry:
    code: str  # a billable code
    text: str  # a description or inclusion term that names it
    source: str  # "description", "inclusion" (of this code) or "category" (of an ancestor whose default it is)


def is_billable(code: str) -> bool:
    return cm.is_valid_item(code) and cm.is_leaf(code)


def description(code: str) -> str:
    return cm.get_description(code)


@functools.cache
def billable_codes() -> tuple[str, ...]:
    return tuple(c for c in cm.get_all_codes(with_dots=True) if cm.is_leaf(c))


def default_leaf(code: str) -> str:
    """The billable code a bare mention of this category means."""
    while not cm.is_leaf(code):
        children = cm.get_children(code)
        code = min(children, key=_default_rank)
    return code


def default_tier(code: str) -> int:
    """0 for a category's plain default ("..., unspecified", "without complications"), higher for the rest."""
    return _default_rank(code)[0] if len(code.replace(".", "")) < 7 else 0


def _default_rank(child: str) -> tuple:
    text = cm.get_description(child).lower()
    plain = child.replace(".", "")
    if len(plain) == 7:  # 7th character: initial encounter first
        return (0 if plain[-1] == "A" else 1, child)
    if re.search(r"(?:unspecified(?: \w+)?|without complications|uncomplicated)$", text) or text.startswith("unspecified"):
        tier = 0
    else:
        tier = 1 if "unspecified" in text else 2
    return (tier, -len(_words(cm.get_description(cm.get_parent(child))) & _words(text)), plain[-1] != "9", child)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) - {"and", "of", "or", "the", "with", "without", "in", "unspecified"}


@functools.cache
def index_entries() -> tuple[IndexEntry, ...]:
    """Every name the code set gives a code, each pointing at a billable code; duplicates removed.

    Leaves with a 7th character (injury encounters) are reached through their parent, whose
    description is the same without the encounter wording.
    """
    entries: dict[str, IndexEntry] = {}

    def add(code: str, text: str, source: str) -> None:
        key = " ".join(text.lower().split())
        if key and key not in entries:  # the first, most specific code keeps a shared name
            entries[key] = IndexEntry(code, text, source)

    for code in cm.get_all_codes(with_dots=True):
        if cm.is_chapter_or_block(code) or len(code.replace(".", "")) == 7:
            continue
        target = code if cm.is_leaf(code) else default_leaf(code)
        source = "description" if target == code else "category"
        add(target, cm.get_description(code), source)
        for term in cm.get_inclusion_term(code) + (cm.get_includes(code) if not cm.is_leaf(code) else []):
            add(target, term, "inclusion" if target == code else "category")
    return tuple(entries.values())


_CODE_REF = re.compile(r"\b([A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?)(?:\.-|-)?(?:\s*-\s*([A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?))?")


@functools.cache
def _excludes1_refs(code: str) -> tuple[tuple[str, str], ...]:
    """(low, high) code ranges that this code's Excludes1 notes, and its ancestors', forbid beside it."""
    refs = []
    for node in [code, *cm.get_ancestors(code)]:
        if cm.is_chapter(node):
            continue
        for note in cm.get_excludes1(node):
            for paren in re.findall(r"\(([^)]*)\)", note):
                for m in _CODE_REF.finditer(paren):
                    low = m.group(1).replace(".", "")
                    high = (m.group(2) or m.group(1)).replace(".", "")
                    refs.append((low, high))
    return tuple(refs)


def excludes1_conflict(a: str, b: str) -> bool:
    """True when an Excludes1 note of either code (or its ancestors) names the other."""
    return _excludes(a, b) or _excludes(b, a)


def _excludes(a: str, b: str) -> bool:
    plain = b.replace(".", "")
    for low, high in _excludes1_refs(a):
        if plain.startswith(low) or plain.startswith(high) or (low[:3] <= plain[:3] <= high[:3] and len(low) == len(high) == 3):
            return True
    return False
