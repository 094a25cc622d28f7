"""Plain-text transcripts and reports: decoding, speaker labels, paragraphs.

Every format ends up here: docx tables become `Speaker: text` lines, PDF pages become
paragraphs, so one set of rules decides what a turn is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from narratives.records import Turn

# `[00:01:05] Dr Priya Nair: text` -- the timestamp is optional; a label is at most five words.
LABEL = re.compile(
    r"^[ \t]*(?:\[(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)\][ \t]*)?"
    r"(?P<speaker>[^\W\d_][\w.'’()\-]*(?:[ \t][\w.'’()\-]+){0,4}?)[ \t]*:[ \t]+(?P<rest>\S)"
)
PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s+of\s+\d{1,4})?\s*$", re.IGNORECASE)
HEADING_MARK = re.compile(r"^\s*#{1,6}\s")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")  # not tab, newlines, form feed


class DecodeError(ValueError):
    """The bytes are not text in any encoding we read."""


def decode(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name) for UTF-8 (with or without BOM), UTF-16 or Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    # UTF-16 without a BOM: every other byte of ASCII text is NUL.
    if len(data) >= 4 and data[1::2].count(0) > 0.4 * (len(data) // 2) and 0 not in data[0::2]:
        return data.decode("utf-16-le"), "utf-16-le"
    if b"\x00" in data:
        raise DecodeError("contains binary data (NUL bytes), not text")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError as e:
            raise DecodeError("is neither UTF-8, UTF-16 nor Windows-1252 text") from e
    controls = len(CONTROL_CHARACTERS.findall(text))
    if controls > max(2, len(text) // 100):
        raise DecodeError("looks like binary data, not text")
    return text, encoding


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_timestamp(value: str) -> float:
    """Seconds from `hh:mm:ss`, `mm:ss` or `hh:mm:ss.mmm` (comma or dot)."""
    parts = value.replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, line) for each line of `text`, offsets excluding the newline."""
    pos = 0
    for line in text.split("\n"):
        yield pos, pos + len(line), line
        pos += len(line) + 1


def looks_like_transcript(text: str) -> bool:
    """True when speaker labels start a good share of the paragraphs (two speakers at least)."""
    speakers = [m.group("speaker") for _, _, line in _lines(text) if (m := LABEL.match(line))]
    paragraphs = max(1, len([p for p in re.split(r"\n\s*\n", text) if p.strip()]))
    return len(set(speakers)) >= 2 and len(speakers) >= 0.4 * paragraphs


def _is_heading(line: str) -> bool:
    return bool(HEADING_MARK.match(line))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def turns_from_transcript(text: str, page: int | None = None) -> list[Turn]:
    """Turns of a labelled transcript: a turn runs until a blank line or the next label.

    Unlabelled paragraphs after a turn continue that speaker (a long answer in several
    paragraphs); unlabelled paragraphs before the first label have no speaker.
    """
    turns: list[Turn] = []
    speaker: str | None = None
    start = end = -1
    stamp: float | None = None

    def close() -> None:
        nonlocal start
        if start >= 0:
            s, e = _trim(text, start, end)
            if e > s:
                turns.append(Turn(speaker, s, e, start_time=stamp, page=page))
        start = -1

    for line_start, line_end, line in _lines(text):
        if not line.strip() or PAGE_NUMBER.match(line) or _is_heading(line):
            close()
            continue
        m = LABEL.match(line)
        if m:
            close()
            speaker = m.group("speaker").strip()
            stamp = parse_timestamp(m.group("ts")) if m.group("ts") else None
            start, end = line_start + m.start("rest"), line_end
        elif start >= 0:
            end = line_end
        else:
            stamp = None
            start, end = line_start, line_end
    close()
    return turns


def _heading_like(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 10 and line.rstrip()[-1:] not in '.?!:;,"”’)'


def turns_from_paragraphs(text: str, page: int | None = None) -> list[Turn]:
    """Turns of report prose: paragraphs separated by blank lines, with headings and page
    numbers left out. Short unpunctuated lines at the start of a paragraph are headings (PDF
    text often has no blank line between a heading and its paragraph)."""
    turns: list[Turn] = []
    block: list[tuple[int, int, str]] = []

    def close() -> None:
        lines = list(block)
        block.clear()
        while lines and _heading_like(lines[0][2]):
            lines.pop(0)
        if lines:
            s, e = _trim(text, lines[0][0], lines[-1][1])
            if e > s:
                turns.append(Turn(None, s, e, page=page))

    for line_start, line_end, line in _lines(text):
        if not line.strip() or PAGE_NUMBER.match(line) or _is_heading(line):
            close()
        else:
            block.append((line_start, line_end, line))
    close()
    return turns


def turns_from_text(text: str, page: int | None = None) -> list[Turn]:
    """Turns of any plain text: a transcript when it has speaker labels, else paragraphs."""
    if looks_like_transcript(text):
        return turns_from_transcript(text, page)
    return turns_from_paragraphs(text, page)
