"""Coded examples: JSON lines `{"text": ..., "codes": [...], "context": optional}`.

`[]` means no code applies. `context` is the preceding turn (usually the question). Where
several coders coded a passage, optional `"votes": {code: share}` gives the share of them who
gave a code (0 to 1); a code it does not name counts 1 if in `codes`, else 0.

Also how coded examples divide for training, stratified by their first code: a held-out
split (`held_out_split`) or k folds (`stratified_folds`)."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from narratives.codebook import Codebook

# Below this many coded examples `train` suggests comparing --method linear: on 90 real
# passages it was level with fine-tuning, on 57 exclusive ones ahead (benchmarks/method_cv.py).
FEW_EXAMPLES = 200
FEW_CODED = 10  # `narratives codebook` flags a code with fewer coded examples


class ExamplesError(ValueError):
    """The examples file cannot be used with this codebook; the message says where and why."""


@dataclass(frozen=True)
class Example:
    text: str
    codes: tuple[str, ...]
    context: str = ""
    id: str = ""
    votes: tuple[tuple[str, float], ...] = ()  # (code, share of coders who gave it)


def jsonl_values(text: str, problems: list[str]) -> Iterator[tuple[int, object]]:
    """(line number, value) for each non-blank line of JSON lines; a line that is not JSON
    is added to `problems` instead. A file that is one JSON array (a `.json` export) gives
    each of its items, with the line it starts on."""
    if text.lstrip().startswith("["):
        try:
            yield from _array_items(text)
        except json.JSONDecodeError as e:
            problems.append(
                f"line {e.lineno}: not JSON ({e.msg}); the file starts with '[', so it is "
                "read as one JSON array (or write one JSON object per line)"
            )
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"line {number}: not JSON ({e.msg})")
            continue
        yield number, value


_SPACE = re.compile(r"[ \t\r\n]*")  # JSON's whitespace


def _array_items(text: str) -> list[tuple[int, object]]:
    """(line it starts on, item) for each item of the JSON array `text`; JSONDecodeError,
    with its position, where `text` is not one."""
    decoder = json.JSONDecoder()
    items: list[tuple[int, object]] = []
    at = _SPACE.match(text, text.index("[") + 1).end()
    line, counted = 1, 0  # the line `at` is on, counted up to `counted`
    while not text.startswith("]", at):
        if items:  # a comma between items
            if not text.startswith(",", at):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
            at = _SPACE.match(text, at + 1).end()
        value, end = decoder.raw_decode(text, at)
        line, counted = line + text.count("\n", counted, at), at
        items.append((line, value))
        at = _SPACE.match(text, end).end()
    if text[at + 1 :].strip():
        raise json.JSONDecodeError("Extra data", text, at + 1)
    return items


def load_examples(path: Path, codebook: Codebook) -> tuple[list[Example], str]:
    """The examples in `path` and the sha256 of the file; every code must be in the codebook."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ExamplesError(f"cannot read examples {path}: {e.strerror or e}") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ExamplesError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{raw[e.start]:02x}); "
            "save the file as UTF-8"
        ) from e
    known = set(codebook.ids)
    # Codes written as their label, or in another case, are refused but named: "did you mean".
    aliases = {k.casefold(): c.id for c in codebook.codes for k in (c.id, c.label)}
    examples: list[Example] = []
    problems: list[str] = []
    coded = foreign = 0  # lines with codes; lines with a code nothing like the codebook's
    for number, row in jsonl_values(text, problems):
        passage = row.get("text") if isinstance(row, dict) else None
        if passage is not None and not isinstance(passage, str):
            problems.append(
                f'line {number}: "text" must be a string, the passage in quotes; '
                f"found {json.dumps(passage)}"
            )
            continue
        if not passage or not passage.strip():
            problems.append(f'line {number}: needs a non-empty "text"')
            continue
        codes = row.get("codes")
        if isinstance(codes, str):
            problems.append(f"line {number}: {_codes_string(codes)}")
            continue
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            # A missing key must not read as "no code applies": a file keyed "labels" would
            # otherwise train a model that never codes anything.
            found = f"found {json.dumps(codes)}" if "codes" in row else f"keys: {sorted(row)}"
            problems.append(
                f'line {number}: needs "codes", a list of code ids ([] when none applies); {found}'
            )
            continue
        # A code given twice, or with spaces around it (spreadsheet exports), is that code.
        codes = list(dict.fromkeys(c.strip() for c in codes))
        coded += bool(codes)
        if unknown := sorted(set(codes) - known):
            meant = {u: _meant(u, aliases, codebook.ids) for u in unknown}
            foreign += not all(meant.values())
            problems.append(f"line {number}: {_unknown_codes(unknown, meant, aliases, codebook)}")
            continue
        if codebook.exclusive and len(codes) != 1:
            hint = (
                "for passages that fit none, add a code such as 'other'"
                if not codes
                else f"pick one of {codes}, or make the codebook `exclusive: false` to allow "
                "several codes per passage"
            )
            problems.append(
                f"line {number}: the codebook is exclusive, so exactly one code (found "
                f"{len(codes)}; {hint})"
            )
            continue
        votes = row.get("votes") or {}
        if not isinstance(votes, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
            for v in votes.values()
        ):
            problems.append(
                f'line {number}: "votes" must map code ids to the share of coders who gave '
                f"them, from 0 to 1; found {json.dumps(votes)}"
            )
            continue
        if unknown := sorted(set(votes) - known):
            problems.append(
                f"line {number}: votes for codes not in codebook {codebook.ref}: {unknown}"
            )
            continue
        examples.append(
            Example(
                passage,
                tuple(codes),
                str(row.get("context") or ""),
                str(row.get("id", "")),
                tuple((c, float(v)) for c, v in votes.items()),
            )
        )
    if problems:
        # Most coded lines with codes the codebook has nothing like: the wrong codebook
        # (`train` without --codebook reads the shipped one), not a hundred typos.
        other = (
            f"\nmost lines with codes ({foreign} of {coded}) have codes that are not in "
            f"codebook {codebook.ref}: the examples may belong to another codebook; did you "
            "forget --codebook FILE?"
            if foreign * 2 > coded
            else ""
        )
        raise ExamplesError(unusable_lines(str(path), problems) + other)
    if not examples:
        raise ExamplesError(f"{path} has no examples")
    return examples, hashlib.sha256(raw).hexdigest()


