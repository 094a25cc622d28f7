"""Ingest of every supported format and every bad case in tests/data (see its EXPECTED.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from narratives.ingest import IngestError, collect_inputs, ingest_batch, read_document
from narratives.settings import DEFAULT_INTERVIEWER_LABELS
from tests.conftest import BAD_FILES, DATA, GOOD_FILES

LABELS = DEFAULT_INTERVIEWER_LABELS


def turns(name: str):
    doc = read_document(DATA / name, interviewer_labels=LABELS)
    return doc, [
        (t.speaker, t.is_interviewer, " ".join(doc.text[t.start_char : t.end_char].split()))
        for t in doc.turns
    ]


# (file, speakers in order, interviewer turn numbers from 1)
TRANSCRIPTS = [
    ("interview.txt", ["Interviewer", "Dr Helen Marsh"] * 2 + ["Interviewer"], [1, 3, 5]),
    ("interview.md", ["Interviewer", "Grace Adeyemi"] * 2, [1, 3]),
    ("interview.docx", ["Interviewer", "Janet Okonkwo"] * 2, [1, 3]),
    ("table_interview.docx", ["Interviewer", "Dr Priya Nair"] * 2, [1, 3]),
    (
        "meeting.vtt",
        ["Interviewer", "Grace Adeyemi", "Marcus Bell", "Interviewer", "Grace Adeyemi"],
        [1, 4],
    ),
    ("meeting.srt", ["Interviewer", "Dr Priya Nair"] * 2, [1, 3]),
    ("utf8_bom.txt", ["Interviewer", "Renée Dubois"] * 2, [1, 3]),
    ("utf16.txt", ["Interviewer", "Renée Dubois"] * 2, [1, 3]),
    ("cp1252.txt", ["Interviewer", "Renée Dubois"] * 2, [1, 3]),
]


@pytest.mark.parametrize("name,speakers,interviewer", TRANSCRIPTS)
def test_transcript_turns(name, speakers, interviewer):
    _, found = turns(name)
    assert [s for s, _, _ in found] == speakers
    assert [i for i, (_, is_int, _) in enumerate(found, start=1) if is_int] == interviewer


def test_txt_timestamps_and_multiline_turn():
    doc, found = turns("interview.txt")
    assert [t.start_time for t in doc.turns] == [3.0, 9.0, 21.0, 26.0, 44.0]
    assert found[3][2] == (
        "We sat in the discharge lounge for two days and listened to families. They told us "
        "they had repeated their story five times, so we are piloting one assessment with a "
        "£40,000 budget."
    )


def test_docx_title_is_not_a_turn():
    _, found = turns("interview.docx")
    assert found[0][2] == "What has changed at the pantries this year?"
    assert found[3][2].startswith("Dignity. Members told us")


def test_vtt_merges_consecutive_cues_and_keeps_times():
    doc, found = turns("meeting.vtt")
    assert [(t.start_time, t.end_time) for t in doc.turns] == [
        (0.5, 4.2), (4.8, 19.0), (19.7, 24.3), (25.0, 27.4), (28.0, 33.5)
    ]  # fmt: skip
    assert found[1][2] == (
        "Two of them worked and one didn't. The men's breakfast on Brookside grew from six to "
        "thirty regulars. The carers' hour at the library didn't work, so we redesigned it "
        "with carers."
    )


def test_srt_unlabelled_cues_continue_the_speaker():
    doc, found = turns("meeting.srt")
    assert [(t.start_time, t.end_time) for t in doc.turns] == [
        (1.0, 4.0), (4.5, 13.5), (14.0, 17.0), (17.5, 23.0)
    ]  # fmt: skip
    assert found[3][2] == (
        "How much unclaimed income there was. About two thousand pounds a year per household."
    )


@pytest.mark.parametrize(
    "name,encoding",
    [("utf8_bom.txt", "utf-8-sig"), ("utf16.txt", "utf-16"), ("cp1252.txt", "cp1252")],
)
def test_encodings_decode_exactly(name, encoding):
    doc, found = turns(name)
    assert doc.encoding == encoding
    assert found[1][2] == (
        "Honestly, it’s the café – “really” it is. People come for a coffee and stay for the "
        "conversation."
    )
    assert found[3][2] == "Older men who live alone, and carers who need an hour’s break."
    assert "\r" not in doc.text


def test_pdf_pages_without_footers_or_headings():
    doc, found = turns("report.pdf")
    assert [t.page for t in doc.turns] == [1, 2]
    assert found[0][2].startswith("Home First is a partnership between Ashby Vale Council")
    assert found[0][2].endswith("as many as five different professionals.")
    assert found[1][2].startswith("A single trusted assessment was piloted on two wards")
    assert all("Page " not in text for _, _, text in found)


def test_report_txt_is_paragraphs_without_speakers():
    _, found = turns("report.txt")
    assert len(found) == 3
    assert all(s is None and not i for s, i, _ in found)
    assert len(found[1][2].split()) == 243


def test_turn_offsets_point_into_the_document_text():
    for name, *_ in TRANSCRIPTS:
        doc = read_document(DATA / name)
        for t in doc.turns:
            span = doc.text[t.start_char : t.end_char]
            assert span and span == span.strip()
            assert not span.startswith(f"{t.speaker}:")


EXPECTED_REASONS = {
    "empty.txt": "is empty (0 bytes)",
    "whitespace.txt": "contains no text to code",
    "binary_junk.txt": "contains binary data (NUL bytes), not text",
    "not_really.pdf": "has a .pdf extension but is not a PDF (no %PDF header)",
    "corrupt.docx": "is not a readable Word (.docx) file",
    "corrupt.pdf": "is not a readable PDF",
    "broken.vtt": "missing the 'WEBVTT' header on the first line",
    "notes.xlsx": "unsupported format '.xlsx'",
    "slides.pptx": "unsupported format '.pptx'",
    "scanned.pdf": "is a PDF with no extractable text (a scan?)",
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_is_rejected_with_its_reason(name):
    with pytest.raises(IngestError) as caught:
        read_document(DATA / "bad" / name)
    assert caught.value.path.endswith(name)
    assert caught.value.reason.startswith(EXPECTED_REASONS[name])


def test_vtt_with_a_cue_missing_its_timing_names_the_line(tmp_path: Path):
    bad = tmp_path / "x.vtt"
    bad.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v A>Hi</v>\n\nno timing here\n")
    with pytest.raises(IngestError, match="cue at line 6 has no valid timing line"):
        read_document(bad)


def test_a_batch_loads_the_good_files_and_reports_each_bad_one():
    paths = [DATA / name for name in GOOD_FILES] + [DATA / "bad"]
    docs, rejected = ingest_batch(paths, DATA / "manifest.csv", LABELS)
    assert len(docs) == 11
    assert sorted(Path(r.path).name for r in rejected) == BAD_FILES
    by_name = {Path(d.path).name: d for d in docs}
    assert by_name["meeting.vtt"].attributes.place == "Kelsham"
    assert by_name["meeting.vtt"].attributes.wave == "follow-up"
    assert by_name["table_interview.docx"].attributes.role == "GP"


def test_manifest_row_without_its_file_is_reported(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Interviewer: Hi\n\nAnn: Hello there.\n")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,place\na.txt,Kelsham\nmissing.txt,Kelsham\n")
    inputs, errors = collect_inputs([tmp_path], manifest)
    assert [i.path.name for i in inputs] == ["a.txt"]
    assert [(Path(e.path).name, e.reason) for e in errors] == [
        ("missing.txt", "listed in the manifest but not found")
    ]
