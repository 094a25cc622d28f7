"""Report: one self-contained HTML page of the coded evidence, for researchers and report authors.

The page holds four views, computed from the base tables (documents, passages, codings with
source = 'model', participant passages only):

- prevalence: the share of each place's and wave's participant passages coded with each code;
- change: per place, that share in its last wave minus its first (waves ordered by date);
- co-occurrence: how many participant passages carry both of two codes;
- excerpts: the three strongest passages per code, at most one per document, with citations.

Charts are inline SVG drawn here; the page loads nothing (no scripts, fonts or styles from
elsewhere), so it opens offline and can be mailed as one file. Every text from the data is
escaped. People's names (speakers, and their names in the quoted text) are replaced by the
pseudonyms of `narratives.pseudonymise` unless real names are asked for.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from narratives import __version__
from narratives.codebook import Codebook
from narratives.excerpts import citation
from narratives.pseudonymise import pseudonymiser_for
from narratives.settings import Settings

NO_PLACE = "(no place)"
NO_WAVE = "(no wave)"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000",
)  # fmt: skip
EXCERPTS_PER_CODE = 3


class ReportError(RuntimeError):
    """The database holds nothing a report can be made from."""


@dataclass(frozen=True)
class Excerpt:
    """One passage quoted as evidence for a code, with what is needed to cite it."""

    code: str
    score: float
    passage_id: str
    document_id: str
    text: str
    title: str
    place: str
    role: str | None
    speaker: str | None
    start_time: float | None
    page: int | None

    def citation(self) -> str:
        """As everywhere in narratives (`narratives.excerpts.citation`): place, role, "title",
        speaker, then `hh:mm:ss` or `p. N`, whichever are known."""
        return citation(self.place, self.role, self.title, self.speaker, self.start_time, self.page)


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, computed once from the database."""

    db: str
    codes: tuple[str, ...]
    labels: dict[str, str]
    places: tuple[str, ...]
    waves: tuple[str, ...]  # ordered by the earliest date of their documents
    # (place, wave) -> participant passages; only groups that have any
    totals: dict[tuple[str, str], int]
    # (place, wave, code) -> participant passages coded with the code
    counts: dict[tuple[str, str, str], int]
    # (code, code) -> participant passages coded with both (diagonal: with the code)
    cooccurrence: dict[tuple[str, str], int]
    excerpts: dict[str, tuple[Excerpt, ...]]
    documents: int
    model_ids: tuple[str, ...]
    real_names: bool = False
    generated_at: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))

    def share(self, place: str, wave: str, code: str) -> float | None:
        total = self.totals.get((place, wave))
        if not total:
            return None
        return self.counts.get((place, wave, code), 0) / total

    def waves_of(self, place: str) -> list[str]:
        return [w for w in self.waves if (place, w) in self.totals]

    def changes(self) -> list[tuple[str, str, str, str, float]]:
        """(place, first wave, last wave, code, share in last - share in first) for every
        place seen in at least two waves."""
        rows = []
        for place in self.places:
            waves = self.waves_of(place)
            if len(waves) < 2:
                continue
            first, last = waves[0], waves[-1]
            for code in self.codes:
                delta = self.share(place, last, code) - self.share(place, first, code)
                rows.append((place, first, last, code, delta))
        return rows


# ----------------------------------------------------------------------------- data