def unusable_lines(name: str, problems: list[str], outcome: str = "") -> str:
    """A file's problems as one message: how many lines, the first 10 of them."""
    shown = "\n  - ".join(problems[:10])
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    said = f", {outcome}" if outcome else ""
    return f"{name} has {len(problems)} unusable line(s){said}:\n  - {shown}{more}"


def _codes_string(codes: str) -> str:
    """What to write instead of `"codes": "a, b"`: the list it most likely means."""
    ids = [c.strip() for c in codes.split(",") if c.strip()]
    instead = json.dumps(ids) if ids else "[] when none applies"
    return f'"codes" must be a list of code ids, e.g. {instead}; found {json.dumps(codes)}'


def _meant(code: str, aliases: dict[str, str], ids: list[str]) -> str | None:
    """The id an unknown `code` most likely means: one whose id or label (`aliases`, by
    casefolded name) it is in another case, or a near spelling of an id; else None."""
    key = code.strip().casefold()
    if key in aliases:
        return aliases[key]
    near = difflib.get_close_matches(key, ids, n=1, cutoff=0.75)
    return near[0] if near else None


def _unknown_codes(
    unknown: list[str], meant: dict[str, str | None], aliases: dict[str, str], codebook: Codebook
) -> str:
    """What is wrong with a line's codes that are not in the codebook, and the likely fix."""
    named = [f"{meant[u]!r} for {u!r}" for u in unknown if meant[u]]
    # "codes are ids" when a label or another case was used: the spelling itself is right.
    ids = "codes are ids: " if any(u.strip().casefold() in aliases for u in unknown) else ""
    return (
        f"codes not in codebook {codebook.ref}: {unknown} ("
        + (f"{ids}did you mean {', '.join(named)}? " if named else "")
        + "add them to the codebook or correct the line; [] marks a passage where no code "
        "applies)"
    )


def label_matrix(examples: list[Example], codes: list[str]) -> np.ndarray:
    """(n examples, n codes) booleans."""
    return np.array([[c in e.codes for c in codes] for e in examples], dtype=bool).reshape(
        len(examples), len(codes)
    )


