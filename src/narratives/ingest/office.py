"""Word documents and PDF reports, turned into text the plain-text rules can read."""

from __future__ import annotations

import io

from narratives.ingest.text import turns_from_text
from narratives.records import Turn


class OfficeError(ValueError):
    """A .docx or .pdf file that cannot be read."""


def _docx_table_lines(table) -> list[str]:
    """A two-column table is a transcript (speaker | text); other tables give their cells."""
    rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
    lines: list[str] = []
    for row in rows:
        cells = [c for i, c in enumerate(row) if c and (i == 0 or c != row[i - 1])]
        if len(row) == 2 and row[0] and len(row[0].split()) <= 5 and row[1]:
            if row[0].lower() == "speaker" and row[1].lower() in ("text", "speech", "transcript"):
                continue
            lines.append(f"{row[0]}: {row[1]}")
        else:
            lines.extend(cells)
    return lines


def text_from_docx(data: bytes) -> str:
    """Paragraphs and tables of a .docx in document order, one paragraph per block."""
    import docx  # python-docx; imported here to keep start-up fast
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                if item.text.strip():
                    # Headings become Markdown headings: kept in the text, never a passage.
                    style = (item.style.name if item.style is not None else "").lower()
                    heading = style.startswith(("heading", "title", "subtitle"))
                    blocks.append(("# " if heading else "") + item.text.strip())
            elif isinstance(item, Table):
                blocks.extend(_docx_table_lines(item))
    except Exception as e:  # python-docx raises many kinds for a damaged package
        raise OfficeError(f"is not a readable Word (.docx) file ({type(e).__name__}: {e})") from e
    return "\n\n".join(blocks)


def pages_from_pdf(data: bytes) -> list[str]:
    """The extracted text of each page (index 0 is page 1)."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs warnings about damaged files; the rejection message says it all.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = [(page.extract_text() or "") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise OfficeError(f"is not a readable PDF ({type(e).__name__}: {e})") from e
    if not any(p.strip() for p in pages):
        raise OfficeError(
            "is a PDF with no extractable text (a scan?); run OCR on it or supply a text version"
        )
    return pages


def transcript_from_pdf(data: bytes) -> tuple[str, list[Turn]]:
    """Document text with pages separated by form feeds, and turns that carry their page."""
    pages = pages_from_pdf(data)
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for number, page_text in enumerate(pages, start=1):
        page_text = page_text.replace("\r\n", "\n").replace("\r", "\n")
        for turn in turns_from_text(page_text, page=number):
            turns.append(
                Turn(turn.speaker, turn.start_char + pos, turn.end_char + pos, page=number)
            )
        parts.append(page_text)
        pos += len(page_text) + 3
    return "\n\f\n".join(parts), turns
