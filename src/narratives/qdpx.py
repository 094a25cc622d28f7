"""Exchange with NVivo, ATLAS.ti, MAXQDA and QualCoder: REFI-QDA projects (`.qdpx`).

A `.qdpx` file is a ZIP holding `project.qde` (XML in the namespace `urn:QDA-XML:project:1.0`,
the REFI-QDA Project schema of March 2019) and `sources/`, one UTF-8 `.txt` per text source.
What we write, in the schema's order:

    Project name origin creationDateTime
      Users/User guid name              one per model, one per human coder
      CodeBook/Codes/Code guid name isCodable color + Description (the codebook's definition)
      Variables/Variable guid name typeOfVariable     place, project, wave, date, role
      Cases/Case guid name + SourceRef                one case per place
      Sources/TextSource guid name plainTextPath="internal://<guid>.txt"
        PlainTextSelection guid name startPosition endPosition creatingUser creationDateTime
          Coding guid creatingUser creationDateTime + CodeRef targetGUID
        VariableValue + VariableRef + TextValue | DateValue

Positions are character offsets (Unicode code points, as Python indexes a `str`) into the
source's text, which is `documents.text`: a passage's selection is its `start_char:end_char`.
GUIDs are uuid5 of what they name (document, passage, code, coder), and times come from the
database, so exporting the same database twice gives the same bytes.

Importing a project maps each text source to a stored document (same text first, else the
same name), each selection to the stored passage with the same span (else the one it overlaps
most), and stores the codings as human codings (`narratives.human.store_human_codings`):
each passage a coder coded there counts as coded by them in full (codes absent do not apply).
"""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath

import duckdb

from narratives import __version__
from narratives.codebook import Codebook
from narratives.report import PALETTE

NS = "urn:QDA-XML:project:1.0"
# Fixed, so that GUIDs are the same in every export of the same database.
GUID_NAMESPACE = uuid.UUID("6f1c2d52-8a4e-5b0e-9c61-3d7f0a2b9e14")
MODEL_USER = "narratives model "  # + model_id: the user name of the model's codings
VARIABLES = (("place", "Text"), ("project", "Text"), ("wave", "Text"), ("date", "Date"),
             ("role", "Text"))  # fmt: skip


class QdpxError(ValueError):
    """The file is not a REFI-QDA project we can read, or the export cannot be made."""


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    sources: int
    selections: int
    codings: int
    codes: int
    users: tuple[str, ...]


@dataclass(frozen=True)
class QdpxImportSummary:
    """What an import stored, and everything it could not place, with the reason."""

    stored: int  # codings stored
    passages: int  # passages whose codings (for their coder) were replaced
    coders: tuple[str, ...]
    sources: int  # text sources in the file
    matched: tuple[tuple[str, str, str], ...]  # (source name, document_id, "text" | "name")
    unmatched: tuple[str, ...] = ()  # sources with codings that match no stored document
    unplaced: int = 0  # codings on selections that overlap no passage
    unknown_codes: dict[str, int] = field(default_factory=dict)  # code name -> codings
    model_codings: int = 0  # codings by a "narratives model ..." user, skipped (no --coder)
    whole_source: int = 0  # codings of a whole source (not a selection), skipped

    @property
    def complete(self) -> bool:
        """True when every coding in the file was stored (or deliberately skipped)."""
        return not (self.unmatched or self.unplaced or self.unknown_codes or self.whole_source)


def guid(kind: str, *parts: str) -> str:
    """A deterministic GUID for the thing of `kind` named by `parts`."""
    return str(uuid.uuid5(GUID_NAMESPACE, kind + ":" + "\x1f".join(parts)))


def _when(value: datetime | date | None) -> str | None:
    """xsd:dateTime without a zone (the database keeps local times)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0, tzinfo=None).isoformat()
    return datetime(value.year, value.month, value.day).isoformat()


# ----------------------------------------------------------------------------- export


@dataclass(frozen=True)
class _Coding:
    passage_id: str
    code: str
    user_key: str
    created_at: datetime | None


def _coder_filter(coders: Sequence[str] | None) -> tuple[str, list]:
    """SQL condition and parameters selecting the codings of `coders`: `model` (every
    model), `model:<model_id>`, or a human coder's name."""
    if not coders:
        return "TRUE", []
    terms, params = [], []
    for spec in coders:
        spec = spec.strip()
        if spec.lower() == "model":
            terms.append("c.source = 'model'")
        elif spec.lower().startswith("model:"):
            terms.append("(c.source = 'model' AND c.model_id = ?)")
            params.append(spec.split(":", 1)[1])
        else:
            terms.append("(c.source = 'human' AND c.coder = ?)")
            params.append(spec)
    return "(" + " OR ".join(terms) + ")", params