def target_matrix(examples: list[Example], codes: list[str]) -> np.ndarray:
    """(n examples, n codes) training targets in [0, 1]: the codes, softened by any votes."""
    target = label_matrix(examples, codes).astype(np.float32)
    column = {c: j for j, c in enumerate(codes)}
    for i, example in enumerate(examples):
        for code, share in example.votes:
            target[i, column[code]] = share
    return target


def describe(codebook: Codebook, examples: list[Example] | None = None) -> dict:
    """What a codebook holds, code by code, and with coded examples (`Example`s, already
    checked against it) how many each code has: what to look at before training.

    `notes` says what training will make of thin spots (a code with no or few coded
    examples, few examples in all)."""
    counts = label_matrix(examples, codebook.ids).sum(0) if examples is not None else None
    codes = []
    for j, code in enumerate(codebook.codes):
        row = {
            "id": code.id,
            "label": code.label,
            "definition_words": len(code.definition.split()),
            "include": bool(code.include),
            "exclude": bool(code.exclude),
            "exemplars": len(code.examples),
        }
        if counts is not None:
            row["examples"] = int(counts[j])
        codes.append(row)
    out = {
        "name": codebook.name,
        "version": codebook.version,
        "exclusive": codebook.exclusive,
        "sha256": codebook.sha256,
        "codes": codes,
        "notes": [],
    }
    if examples is None:
        return out
    out["examples"] = {
        "n": len(examples),
        "no_code": sum(not e.codes for e in examples),
        "with_votes": sum(bool(e.votes) for e in examples),
        "with_context": sum(bool(e.context) for e in examples),
    }
    out["notes"] += thin_codes(codebook, counts)
    if len(examples) < FEW_EXAMPLES:
        out["notes"].append(
            f"{len(examples)} examples: compare `--method linear` with fine-tuning "
            "(`narratives cross-validate --method linear`); with a few dozen real coded "
            "passages it did as well, in seconds"
        )
    return out


def thin_codes(codebook: Codebook, counts: np.ndarray, codebook_examples: bool = True) -> list[str]:
    """A note for each code with no or few coded examples (`counts`, per code in codebook
    order: `label_matrix(...).sum(0)`): what training can learn it from (`codebook_examples`:
    whether training also reads the codebook's definitions and exemplars, as by default)."""
    notes = []
    for code, n in zip(codebook.codes, counts, strict=True):
        if n == 0 and codebook_examples:
            notes.append(
                f"'{code.id}' has no coded example: training learns it from its definition "
                f"and {len(code.examples)} exemplar(s) alone, and no coded passage checks its "
                "threshold"
            )
        elif n == 0:
            notes.append(
                f"'{code.id}' has no coded example and the codebook's definitions and exemplars "
                "are left out (--no-codebook-examples): nothing to learn it from"
            )
        elif n < FEW_CODED:
            notes.append(
                f"'{code.id}' has {n} coded example(s): few to learn from and fewer to set its "
                "threshold on; `narratives cross-validate` shows how well it is coded"
            )
    return notes


def _stratum(labels: np.ndarray) -> np.ndarray:
    """Each example's first code (-1 for none): what splits and folds are stratified on."""
    return np.where(labels.any(axis=1), labels.argmax(axis=1), -1)


def held_out_split(
    n: int, labels: np.ndarray, holdout: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train / calibration indices, stratified on `_stratum`."""
    rng = np.random.RandomState(seed)
    key = _stratum(labels)
    cal = []
    for k in np.unique(key):
        members = np.flatnonzero(key == k)
        rng.shuffle(members)
        cal.extend(
            members[: max(1, int(round(holdout * len(members))))] if len(members) > 1 else []
        )
    cal_idx = np.array(sorted(cal), dtype=int)
    train_idx = np.setdiff1d(np.arange(n), cal_idx)
    return train_idx, cal_idx


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number per example, stratified on `_stratum`."""
    rng = np.random.RandomState(seed)
    key = _stratum(labels)
    fold = np.zeros(len(labels), dtype=int)
    start = 0
    for k_ in np.unique(key):
        members = np.flatnonzero(key == k_)
        rng.shuffle(members)
        fold[members] = (start + np.arange(len(members))) % k
        start += len(members)  # rare codes do not all land in fold 0
    return fold
