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

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

TOP_KEYS = {"name", "version", "description", "exclusive", "codes"}
CODE_KEYS = {"id", "label", "definition", "include", "exclude", "examples"}
CODE_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


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


def parse_codebook(data: object, sha256: str = "", source: str = "codebook") -> Codebook:
    """Validate parsed YAML and build a `Codebook`, or raise `CodebookError` listing problems."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise CodebookError(f"{source}: expected a mapping with name, version and codes")
    for key in sorted(set(data) - TOP_KEYS):
        problems.append(f"unknown key '{key}' (allowed: {', '.join(sorted(TOP_KEYS))})")
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
    seen: set[str] = set()
    for i, raw in enumerate(raw_codes, start=1):
        if not isinstance(raw, dict):
            problems.append(f"code #{i} must be a mapping with id and definition")
            continue
        cid = str(raw.get("id", "")).strip()
        where = f"code '{cid}'" if cid else f"code #{i}"
        for key in sorted(set(raw) - CODE_KEYS):
            problems.append(
                f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(CODE_KEYS))})"
            )
        if not cid:
            problems.append(f"{where}: missing 'id'")
        elif not CODE_ID.match(cid):
            problems.append(f"{where}: id must be lower-case letters, digits, '-' or '_'")
        elif cid in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(cid)
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
        raise CodebookError(f"{path} is not valid YAML: {e}") from e
    return parse_codebook(data, hashlib.sha256(raw).hexdigest(), source=str(path))