def export_qdpx(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    codebook: Codebook | None = None,
    coders: Sequence[str] | None = None,
    project_name: str = "narratives",
) -> ExportSummary:
    """Write every document and the codings of `coders` (default: all, model and human) as a
    REFI-QDA project to `out`."""
    where, params = _coder_filter(coders)
    rows = con.execute(
        f"""
        SELECT c.passage_id, c.code, c.source, c.coder, c.model_id, c.created_at,
               p.document_id, p.start_char, p.end_char, p.speaker, p.seq
        FROM codings c JOIN passages p USING (passage_id)
        WHERE {where}
        ORDER BY p.document_id, p.seq, c.code, c.source, coalesce(c.coder, c.model_id, '')
        """,
        params,
    ).fetchall()
    if coders and not rows:
        raise QdpxError(
            f"no codings by {', '.join(coders)} in this database; coders are `model`, "
            "`model:<model_id>` or the names used when importing or reviewing"
        )
    documents = con.execute(
        "SELECT document_id, path, title, place, project, wave, date, role, text, loaded_at "
        "FROM documents ORDER BY place NULLS LAST, date NULLS LAST, path"
    ).fetchall()
    if not documents:
        raise QdpxError("the database holds no documents; run `narratives run` first")

    users: dict[str, tuple[str, str]] = {}  # key -> (guid, name)
    codings: dict[str, list[_Coding]] = {}  # passage_id -> codings
    spans: dict[str, tuple[str, int, int, str | None, int]] = {}
    for pid, code, source, coder, model_id, created, doc, start, end, speaker, seq in rows:
        if source == "model":
            key, name = f"model:{model_id or 'unknown'}", MODEL_USER + (model_id or "unknown")
        else:
            key, name = f"human:{coder or 'unknown'}", coder or "unknown coder"
        users.setdefault(key, (guid("user", key), name))
        mine = codings.setdefault(pid, [])
        if not any(c.code == code and c.user_key == key for c in mine):
            mine.append(_Coding(pid, code, key, created))
        spans[pid] = (doc, start, end, speaker, seq)
    # The project's time is the database's latest change: a re-export is byte-identical.
    stamps = [r[5] for r in rows if r[5]] + [d[9] for d in documents if d[9]]
    latest = max(stamps, default=None)

    stored_codes = sorted({c.code for cs in codings.values() for c in cs})
    code_ids = list(codebook.ids) if codebook else []
    code_ids += [c for c in stored_codes if c not in code_ids]
    definitions = {c.id: c for c in codebook.codes} if codebook else {}

    # Plain tags under a default xmlns: every element is in the REFI-QDA namespace.
    root = ET.Element("Project", {
        "xmlns": NS, "name": project_name, "origin": f"narratives {__version__}",
    })  # fmt: skip
    if latest:
        root.set("creationDateTime", _when(latest))
    users_el = ET.SubElement(root, "Users")
    for g, name in users.values():
        ET.SubElement(users_el, "User", {"guid": g, "name": name})
    if not users:
        root.remove(users_el)
    codes_el = ET.SubElement(ET.SubElement(root, "CodeBook"), "Codes")
    for i, code in enumerate(code_ids):
        el = ET.SubElement(codes_el, "Code", {
            "guid": guid("code", code), "name": code, "isCodable": "true",
            "color": PALETTE[i % len(PALETTE)],
        })  # fmt: skip
        if code in definitions:
            ET.SubElement(el, "Description").text = _code_description(definitions[code])
    variables_el = ET.SubElement(root, "Variables")
    for name, kind in VARIABLES:
        ET.SubElement(variables_el, "Variable", {
            "guid": guid("variable", name), "name": name, "typeOfVariable": kind,
        })  # fmt: skip
    places: dict[str, list[str]] = {}
    for d in documents:
        if d[3]:
            places.setdefault(d[3], []).append(guid("document", d[0]))
    if places:
        cases_el = ET.SubElement(root, "Cases")
        for place, sources in places.items():
            case = ET.SubElement(cases_el, "Case", {"guid": guid("case", place), "name": place})
            for g in sources:
                ET.SubElement(case, "SourceRef", {"targetGUID": g})
    sources_el = ET.SubElement(root, "Sources")
    texts: dict[str, str] = {}
    by_document: dict[str, list[str]] = {}
    for pid, (doc, *_rest) in spans.items():
        by_document.setdefault(doc, []).append(pid)
    n_selections = n_codings = 0
    for doc, path, title, place, project, wave, day, role, text, loaded in documents:
        g = guid("document", doc)
        texts[g] = text
        src = ET.SubElement(sources_el, "TextSource", {
            "guid": g, "name": title or PurePosixPath(path).name,
            "plainTextPath": f"internal://{g}.txt",
        })  # fmt: skip
        if loaded:
            src.set("creationDateTime", _when(loaded))
        ET.SubElement(src, "Description").text = f"{path} (document {doc})"
        for pid in sorted(by_document.get(doc, []), key=lambda p: spans[p][4]):
            _, start, end, speaker, _seq = spans[pid]
            mine = codings[pid]
            first = min(mine, key=lambda c: (c.created_at or datetime.max, c.user_key))
            sel = ET.SubElement(src, "PlainTextSelection", {
                "guid": guid("passage", pid),
                "name": f"{pid} {speaker}" if speaker else pid,
                "startPosition": str(start), "endPosition": str(end),
                "creatingUser": users[first.user_key][0],
            })  # fmt: skip
            if first.created_at:
                sel.set("creationDateTime", _when(first.created_at))
            n_selections += 1
            for c in mine:
                coding = ET.SubElement(sel, "Coding", {
                    "guid": guid("coding", pid, c.code, c.user_key),
                    "creatingUser": users[c.user_key][0],
                })  # fmt: skip
                if c.created_at:
                    coding.set("creationDateTime", _when(c.created_at))
                ET.SubElement(coding, "CodeRef", {"targetGUID": guid("code", c.code)})
                n_codings += 1
        values = {"place": place, "project": project, "wave": wave, "date": day, "role": role}
        for name, kind in VARIABLES:
            if values[name] is None:
                continue
            vv = ET.SubElement(src, "VariableValue")
            ET.SubElement(vv, "VariableRef", {"targetGUID": guid("variable", name)})
            if kind == "Date":
                ET.SubElement(vv, "DateValue").text = values[name].isoformat()
            else:
                ET.SubElement(vv, "TextValue").text = str(values[name])
    ET.indent(root)
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    _write_zip(Path(out), xml, texts, latest)
    return ExportSummary(
        Path(out), len(documents), n_selections, n_codings, len(code_ids),
        tuple(name for _, name in users.values()),
    )  # fmt: skip


