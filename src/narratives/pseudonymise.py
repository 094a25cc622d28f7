"""Pseudonymise: people's names -> consistent role-based pseudonyms in text given to readers.

The people are the participant speakers of every document (interviewer turns excluded) and
any names in the manifest column `participants` (stored in `documents.attributes`, separated
by `;`, `,` or `|`). Each person gets one pseudonym for the whole database:

- `[Enabler, Kelsham]`: the first participant speaker of a document with a manifest role
  takes that role (from the earliest such document), with the place;
- `[Participant 2, Northmoor]` otherwise: the person's number among the people of that place,
  in order of first appearance (documents by date, then path; speakers in order of speech).

In text, a person's full name (with or without a title such as "Dr"), and each part of it
that is at least three letters long and starts upper-case ("Grace", "Adeyemi"), are replaced
with word-boundary matching. A part shared by several people is given the pseudonym of the one
who appears in the document being pseudonymised, else of the first one met.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

HONORIFICS = frozenset(
    "dr mr mrs ms miss mx prof professor sir dame cllr councillor rev revd lord lady".split()
)
# Labels that name a position in a transcript, not a person ("Speaker 1", "Participant").
GENERIC_LABELS = frozenset(
    "speaker participant respondent interviewee resident member guest attendee unknown "
    "voice chair narrator other".split()
)
# Capitalised words too common in prose to be replaced on their own.
COMMON_WORDS = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
_HONORIFIC_RE = "|".join(sorted((h.capitalize() for h in HONORIFICS), key=len, reverse=True))


@dataclass(frozen=True)
class Person:
    """One person, the names they are known by, and their pseudonym."""

    key: str  # the name without titles, lower-case, single-spaced
    names: tuple[str, ...]  # the names as written (speaker labels, manifest entries)
    pseudonym: str
    documents: frozenset[str]


def without_titles(name: str) -> str:
    """`Dr  Helen Marsh` -> `Helen Marsh`: leading titles dropped, single-spaced."""
    tokens = name.split()
    while tokens and tokens[0].rstrip(".").lower() in HONORIFICS:
        tokens = tokens[1:]
    return " ".join(tokens)


def name_key(name: str) -> str:
    """The identity of a name: without titles, lower-case, single-spaced."""
    return without_titles(name).lower()


def is_person_name(label: str | None) -> bool:
    """Whether a speaker label names a person (not "Speaker 1", "Participant", "P3")."""
    if not label or any(ch.isdigit() for ch in label):
        return False
    words = name_key(label).split()
    return bool(words) and not all(w in GENERIC_LABELS for w in words)


def _name_tokens(name: str) -> list[str]:
    """The parts of a name that are replaced on their own: 3+ letters, upper-case first."""
    words = [w.strip(".,'\"()") for w in name.split()]
    return [
        w
        for w in words
        if len(w) >= 3
        and w[0].isupper()
        and w.lower() not in HONORIFICS
        and w.lower() not in COMMON_WORDS
    ]


class Pseudonymiser:
    """Replaces the names of known people in text; `apply` is pure and deterministic."""

    def __init__(self, people: Sequence[Person]):
        self.people = tuple(people)
        self._by_key = {p.key: p for p in people}
        variants: dict[str, list[Person]] = {}
        for person in people:
            forms = set()
            for name in person.names:
                bare = without_titles(name)
                forms.add(bare)
                forms.update(_name_tokens(bare))
            for form in forms:
                if form and person not in variants.setdefault(form, []):
                    variants[form].append(person)
        self._variants = variants
        if variants:
            ordered = sorted(variants, key=lambda v: (-len(v.split()), -len(v), v))
            alternatives = "|".join(r"\s+".join(map(re.escape, v.split())) for v in ordered)
            self._pattern: re.Pattern[str] | None = re.compile(
                rf"(?<!\w)(?:(?:{_HONORIFIC_RE})\.?\s+)?(?P<name>{alternatives})(?!\w)"
            )
        else:
            self._pattern = None

    def apply(self, text: str | None, document_id: str | None = None) -> str | None:
        """`text` with every known name replaced by its person's pseudonym."""
        if text is None or self._pattern is None:
            return text

        def replace(match: re.Match[str]) -> str:
            found = " ".join(match.group("name").split())
            candidates = self._variants[found]
            if document_id is not None and len(candidates) > 1:
                local = [p for p in candidates if document_id in p.documents]
                candidates = local or candidates
            return candidates[0].pseudonym

        return self._pattern.sub(replace, text)

    def speaker(self, label: str | None, document_id: str | None = None) -> str | None:
        """The pseudonym of a speaker label (a label that is not a person is kept)."""
        if label is None:
            return None
        person = self._by_key.get(name_key(label))
        return person.pseudonym if person else self.apply(label, document_id)


