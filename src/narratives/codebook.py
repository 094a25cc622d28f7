"""The codebook: a YAML file users edit or replace. The six dimensions are only the default.

name: systems-leadership
version: 3
exclusive: false      # true: exactly one code per passage; false: zero or more
codes:
  - id: relating
    label: Ways of relating
    definition: ...
    include: ...      # optional
    exclude: ...      # optional
    examples: [...]   # optional
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

TOP_KEYS = {"name", "version", "description", "exclusive", "codes"}
CODE_KEYS = {"id", "label", "definition", "include", "exclude", "examples"}
# Any one line of text: a team's own codebook may name its codes "Trust", "A1.2" or "Not
# listened to". Ids are only ever values (in the store, in JSON, on the command line).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CodebookError(ValueError):
    """The codebook file is not valid; the message lists every problem found."""


@dataclass(frozen=True)
class Code:
    id: str
    label: str
    definition: str
    include: str = ""
    exclude: str = ""
    examples: tuple[str, ...] = ()

    def description(self) -> str:
        """The code's meaning as one text: label, definition and what counts."""
        return " ".join(p for p in (self.label + ".", self.definition, self.include) if p)


@dataclass(frozen=True)
class Codebook:
    name: str
    version: str
    exclusive: bool
    codes: tuple[Code, ...]
    sha256: str
    description: str = ""

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.codes]

    def seed_examples(self) -> list[tuple[str, str]]:
        """(text, code) pairs the codebook itself provides: each definition and exemplar.

        Training adds them to the coded examples: with a few dozen coded passages they carry
        much of what a classifier knows about a code (measured: benchmarks/method_cv.py,
        docs/coding-quality.md).
        """
        pairs = []
        for code in self.codes:
            pairs.append((code.definition, code.id))
            pairs.extend((text, code.id) for text in code.examples)
        return pairs

    def content(self) -> dict:
        """The codebook as the mapping its YAML file holds (what `parse_codebook` reads):
        stored with every model and, per run, in the database's `codebooks` table."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "exclusive": self.exclusive,
            "codes": [
                {k: v for k, v in c.__dict__.items() if v not in ("", ())}
                | {"examples": list(c.examples)}
                for c in self.codes
            ],
        }

    @property
    def ref(self) -> str:
        """`name@version`, as recorded on codings."""
        return f"{self.name}@{self.version}"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value).strip()


def _id(raw: dict) -> str:
    """A code's id as written: YAML's numbers as their digits; nothing when it is missing."""
    value = raw.get("id")
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _unknown_keys(mapping: dict, allowed: set[str]) -> list[str]:
    """A problem for each key of `mapping` not in `allowed`, naming a near miss if any."""
    found = []
    for key in sorted(set(map(str, mapping)) - allowed):
        # 0.75: 'definiton' -> 'definition', but not 'notes' -> 'codes'
        near = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.75)
        meant = f"did you mean '{near[0]}'? " if near else ""
        found.append(f"unknown key '{key}' ({meant}allowed: {', '.join(sorted(allowed))})")
    return found


def _positions(numbers: list[int]) -> str:
    """[1, 2, 5] -> '#1, #2 and #5'."""
    named = [f"#{n}" for n in numbers]
    return ", ".join(named[:-1]) + " and " + named[-1]


def parse_codebook(data: object, sha256: str = "", source: str = "codebook") -> Codebook:
    """Validate parsed YAML and build a `Codebook`, or raise `CodebookError` listing problems."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise CodebookError(f"{source}: expected a mapping with name, version and codes")
    problems += _unknown_keys(data, TOP_KEYS)
    for key in ("name", "version", "codes"):
        if key not in data:
            problems.append(f"missing '{key}'")
    exclusive = data.get("exclusive", False)
    if not isinstance(exclusive, bool):
        problems.append("'exclusive' must be true or false")
    raw_codes = data.get("codes") or []
    if not isinstance(raw_codes, list) or ("codes" in data and not raw_codes):
        problems.append("'codes' must be a non-empty list")
        raw_codes = []
    codes: list[Code] = []
    # Where each id occurs (1-based positions in `codes:`), so a duplicate names them all.
    # Ids differing only in case count as one: a coder typing either would mean the same code.
    positions: dict[str, list[int]] = {}
    for i, raw in enumerate(raw_codes, start=1):
        if isinstance(raw, dict):
            positions.setdefault(_id(raw).casefold(), []).append(i)
    for i, raw in enumerate(raw_codes, start=1):
        if not isinstance(raw, dict):
            problems.append(f"code #{i} must be a mapping with id and definition")
            continue
        cid = _id(raw)
        where = f"code '{cid}'" if cid else f"code #{i}"
        problems += [f"{where}: {p}" for p in _unknown_keys(raw, CODE_KEYS)]
        shared = positions[cid.casefold()]
        if isinstance(raw.get("id"), dict | list):
            problems.append(f"code #{i}: id must be a single name, e.g. 'trust'")
        elif not cid:
            problems.append(f"{where}: missing 'id'")
        elif CONTROL.search(cid):
            problems.append(f"{where}: id must be one line of text, without tabs or line breaks")
        elif len(shared) > 1 and i == shared[1]:  # once, at the first repeat
            same = len({_id(raw_codes[n - 1]) for n in shared}) == 1
            alike = "share it" if same else "differ only in case"
            problems.append(
                f"{where}: duplicate id (codes {_positions(shared)} in the 'codes' list "
                f"{alike}; give each code its own id)"
            )
        if not _text(raw.get("definition")):
            problems.append(f"{where}: missing 'definition'")
        examples = raw.get("examples") or []
        if not isinstance(examples, list):
            problems.append(f"{where}: 'examples' must be a list of passages")
            examples = []
        codes.append(
            Code(
                id=cid,
                label=_text(raw.get("label")) or cid,
                definition=_text(raw.get("definition")),
                include=_text(raw.get("include")),
                exclude=_text(raw.get("exclude")),
                examples=tuple(str(e).strip() for e in examples if str(e).strip()),
            )
        )
    if problems:
        raise CodebookError(f"{source} is not a valid codebook:\n  - " + "\n  - ".join(problems))
    return Codebook(
        name=str(data["name"]).strip(),
        version=str(data["version"]).strip(),
        exclusive=exclusive,
        codes=tuple(codes),
        sha256=sha256,
        description=_text(data.get("description")),
    )