def collect_report_data(
    con: duckdb.DuckDBPyConnection,
    codebook_path: Path | Codebook | None = None,
    real_names: bool = False,
    db_label: str = "",
) -> ReportData:
    """The report's figures and excerpts from an open (read-only) connection; codes in the
    order of `codebook_path` (a codebook, or its file), with its labels."""
    n_docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    n_coded = con.execute("SELECT count(*) FROM codings WHERE source = 'model'").fetchone()[0]
    if not n_docs or not n_coded:
        raise ReportError(
            f"{db_label or 'the database'} has {n_docs} documents and {n_coded} model codings: "
            "nothing to report; run `narratives run FILES --manifest manifest.csv` first"
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW report_part AS
        SELECT p.passage_id, p.document_id, coalesce(d.place, '{NO_PLACE}') AS place,
               coalesce(d.wave, '{NO_WAVE}') AS wave
        FROM passages p JOIN documents d USING (document_id)
        WHERE NOT p.is_interviewer;
        CREATE OR REPLACE TEMP VIEW report_coded AS
        SELECT DISTINCT c.passage_id, c.code FROM codings c JOIN report_part USING (passage_id)
        WHERE c.source = 'model';
        """
    )
    totals = {
        (place, wave): n
        for place, wave, n in con.execute(
            "SELECT place, wave, count(*) FROM report_part GROUP BY ALL"
        ).fetchall()
    }
    counts = {
        (place, wave, code): n
        for place, wave, code, n in con.execute(
            "SELECT place, wave, code, count(*) FROM report_coded JOIN report_part "
            "USING (passage_id) GROUP BY ALL"
        ).fetchall()
    }
    cooccurrence = {
        (a, b): n
        for a, b, n in con.execute(
            "SELECT a.code, b.code, count(*) FROM report_coded a JOIN report_coded b "
            "USING (passage_id) GROUP BY ALL"
        ).fetchall()
    }
    waves = tuple(
        w
        for (w,) in con.execute(
            f"SELECT coalesce(wave, '{NO_WAVE}') AS w FROM documents "
            "GROUP BY w ORDER BY min(date) NULLS LAST, w"
        ).fetchall()
        if any(key[1] == w for key in totals)
    )
    places = tuple(sorted({p for p, _ in totals}))
    stored_codes = sorted({c for _, _, c in counts})
    codes, labels = _codes_and_labels(codebook_path, stored_codes)
    model_ids = tuple(
        m
        for (m,) in con.execute(
            "SELECT DISTINCT model_id FROM codings WHERE source = 'model' AND model_id IS NOT NULL "
            "ORDER BY 1"
        ).fetchall()
    )
    return ReportData(
        db=db_label,
        codes=codes,
        labels=labels,
        places=places,
        waves=waves,
        totals=totals,
        counts=counts,
        cooccurrence=cooccurrence,
        excerpts=_top_excerpts(con, codes, real_names),
        documents=n_docs,
        model_ids=model_ids,
        real_names=real_names,
    )


def _codes_and_labels(
    codebook_path: Path | Codebook | None, stored: Sequence[str]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The codebook's codes in its order, then any other stored code; labels where known."""
    from narratives.codebook import CodebookError, load_codebook

    order: list[str] = []
    labels: dict[str, str] = {}
    cb = codebook_path if isinstance(codebook_path, Codebook) else None
    if codebook_path is not None and cb is None:
        try:
            cb = load_codebook(codebook_path)
        except CodebookError:
            cb = None
    if cb is not None:
        order = cb.ids
        labels = {c.id: c.label for c in cb.codes}
    order += [c for c in stored if c not in order]
    return tuple(order), {c: labels.get(c, c) for c in order}


def _top_excerpts(
    con: duckdb.DuckDBPyConnection, codes: Sequence[str], real_names: bool
) -> dict[str, tuple[Excerpt, ...]]:
    rows = con.execute(
        f"""
        WITH best AS (
            SELECT c.code, c.score, p.passage_id, p.document_id, p.text, p.speaker,
                   p.start_time, p.page, p.seq,
                   coalesce(d.title, d.path) AS title, coalesce(d.place, '{NO_PLACE}') AS place,
                   d.role,
                   row_number() OVER (PARTITION BY c.code, p.document_id
                                      ORDER BY c.score DESC, p.seq) AS in_document
            FROM codings c
            JOIN passages p USING (passage_id)
            JOIN documents d ON d.document_id = p.document_id
            WHERE c.source = 'model' AND NOT p.is_interviewer
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY code
                                         ORDER BY score DESC, passage_id) AS rank
            FROM best WHERE in_document = 1
        )
        SELECT code, score, passage_id, document_id, text, title, place, role, speaker,
               start_time, page
        FROM ranked WHERE rank <= {EXCERPTS_PER_CODE} ORDER BY code, rank
        """
    ).fetchall()
    pseudonyms = None if real_names else pseudonymiser_for(con)
    out: dict[str, list[Excerpt]] = {c: [] for c in codes}
    for code, score, pid, doc, text, title, place, role, speaker, start, page in rows:
        if pseudonyms is not None:
            text = pseudonyms.apply(text, doc)
            speaker = pseudonyms.speaker(speaker, doc)
        out.setdefault(code, []).append(
            Excerpt(code, score, pid, doc, text, title, place, role, speaker, start, page)
        )
    return {c: tuple(v) for c, v in out.items()}


# ----------------------------------------------------------------------------- charts


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _colour(codes: Sequence[str], code: str) -> str:
    return PALETTE[list(codes).index(code) % len(PALETTE)]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _nice_max(value: float, step: float) -> float:
    """The smallest multiple of `step` at or above `value` (at least one step)."""
    n = max(1, int(-(-value // step)))
    return n * step


def prevalence_chart(data: ReportData) -> str:
    """Grouped bars: for each place and wave, one bar per code (share of participant
    passages coded with it)."""
    groups = [(p, w) for p in data.places for w in data.waves_of(p)]
    codes = data.codes
    bar, gap, group_gap = 12, 2, 22
    group_w = len(codes) * (bar + gap) - gap
    left, top, plot_h, bottom = 52, 16, 220, 58
    width = left + len(groups) * (group_w + group_gap) + 10
    height = top + plot_h + bottom
    top_value = _nice_max(
        max((data.share(p, w, c) or 0.0 for p, w in groups for c in codes), default=0.0), 0.1
    )

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    parts = [_y_axis(left, width, y, [i * 0.1 for i in range(round(top_value * 10) + 1)], _pct)]
    x = left + group_gap / 2
    place_spans: dict[str, list[float]] = {}
    for place, wave in groups:
        total = data.totals[(place, wave)]
        for i, code in enumerate(codes):
            n = data.counts.get((place, wave, code), 0)
            share = n / total
            bx = x + i * (bar + gap)
            parts.append(
                f'<rect class="bar" data-code="{_e(code)}" data-place="{_e(place)}" '
                f'data-wave="{_e(wave)}" x="{bx:.1f}" y="{y(share):.1f}" width="{bar}" '
                f'height="{y(0) - y(share):.1f}" fill="{_colour(codes, code)}">'
                f"<title>{_e(place)}, {_e(wave)}: {_e(data.labels[code])}: {n} of {total} "
                f"participant passages ({_pct(share)})</title></rect>"
            )
        parts.append(
            f'<text class="tick" x="{x + group_w / 2:.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle">{_e(wave)}</text>'
        )
        place_spans.setdefault(place, []).extend([x, x + group_w])
        x += group_w + group_gap
    for place, xs in place_spans.items():
        x0, x1 = min(xs), max(xs)
        parts.append(
            f'<line class="bracket" x1="{x0:.1f}" x2="{x1:.1f}" y1="{top + plot_h + 26}" '
            f'y2="{top + plot_h + 26}"/><text class="group" x="{(x0 + x1) / 2:.1f}" '
            f'y="{top + plot_h + 42}" text-anchor="middle">{_e(place)}</text>'
        )
    label = "Share of participant passages coded with each code, by place and wave"
    return _svg("prevalence", width, height, "".join(parts), label)


def change_chart(data: ReportData) -> str:
    """Diverging bars: for each place seen in two or more waves, one bar per code (share in the
    last wave minus share in the first, in percentage points)."""
    rows = data.changes()
    places = list(dict.fromkeys(r[0] for r in rows))
    codes = data.codes
    bar, gap, group_gap = 14, 2, 48
    group_w = len(codes) * (bar + gap) - gap
    left, top, plot_h, bottom = 52, 36, 220, 48
    width = left + max(1, len(places)) * (group_w + group_gap) + 10
    height = top + plot_h + bottom
    extent = _nice_max(max((abs(r[4]) for r in rows), default=0.0), 0.1)

    def y(v: float) -> float:
        return top + plot_h / 2 - (plot_h / 2) * v / extent

    steps = round(extent * 10)
    ticks = [i * 0.1 for i in range(-steps, steps + 1)]
    parts = [_y_axis(left, width, y, ticks, lambda v: f"{100 * v:+.0f}" if v else "0")]
    pairs = {(r[1], r[2]) for r in rows}
    if len(pairs) == 1:  # every place compares the same two waves: say so once
        first, last = next(iter(pairs))
        parts.append(
            f'<text class="tick" x="{left - 40}" y="14">{_e(last)} − {_e(first)}, '
            "percentage points</text>"
        )
    parts.append(f'<line class="zero" x1="{left}" x2="{width - 10}" y1="{y(0)}" y2="{y(0)}"/>')
    x = left + group_gap / 2
    for place in places:
        for i, (_, first, last, code, delta) in enumerate(r for r in rows if r[0] == place):
            bx = x + i * (bar + gap)
            y0, y1 = sorted((y(0), y(delta)))
            parts.append(
                f'<rect class="bar" data-code="{_e(code)}" data-place="{_e(place)}" '
                f'x="{bx:.1f}" y="{y0:.1f}" width="{bar}" height="{y1 - y0:.1f}" '
                f'fill="{_colour(codes, code)}"><title>{_e(place)}: {_e(data.labels[code])}: '
                f"{100 * delta:+.0f} percentage points ({_e(last)} minus {_e(first)})"
                "</title></rect>"
            )
        parts.append(
            f'<text class="group" x="{x + group_w / 2:.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{_e(place)}</text>'
        )
        if len(pairs) > 1:  # places compare different waves: say which, under each
            first, last = data.waves_of(place)[0], data.waves_of(place)[-1]
            parts.append(
                f'<text class="tick" x="{x + group_w / 2:.1f}" y="{top + plot_h + 34}" '
                f'text-anchor="middle">{_e(last)} − {_e(first)}</text>'
            )
        x += group_w + group_gap
    if not places:
        parts.append(
            f'<text class="empty" x="{width / 2}" y="{top + plot_h / 2}" text-anchor="middle">'
            "No place has documents from two waves yet.</text>"
        )
    label = "Change per place, last wave minus first, in percentage points"
    return _svg("change", width, height, "".join(parts), label)


def cooccurrence_chart(data: ReportData) -> str:
    """Heatmap: cell (a, b) = participant passages coded with both a and b."""
    codes = data.codes
    cell, left, top = 70, 130, 30
    size = cell * len(codes)
    width, height = left + size + 10, top + size + 10
    off = [n for (a, b), n in data.cooccurrence.items() if a != b]
    peak = max(off, default=0) or 1
    parts = []
    for i, code in enumerate(codes):
        label = _e(data.labels[code])
        parts.append(
            f'<text class="tick" x="{left - 8}" y="{top + i * cell + cell / 2 + 4}" '
            f'text-anchor="end">{label}</text><text class="tick" '
            f'x="{left + i * cell + cell / 2}" y="{top - 10}" text-anchor="middle">{_e(code)}'
            "</text>"
        )
    for i, a in enumerate(codes):
        for j, b in enumerate(codes):
            n = data.cooccurrence.get((a, b), 0)
            diagonal = a == b
            fill = "#e8e8e8" if diagonal else _blue(n / peak)
            ink = "#fff" if not diagonal and n / peak > 0.55 else "#222"
            what = (
                f"{n} participant passages coded {a}"
                if diagonal
                else f"{n} participant passages coded both {a} and {b}"
            )
            parts.append(
                f'<g class="cell" data-row="{_e(a)}" data-col="{_e(b)}">'
                f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" '
                f'height="{cell - 2}" fill="{fill}"><title>{_e(what)}</title></rect>'
                f'<text x="{left + j * cell + cell / 2 - 1}" y="{top + i * cell + cell / 2 + 4}" '
                f'text-anchor="middle" fill="{ink}">{n}</text></g>'
            )
    label = "Participant passages coded with both codes (diagonal: with the code)"
    return _svg("cooccurrence", width, height, "".join(parts), label)


def _blue(t: float) -> str:
    """White to dark blue."""
    lo, hi = (247, 251, 255), (8, 69, 148)
    r, g, b = (round(a + (z - a) * max(0.0, min(1.0, t))) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _y_axis(left: int, width: int, y, ticks: Sequence[float], fmt) -> str:
    parts = []
    for v in ticks:
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{_e(fmt(v))}</text>"
        )
    return "".join(parts)


def _svg(name: str, width: float, height: float, body: str, label: str) -> str:
    return (
        f'<svg class="chart" data-chart="{name}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{_e(label)}">{body}</svg>'
    )


# ----------------------------------------------------------------------------- page


def _legend(data: ReportData) -> str:
    items = "".join(
        f'<button type="button" class="key" data-code="{_e(c)}" aria-pressed="false">'
        f'<span class="swatch" style="background:{_colour(data.codes, c)}"></span>'
        f"{_e(data.labels[c])}</button>"
        for c in data.codes
    )
    return f'<div class="legend" role="group" aria-label="Codes">{items}</div>'


def _prevalence_table(data: ReportData) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in data.codes)
    body = []
    for place in data.places:
        for wave in data.waves_of(place):
            total = data.totals[(place, wave)]
            cells = "".join(
                f"<td>{data.counts.get((place, wave, c), 0)} ({_pct(data.share(place, wave, c))})"
                "</td>"
                for c in data.codes
            )
            body.append(f"<tr><th>{_e(place)}</th><td>{_e(wave)}</td><td>{total}</td>{cells}</tr>")
    return (
        "<details><summary>Table</summary><table><thead><tr><th>place</th><th>wave</th>"
        f"<th>participant passages</th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></details>"
    )


def _change_table(data: ReportData) -> str:
    rows = data.changes()
    if not rows:
        return ""
    head = "".join(f"<th>{_e(c)}</th>" for c in data.codes)
    body = []
    for place in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == place]
        cells = "".join(f"<td>{100 * r[4]:+.0f}</td>" for r in mine)
        body.append(
            f"<tr><th>{_e(place)}</th><td>{_e(mine[0][2])} − {_e(mine[0][1])}</td>{cells}</tr>"
        )
    return (
        "<details><summary>Table (percentage points)</summary><table><thead><tr><th>place</th>"
        f"<th>waves</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></details>"
    )


def _excerpts_section(data: ReportData) -> str:
    blocks = []
    for code in data.codes:
        items = data.excerpts.get(code, ())
        quotes = (
            "".join(
                f'<li class="excerpt" data-passage="{_e(x.passage_id)}"><blockquote>'
                f'{_e(x.text)}</blockquote><p class="cite">— {_e(x.citation())} · '
                f'<span class="score">score {x.score:.2f}</span></p></li>'
                for x in items
            )
            or '<li class="none">No participant passage carries this code yet.</li>'
        )
        blocks.append(
            f'<section class="code" data-code="{_e(code)}"><h3><span class="swatch" '
            f'style="background:{_colour(data.codes, code)}"></span>{_e(data.labels[code])} '
            f'<code>{_e(code)}</code></h3><ol class="excerpts">{quotes}</ol></section>'
        )
    return "".join(blocks)


def render_report(data: ReportData) -> str:
    """The whole page as one HTML string."""
    n_part = sum(data.totals.values())
    names = (
        "Speakers are shown by their real names."
        if data.real_names
        else "People are shown as [role, place] pseudonyms, in the citations and in the text."
    )
    models = ", ".join(data.model_ids) or "unknown"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="narratives {_e(__version__)}">
<title>Coded evidence: {_e(Path(data.db).name or "narratives")}</title>
<style>{CSS}</style>
</head>
<body>
<script>{JS_ERRORS}</script>
<header>
<h1>Coded evidence</h1>
<p class="meta">{data.documents} documents, {n_part} participant passages, {len(data.places)}
places, waves {_e(", ".join(data.waves))}. Model codings (not human-reviewed) by {_e(models)}.
Generated {_e(data.generated_at)} from <code>{_e(data.db)}</code>.</p>
</header>
<main>
<section id="prevalence"><h2>How often each code appears, by place and wave</h2>
<p>Bar height: the share of a place's participant passages in a wave (interviewer turns
excluded) that the model coded with the code. Click a code to pick it out.</p>
{_legend(data)}
<div class="scroll">{prevalence_chart(data)}</div>
{_prevalence_table(data)}
</section>
<section id="change"><h2>Change between waves</h2>
<p>For each place: the share in its latest wave minus the share in its earliest wave
(waves ordered by the documents' dates), in percentage points.</p>
<div class="scroll">{change_chart(data)}</div>
{_change_table(data)}
</section>
<section id="cooccurrence"><h2>Codes that appear together</h2>
<p>Number of participant passages coded with both codes; darker is more. The diagonal holds
each code's own count.</p>
<div class="scroll">{cooccurrence_chart(data)}</div>
</section>
<section id="excerpts"><h2>Strongest excerpts per code</h2>
<p>The {EXCERPTS_PER_CODE} passages with the highest model score for each code, at most one per
document. {_e(names)}</p>
{_excerpts_section(data)}
</section>
</main>
<script>{JS_PAGE}</script>
</body>
</html>
"""


def write_report(settings: Settings, out: Path, real_names: bool = False) -> ReportData:
    """Write the HTML report of `settings.db` (read from its published copy) to `out`."""
    from narratives.query import reader_path
    from narratives.store import StoreError, connect, database_codebook

    path = reader_path(settings)
    try:
        con = connect(path, read_only=True, lock_timeout=10)
    except StoreError as e:
        raise ReportError(str(e)) from e
    try:
        codebook = database_codebook(con, settings)
        data = collect_report_data(con, codebook, real_names, str(settings.db))
    finally:
        con.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(data), encoding="utf-8")
    return data


CSS = """
:root { --ink: #1d1d1f; --muted: #5f6368; --rule: #d9d9de; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { margin: 0 0 4px; } h2 { margin-top: 40px; border-bottom: 1px solid var(--rule); }
.meta, .cite { color: var(--muted); }
.scroll { overflow-x: auto; }
svg.chart { display: block; font-size: 12px; }
svg .grid { stroke: #eee; } svg .zero { stroke: #888; } svg .bracket { stroke: #aaa; }
svg .tick { fill: var(--muted); } svg .group { fill: var(--ink); font-weight: 600; }
svg .empty { fill: var(--muted); font-style: italic; }
svg.dimmed .bar:not(.picked) { opacity: 0.15; }
.legend { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.key { font: inherit; border: 1px solid var(--rule); background: #fff; border-radius: 14px;
       padding: 2px 10px; cursor: pointer; }
.key[aria-pressed="true"] { border-color: var(--ink); font-weight: 600; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 6px;
          border-radius: 2px; vertical-align: baseline; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid var(--rule); padding: 3px 8px; text-align: left; }
details { margin: 6px 0; } summary { cursor: pointer; color: var(--muted); }
.excerpts { padding-left: 20px; } .excerpt { margin-bottom: 14px; }
blockquote { margin: 0; }
.cite { margin: 2px 0 0; font-size: 13px; } .score { font-variant-numeric: tabular-nums; }
h3 code { font-weight: 400; color: var(--muted); font-size: 13px; }
"""

# First thing in <body>: keep every script error in `data-errors`, so a headless check (and a
# curious reader's inspector) can see that the page ran cleanly.
JS_ERRORS = """
(function () {
  var errors = [];
  window.onerror = function (message, source, line) {
    errors.push(String(message) + " (line " + line + ")");
    document.body.setAttribute("data-errors", errors.join(" | "));
  };
})();
"""

# Last thing in <body>: clicking a code in the legend picks out its bars in every chart.
JS_PAGE = """
(function () {
  var keys = document.querySelectorAll(".key");
  var charts = document.querySelectorAll("svg.chart");
  function pick(code) {
    keys.forEach(function (k) {
      k.setAttribute("aria-pressed", String(k.dataset.code === code));
    });
    charts.forEach(function (svg) {
      svg.classList.toggle("dimmed", code !== null);
      svg.querySelectorAll(".bar").forEach(function (bar) {
        bar.classList.toggle("picked", bar.dataset.code === code);
      });
    });
  }
  keys.forEach(function (k) {
    k.addEventListener("click", function () {
      pick(k.getAttribute("aria-pressed") === "true" ? null : k.dataset.code);
    });
  });
  document.body.dataset.charts = String(charts.length);
  document.body.dataset.rendered = "ok";
})();
"""