@dataclass(frozen=True)
class _Appearance:
    name: str
    document_id: str
    place: str | None
    role: str | None  # the document's role, for its first participant speaker only


def participants_of(attributes: str | dict | None) -> list[str]:
    """Names in the manifest column `participants` of a document's attributes."""
    if attributes is None:
        return []
    data = json.loads(attributes) if isinstance(attributes, str) else attributes
    value = data.get("participants") if isinstance(data, dict) else None
    if isinstance(value, list):
        names = [str(v) for v in value]
    elif isinstance(value, str):
        names = re.split(r"[;,|]", value)
    else:
        return []
    return [n.strip() for n in names if is_person_name(n.strip())]


def people_from(appearances: Iterable[_Appearance]) -> list[Person]:
    """People in order of first appearance, with their pseudonyms."""
    first: dict[str, _Appearance] = {}
    names: dict[str, list[str]] = {}
    documents: dict[str, set[str]] = {}
    role_of: dict[str, _Appearance] = {}
    for a in appearances:
        key = name_key(a.name)
        first.setdefault(key, a)
        if a.name not in names.setdefault(key, []):
            names[key].append(a.name)
        documents.setdefault(key, set()).add(a.document_id)
        if a.role and key not in role_of:
            role_of[key] = a
    people: list[Person] = []
    numbers: dict[str | None, int] = {}
    taken: set[str] = set()
    for key, a in first.items():
        place = a.place
        numbers[place] = numbers.get(place, 0) + 1
        label = None
        if key in role_of:
            role = role_of[key].role or ""
            label = _label(role[:1].upper() + role[1:], place)
            n = 2
            while label in taken:
                label = _label(f"{role[:1].upper() + role[1:]} {n}", place)
                n += 1
        if label is None:
            label = _label(f"Participant {numbers[place]}", place)
        taken.add(label)
        people.append(Person(key, tuple(names[key]), label, frozenset(documents[key])))
    return people


def _label(name: str, place: str | None) -> str:
    return f"[{name}, {place}]" if place else f"[{name}]"


def pseudonymiser_for(con: duckdb.DuckDBPyConnection) -> Pseudonymiser:
    """The pseudonymiser for every person in the database `con`."""
    docs = con.execute(
        "SELECT document_id, place, role, attributes::VARCHAR FROM documents "
        "ORDER BY date NULLS LAST, path, document_id"
    ).fetchall()
    speakers: dict[str, list[str]] = {}
    for document_id, speaker in con.execute(
        "SELECT document_id, speaker FROM passages "
        "WHERE NOT is_interviewer AND speaker IS NOT NULL "
        "GROUP BY document_id, speaker ORDER BY document_id, min(seq)"
    ).fetchall():
        speakers.setdefault(document_id, []).append(speaker)
    appearances = []
    for document_id, place, role, attributes in docs:
        people = [s for s in speakers.get(document_id, []) if is_person_name(s)]
        for i, name in enumerate(people):
            appearances.append(_Appearance(name, document_id, place, role if i == 0 else None))
        for name in participants_of(attributes):
            appearances.append(_Appearance(name, document_id, place, None))
    return Pseudonymiser(people_from(appearances))