def load_codebook(path: Path) -> Codebook:
    """Read and validate a codebook YAML file."""
    import yaml

    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise CodebookError(f"cannot read codebook {path}: {e.strerror or e}") from e
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise CodebookError(f"{path} is not valid YAML: {_yaml_problem(e, raw)}") from e
    return parse_codebook(data, hashlib.sha256(raw).hexdigest(), source=str(path))


def _yaml_problem(error: Exception, raw: bytes) -> str:
    """PyYAML's complaint as the line it is on, what is wrong there and, for the usual
    mistakes (a tab, an unquoted ': '), what to do."""
    import yaml

    if isinstance(error, yaml.reader.ReaderError):  # bytes that are not UTF-8 (or UTF-16)
        line = raw[: error.position].count(b"\n") + 1
        return f"line {line}: it is not UTF-8 text ({error.reason}); save the file as UTF-8"
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or not problem:
        return str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    lines = raw.decode("utf-8", "replace").splitlines()
    text = lines[mark.line] if mark.line < len(lines) else ""
    indent = text[: len(text) - len(text.lstrip())]
    if "'\\t'" in problem or "\t" in indent:
        tab = "found a tab: YAML indents with spaces, not tabs"
        return f"{where}: {tab} (replace the tab with spaces)"
    said = f"{where}: {problem}"
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context and context_mark is not None and context_mark.line != mark.line:
        said += f" ({context} that starts on line {context_mark.line + 1})"
    if problem == "mapping values are not allowed here":
        said += (
            "; a value that holds ': ' needs quotes (definition: \"Trust: kept promises\"), "
            "and a key must line up with the keys above it"
        )
    return said