def _code_description(code) -> str:
    parts = [f"{code.label}. {code.definition}"]
    if code.include:
        parts.append(f"Include: {code.include}")
    if code.exclude:
        parts.append(f"Exclude: {code.exclude}")
    return "\n\n".join(parts)


def _write_zip(out: Path, xml: bytes, texts: dict[str, str], when: datetime | None) -> None:
    stamp = (when or datetime(1980, 1, 1)).timetuple()[:6]
    stamp = max(stamp, (1980, 1, 1, 0, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        members = [("project.qde", xml)]
        members += [(f"sources/{g}.txt", t.encode("utf-8")) for g, t in texts.items()]
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    tmp.replace(out)


# ----------------------------------------------------------------------------- import


@dataclass
class _Selection:
    start: int
    end: int
    codings: list[tuple[str | None, str | None]]  # (user guid, code guid)


@dataclass
class _Source:
    guid: str
    name: str
    text: str | None
    selections: list[_Selection]
    whole_codings: int = 0


@dataclass
class _Project:
    users: dict[str, str]  # guid -> name
    codes: dict[str, str]  # guid -> name
    sources: list[_Source]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _norm_guid(value: str | None) -> str | None:
    return value.strip().strip("{}").lower() if value else None


def read_qdpx(path: Path) -> _Project:
    """The users, codes and text sources (with their text and coded selections) of a .qdpx."""
    path = Path(path)
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise QdpxError(f"{path} is not a .qdpx (ZIP) file: {e}") from e
    with z:
        names = {n.lower(): n for n in z.namelist()}
        qde = names.get("project.qde") or next(
            (n for low, n in names.items() if low.endswith(".qde")), None
        )
        if qde is None:
            raise QdpxError(f"{path} holds no project.qde; is it a REFI-QDA project export?")
        try:
            root = ET.fromstring(z.read(qde))
        except ET.ParseError as e:
            raise QdpxError(f"{path}: project.qde is not valid XML ({e})") from e
        if _local(root.tag) != "Project":
            raise QdpxError(f"{path}: project.qde's root is <{_local(root.tag)}>, not <Project>")
        users = {
            _norm_guid(u.get("guid")): u.get("name") or u.get("id") or ""
            for el in _children(root, "Users")
            for u in _children(el, "User")
        }
        codes: dict[str, str] = {}

        def walk(parent: ET.Element) -> None:
            for code in _children(parent, "Code"):
                codes[_norm_guid(code.get("guid"))] = (code.get("name") or "").strip()
                walk(code)

        for book in _children(root, "CodeBook"):
            for codes_el in _children(book, "Codes"):
                walk(codes_el)
        sources = []
        for sources_el in _children(root, "Sources"):
            for el in sources_el:
                kind = _local(el.tag)
                if kind == "TextSource":
                    sources.append(_text_source(el, el.get("name"), z, names))
                elif kind == "PDFSource":  # coded through its plain-text representation
                    for rep in _children(el, "Representation"):
                        sources.append(_text_source(rep, el.get("name"), z, names))
    return _Project(users, codes, sources)


def _text_source(el: ET.Element, name: str | None, z: zipfile.ZipFile, names: dict) -> _Source:
    text = None
    content = _children(el, "PlainTextContent")
    if content:
        text = content[0].text or ""
    elif el.get("plainTextPath"):
        ref = el.get("plainTextPath")
        member = ref.split("://", 1)[-1].lstrip("/")
        for candidate in (f"sources/{member}", member, f"sources/{PurePosixPath(member).name}"):
            if candidate.lower() in names:
                text = z.read(names[candidate.lower()]).decode("utf-8-sig", errors="replace")
                break
    selections = []
    for sel in _children(el, "PlainTextSelection"):
        try:
            start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
        except (TypeError, ValueError):
            continue
        default_user = _norm_guid(sel.get("creatingUser"))
        pairs = []
        for coding in _children(sel, "Coding"):
            refs = _children(coding, "CodeRef")
            user = _norm_guid(coding.get("creatingUser")) or default_user
            pairs.append((user, _norm_guid(refs[0].get("targetGUID")) if refs else None))
        if pairs:
            selections.append(_Selection(min(start, end), max(start, end), pairs))
    return _Source(
        _norm_guid(el.get("guid")) or "", (name or el.get("name") or "").strip(), text,
        selections, len(_children(el, "Coding")),
    )  # fmt: skip


def _match_documents(con: duckdb.DuckDBPyConnection, sources: list[_Source]):
    """source guid -> (document_id, how: 'text' | 'name', document text)."""
    docs = con.execute("SELECT document_id, path, title, text FROM documents").fetchall()
    by_hash: dict[str, tuple[str, str]] = {}
    by_name: dict[str, set[str]] = {}
    text_of = {}
    for doc, path, title, text in docs:
        text_of[doc] = text
        by_hash.setdefault(hashlib.sha256(text.encode("utf-8")).hexdigest(), (doc, text))
        pure = PurePosixPath(path.replace("\\", "/"))
        for name in {doc, path, pure.name, pure.stem, title}:
            if name:
                by_name.setdefault(name.strip().lower(), set()).add(doc)
    matches = {}
    for src in sources:
        if src.text is not None:
            hit = by_hash.get(hashlib.sha256(src.text.encode("utf-8")).hexdigest())
            if hit:
                matches[src.guid] = (hit[0], "text", hit[1])
                continue
        named = by_name.get(src.name.lower(), set())
        if len(named) == 1:
            doc = next(iter(named))
            matches[src.guid] = (doc, "name", text_of[doc])
    return matches


def _anchor(sel: _Selection, src_text: str | None, doc_text: str) -> tuple[int, int]:
    """The selection's span in the stored text: as given when the texts are the same; else
    where the selected words occur in the stored text, nearest the given position."""
    if src_text is None or src_text == doc_text:
        return sel.start, sel.end
    words = src_text[sel.start : sel.end]
    if not words.strip():
        return sel.start, sel.end
    best, at = None, doc_text.find(words)
    while at != -1:
        if best is None or abs(at - sel.start) < abs(best - sel.start):
            best = at
        at = doc_text.find(words, at + 1)
    return (best, best + len(words)) if best is not None else (sel.start, sel.end)


def _passage_for(spans: list[tuple[str, int, int]], start: int, end: int) -> str | None:
    """The passage with exactly this span, else the one it overlaps most (first on a tie)."""
    for pid, s, e in spans:
        if s == start and e == end:
            return pid
    best, most = None, 0
    for pid, s, e in spans:
        overlap = min(e, end) - max(s, start)
        if overlap > most:
            best, most = pid, overlap
    return best


def import_qdpx(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    coder: str | None = None,
    codebook: Codebook | None = None,
) -> QdpxImportSummary:
    """Store the codings of a REFI-QDA project as human codings: all under `coder` when given,
    else under each coding's user name (the model's own codings, user "narratives model ...",
    are then skipped)."""
    from narratives.human import HumanCodingError, store_human_codings
    from narratives.review import ReviewError, check_coder

    try:
        coder = check_coder(coder) if coder is not None else None
    except ReviewError as e:
        raise QdpxError(str(e)) from e
    project = read_qdpx(path)
    known = {c: c for (c,) in con.execute("SELECT DISTINCT code FROM codings").fetchall()}
    if codebook:
        known.update({c.id: c.id for c in codebook.codes})
        known.update({c.label.lower(): c.id for c in codebook.codes})
    known.update({k.lower(): v for k, v in list(known.items())})
    matches = _match_documents(con, project.sources)
    rows: dict[str, list[tuple[str, str]]] = {}
    unmatched, unknown_codes, no_user = [], {}, 0
    unplaced = model_codings = whole = 0
    for src in project.sources:
        whole += src.whole_codings
        if src.guid not in matches:
            if src.selections:
                unmatched.append(src.name or src.guid)
            continue
        doc, _, doc_text = matches[src.guid]
        spans = con.execute(
            "SELECT passage_id, start_char, end_char FROM passages WHERE document_id = ? "
            "ORDER BY seq",
            [doc],
        ).fetchall()
        for sel in src.selections:
            pid = _passage_for(spans, *_anchor(sel, src.text, doc_text))
            for user, code_guid in sel.codings:
                name = project.codes.get(code_guid, "")
                code = known.get(name) or known.get(name.lower())
                if code is None:
                    label = name or f"(code {code_guid})"
                    unknown_codes[label] = unknown_codes.get(label, 0) + 1
                    continue
                who = coder
                if who is None:
                    user_name = project.users.get(user, "").strip()
                    if user_name.startswith(MODEL_USER):
                        model_codings += 1
                        continue
                    if not user_name:
                        no_user += 1
                        continue
                    who = user_name
                if pid is None:
                    unplaced += 1
                    continue
                rows.setdefault(who, []).append((pid, code))
    if no_user:
        raise QdpxError(
            f"{path}: {no_user} codings name no user; give --coder NAME to store them as yours"
        )
    if not matches:
        names = ", ".join(s.name for s in project.sources[:5]) or "none"
        raise QdpxError(
            f"none of the {len(project.sources)} text sources in {path} matches a stored "
            f"document by text or name (sources: {names}); was it exported from this database?"
        )
    stored = 0
    passages = set()
    for who, pairs in rows.items():
        try:
            n, _unknown = store_human_codings(con, pairs, who, str(path))
        except HumanCodingError as e:
            raise QdpxError(f"user '{who}' in {path}: {e}; give --coder NAME") from e
        stored += n
        passages |= {(who, p) for p, _ in pairs}
    return QdpxImportSummary(
        stored=stored,
        passages=len(passages),
        coders=tuple(rows),
        sources=len(project.sources),
        matched=tuple(
            (s.name, matches[s.guid][0], matches[s.guid][1])
            for s in project.sources
            if s.guid in matches
        ),
        unmatched=tuple(unmatched),
        unplaced=unplaced,
        unknown_codes=unknown_codes,
        model_codings=model_codings,
        whole_source=whole,
    )
