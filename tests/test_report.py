"""The HTML report: figures computed from the tables, citations, escaping, and the page as
headless Chromium renders it (charts drawn, no script errors, a screenshot)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.codebook import load_codebook
from narratives.report import Excerpt, collect_report_data, render_report, write_report
from narratives.settings import Settings
from tests.conftest import ROOT

CODEBOOK = ROOT / "data/codebooks/systems-leadership.yaml"

# Each sample document's participants as the report names them (narratives.pseudonymise).
PSEUDONYMS = {
    ("ashby_vale_baseline_dph.txt", "Dr Helen Marsh"): "[Director of public health, Ashby Vale]",
    ("ashby_vale_followup_dph_enabler.docx", "Dr Helen Marsh"):
        "[Director of public health, Ashby Vale]",
    ("ashby_vale_followup_dph_enabler.docx", "Tom Reid"): "[Participant 2, Ashby Vale]",
    ("kelsham_baseline_enabler.md", "Grace Adeyemi"): "[Enabler, Kelsham]",
    ("kelsham_followup_meeting.vtt", "Grace Adeyemi"): "[Enabler, Kelsham]",
    ("kelsham_followup_meeting.vtt", "Marcus Bell"): "[Participant 2, Kelsham]",
    ("northmoor_baseline_gp.srt", "Dr Priya Nair"): "[GP, Northmoor]",
    ("northmoor_followup_vcs.docx", "Janet Okonkwo"): "[Voluntary sector lead, Northmoor]",
    ("northmoor_followup_vcs.docx", "Dave Hollins"): "[Participant 3, Northmoor]",
}  # fmt: skip


@pytest.fixture(scope="module")
def coded_db(coded_sample_db: Path) -> Path:
    """data/sample, coded by the real pipeline (this module's own copy)."""
    return coded_sample_db


@pytest.fixture(scope="module")
def con(coded_db):
    con = duckdb.connect(str(Settings.from_env(db=coded_db).read_db), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def data(con, coded_db):
    return collect_report_data(con, CODEBOOK, real_names=False, db_label=str(coded_db))


@pytest.fixture(scope="module")
def page(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    out.write_text(render_report(data), encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- figures


def test_groups_waves_and_codes_follow_the_data(data, con):
    assert data.places == ("Ashby Vale", "Kelsham", "Northmoor")
    assert data.waves == ("baseline", "follow-up")  # baseline documents are dated earlier
    assert data.codes == tuple(load_codebook(CODEBOOK).ids)
    expected = dict(
        ((place, wave), n)
        for place, wave, n in con.execute(
            "SELECT d.place, d.wave, count(*) FROM passages p JOIN documents d "
            "USING (document_id) WHERE NOT p.is_interviewer GROUP BY ALL"
        ).fetchall()
    )
    assert data.totals == expected
    assert data.documents == 7


def test_prevalence_counts_distinct_participant_passages_with_model_codings(data, con):
    rows = con.execute(
        "SELECT d.place, d.wave, c.code, count(DISTINCT c.passage_id) FROM codings c "
        "JOIN passages p USING (passage_id) JOIN documents d ON d.document_id = p.document_id "
        "WHERE c.source = 'model' AND NOT p.is_interviewer GROUP BY ALL"
    ).fetchall()
    assert data.counts == {(p, w, c): n for p, w, c, n in rows}
    for (place, wave, code), n in data.counts.items():
        assert data.share(place, wave, code) == n / data.totals[(place, wave)]


def test_change_is_follow_up_minus_baseline_per_place(data):
    changes = data.changes()
    assert len(changes) == 3 * len(data.codes)
    for place, first, last, code, delta in changes:
        assert (first, last) == ("baseline", "follow-up")
        expected = data.share(place, "follow-up", code) - data.share(place, "baseline", code)
        assert delta == pytest.approx(expected)


def test_cooccurrence_is_symmetric_and_its_diagonal_counts_each_code(data):
    for (a, b), n in data.cooccurrence.items():
        assert data.cooccurrence[(b, a)] == n
    for code in data.codes:
        total = sum(n for (_, _, c), n in data.counts.items() if c == code)
        assert data.cooccurrence.get((code, code), 0) == total


def test_excerpts_are_the_three_strongest_documents_per_code(data, con):
    rows = con.execute(
        "SELECT c.code, c.score, c.passage_id, p.document_id FROM codings c "
        "JOIN passages p USING (passage_id) WHERE c.source = 'model' AND NOT p.is_interviewer"
    ).fetchall()
    for code in data.codes:
        best: dict[str, tuple[float, str]] = {}
        for c, score, pid, doc in rows:
            if c == code and (doc not in best or score > best[doc][0]):
                best[doc] = (score, pid)
        expected = sorted(best.values(), key=lambda t: -t[0])[:3]
        got = data.excerpts[code]
        assert [x.passage_id for x in got] == [pid for _, pid in expected]
        assert len({x.document_id for x in got}) == len(got)


def test_excerpt_citations_name_place_role_title_pseudonym_and_time_or_page(data, con):
    for excerpts in data.excerpts.values():
        for x in excerpts:
            path, title, place, role, speaker, start, page = con.execute(
                "SELECT d.path, d.title, d.place, d.role, p.speaker, p.start_time, p.page "
                "FROM passages p JOIN documents d USING (document_id) WHERE p.passage_id = ?",
                [x.passage_id],
            ).fetchone()
            who = PSEUDONYMS[(Path(path).name, speaker)] if speaker else None
            when = None
            if start is not None:
                s = int(start)
                when = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
            elif page is not None:
                when = f"p. {page}"
            parts = [place, role, f'"{title}"', who, when]
            assert x.citation() == ", ".join(p for p in parts if p)


def test_citation_formats():
    common = dict(code="relating", score=0.5, passage_id="x-1", document_id="x", text="t")
    spoken = Excerpt(**common, title="Kelsham Connected", place="Kelsham", role="enabler",
                     speaker="[Enabler, Kelsham]", start_time=3725.4, page=None)  # fmt: skip
    report = Excerpt(**common, title="Northmoor report", place="Northmoor", role="report",
                     speaker=None, start_time=None, page=2)  # fmt: skip
    assert (
        spoken.citation() == 'Kelsham, enabler, "Kelsham Connected", [Enabler, Kelsham], 01:02:05'
    )
    assert report.citation() == 'Northmoor, report, "Northmoor report", p. 2'


def test_excerpts_hide_names_unless_real_names(data, con, coded_db):
    speakers = {s for (_, s) in PSEUDONYMS}
    parts = {p for s in speakers for p in s.split() if p != "Dr"}
    for excerpts in data.excerpts.values():
        for x in excerpts:
            assert not any(re.search(rf"\b{p}\b", x.text) for p in parts), x.text
            assert x.speaker is None or x.speaker.startswith("[")
    real = collect_report_data(con, CODEBOOK, real_names=True)
    for excerpts in real.excerpts.values():
        for x in excerpts:
            text, speaker = con.execute(
                "SELECT text, speaker FROM passages WHERE passage_id = ?", [x.passage_id]
            ).fetchone()
            assert (x.text, x.speaker) == (text, speaker)


# ----------------------------------------------------------------------------- the page


def test_page_loads_nothing_from_elsewhere(page):
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for needle in ("<link", " src=", " href=", "@import", "url(", "//cdn", "https://"):
        assert needle not in html, needle
    assert html.count("<script>") == 2


def test_text_from_the_data_is_escaped(coded_db, tmp_path):
    nasty_db = tmp_path / "nasty.duckdb"
    shutil.copy(Settings.from_env(db=coded_db).read_db, nasty_db)
    con = duckdb.connect(str(nasty_db))
    con.execute("UPDATE documents SET title = '<script>document.body.dataset.pwned=1</script>&'")
    con.execute(
        'UPDATE passages SET text = text || \' <img src=x onerror="alert(1)"> & "q"\' '
        "WHERE NOT is_interviewer"
    )
    con.close()
    out = tmp_path / "nasty.html"
    write_report(Settings.from_env(db=nasty_db), out)
    html = out.read_text(encoding="utf-8")
    assert "<img" not in html and "<script>document" not in html
    assert "&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;&amp;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;q&quot;" in html
    assert html.count("<script>") == 2


def test_cli_writes_the_report(coded_db, tmp_path, con):
    out = tmp_path / "r" / "report.html"
    result = CliRunner().invoke(main, ["report", "--out", str(out), "--db", str(coded_db)])
    assert result.exit_code == 0, result.output
    n = con.execute("SELECT count(*) FROM passages WHERE NOT is_interviewer").fetchone()[0]
    assert result.output == (
        f"Wrote {out}: 7 documents, {n} participant passages, 3 places, 2 waves, 6 codes.\n"
    )
    assert "[Enabler, Kelsham]" in out.read_text(encoding="utf-8")


def test_cli_real_names(coded_db, tmp_path):
    out = tmp_path / "report.html"
    args = ["report", "--out", str(out), "--db", str(coded_db), "--real-names"]
    assert CliRunner().invoke(main, args).exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert "Speakers are shown by their real names." in html


def test_cli_refuses_a_missing_or_empty_database(tmp_path):
    missing = tmp_path / "missing.duckdb"
    result = CliRunner().invoke(main, ["report", "--out", "x.html", "--db", str(missing)])
    assert result.exit_code == 1
    assert result.output == f"Error: {missing} does not exist yet; run `narratives run` first\n"
    from narratives.store import open_store

    empty = tmp_path / "empty.duckdb"
    with open_store(empty):
        pass
    result = CliRunner().invoke(main, ["report", "--out", "x.html", "--db", str(empty)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {empty} has 0 documents and 0 model codings: nothing to report; run "
        "`narratives run FILES --manifest manifest.csv` first\n"
    )


# ----------------------------------------------------------------------------- in Chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("CI is set but chromium is not installed: .ci/run installs it with apt-get")
    pytest.skip("chromium is not installed (apt-get install chromium); CI always runs this test")


def _headless(chromium: str, profile: Path, *args: str) -> str:
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout


class _Dom(HTMLParser):
    """Counts, per chart, the bars and heatmap cells of a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.charts: list[str] = []
        self.bars: dict[str, int] = {}
        self.cells: dict[str, int] = {}
        self.tags: dict[str, int] = {}
        self._chart: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        elif tag == "svg" and "chart" in classes:
            self.charts.append(a["data-chart"])
            self._chart.append(a["data-chart"])
        elif tag == "rect" and "bar" in classes and self._chart:
            self.bars[self._chart[-1]] = self.bars.get(self._chart[-1], 0) + 1
        elif tag == "g" and "cell" in classes and self._chart:
            self.cells[self._chart[-1]] = self.cells.get(self._chart[-1], 0) + 1

    def handle_endtag(self, tag):
        if tag == "svg" and self._chart:
            self._chart.pop()


def _render(chromium: str, page: Path, tmp_path: Path) -> _Dom:
    dom = _Dom()
    dom.feed(_headless(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()))
    return dom


def test_page_renders_its_charts_without_script_errors(chromium, page, data, tmp_path):
    dom = _render(chromium, page, tmp_path)
    assert dom.body.get("data-rendered") == "ok"
    assert dom.body.get("data-errors") is None
    assert dom.body.get("data-charts") == "3"
    assert dom.charts == ["prevalence", "change", "cooccurrence"]
    n_codes = len(data.codes)
    # 3 places x 2 waves x 6 codes; 3 places x 6 changes; a 6 x 6 heatmap.
    assert dom.bars == {"prevalence": 3 * 2 * n_codes, "change": 3 * n_codes}
    assert dom.cells == {"cooccurrence": n_codes * n_codes}
    assert dom.tags["li"] == sum(len(x) for x in data.excerpts.values())


def test_escaped_text_stays_text_in_the_browser(chromium, coded_db, tmp_path):
    nasty_db = tmp_path / "nasty.duckdb"
    shutil.copy(Settings.from_env(db=coded_db).read_db, nasty_db)
    con = duckdb.connect(str(nasty_db))
    con.execute("UPDATE documents SET title = '<script>document.body.dataset.pwned=1</script>'")
    con.execute("UPDATE passages SET speaker = '<img src=x onerror=\"alert(1)\">'")
    con.close()
    out = tmp_path / "nasty.html"
    write_report(Settings.from_env(db=nasty_db), out, real_names=True)
    dom = _render(chromium, out, tmp_path)
    assert dom.body.get("data-rendered") == "ok"
    assert "data-pwned" not in dom.body and "data-errors" not in dom.body
    assert "img" not in dom.tags and dom.tags["script"] == 2


def test_screenshot_is_a_png(chromium, page, tmp_path):
    shot = tmp_path / "report.png"
    _headless(chromium, tmp_path / "profile", "--hide-scrollbars", "--window-size=1200,2400",
              f"--screenshot={shot}", page.as_uri())  # fmt: skip
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1200, 2400)
    assert len(png) > 50_000  # charts and text, not a blank page
