"""One record as a PDF, laid out with reportlab's platypus.

The page shows the title, a "generated at" line, the record's fields as a two-column table and,
when given, a data table whose header row repeats on every page; each page's footer names the
record and says "Page n of m". Text is real text (extractable, e.g. with pypdf).

User text is never markup: every string is XML-escaped before it reaches a Paragraph, whose
mini-language would otherwise read `<b>`, `<font>`, `&...;` and `<a href>` in it.

Font: reportlab's Base-14 fonts (Helvetica...) only cover WinAnsi and draw anything else as a
black box, so the text is set in Bitstream Vera, which reportlab ships and embeds as a subset.
Its limitation: Vera covers Latin-1 and some of Latin Extended-A, Western punctuation, the
euro sign and a few symbols (283 characters); no Greek (except π, Ω), Cyrillic, CJK,
Arabic, Hebrew or emoji. A character Vera lacks is shown as its unaccented base letter when it
has one ("ő" as "o") and otherwise as "?", so the PDF never holds invisible or
unextractable glyphs. Other scripts need a wider TTF font, which is not configurable yet.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

FONT = "OffloadVera"
BOLD = "OffloadVera-Bold"
FONT_FILES = {
    FONT: "Vera.ttf",
    BOLD: "VeraBd.ttf",
    "OffloadVera-Italic": "VeraIt.ttf",
    "OffloadVera-BoldItalic": "VeraBI.ttf",
}
MARGIN = 18 * mm
LANDSCAPE_FROM_COLUMNS = 7
HEADER_FILL = colors.HexColor("#DCE6F1")
STRIPE_FILL = colors.HexColor("#F5F7FA")
GRID = colors.HexColor("#B7C3D0")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@cache
def _fonts() -> frozenset[int]:
    """Register the Vera family once; the code points it can draw."""
    for name, filename in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, filename))
    pdfmetrics.registerFontFamily(
        FONT,
        normal=FONT,
        bold=BOLD,
        italic="OffloadVera-Italic",
        boldItalic="OffloadVera-BoldItalic",
    )
    face = pdfmetrics.getFont(FONT).face
    return frozenset(face.charToGlyph)


def printable(text: str) -> str:
    """`text` with only characters the font can draw (see the module notes)."""
    drawable = _fonts()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", text))
    if all(ord(ch) in drawable for ch in text):
        return text
    return "".join(ch if ord(ch) in drawable else _substitute(ch, drawable) for ch in text)


def _substitute(ch: str, drawable: frozenset[int]) -> str:
    if ch in "\n\t":
        return ch
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and all(ord(c) in drawable for c in base):
        return base
    return "?"


def markup(text: str) -> str:
    """User text as Paragraph markup that shows exactly that text."""
    return escape(printable(text)).replace("\n", "<br/>").replace("\t", " " * 4)


def display(value: Any) -> str:
    """A JSON scalar as it should read on the page."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_pdf(
    *,
    record_id: str,
    title: str,
    fields: Mapping[str, Any],
    table: Mapping[str, Sequence[Any]] | None = None,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """The record's PDF, as bytes (params bound it to at most 2,000 rows x 20 columns)."""
    _fonts()
    generated_at = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    columns = list(table["columns"]) if table else []
    pagesize = landscape(A4) if len(columns) >= LANDSCAPE_FROM_COLUMNS else A4
    width = pagesize[0] - 2 * MARGIN
    styles = _styles()
    story: list[Flowable] = [
        Paragraph(markup(title), styles["title"]),
        Paragraph(
            markup(f"Record {record_id} · generated {generated_at:%Y-%m-%d %H:%M:%S} UTC"),
            styles["meta"],
        ),
        Spacer(1, 4 * mm),
    ]
    if fields:
        story.append(_fields_table(fields, width, styles))
    if table is not None:
        story += [Spacer(1, 6 * mm), _data_table(columns, table["rows"], width, styles)]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=printable(title),
        author="Offload",
        subject=printable(f"Record {record_id}"),
    )
    footer = printable(f"Record {record_id}")
    document.build(story, canvasmaker=lambda *a, **kw: _NumberedCanvas(*a, footer=footer, **kw))
    return buffer.getvalue()


def _styles() -> dict[str, ParagraphStyle]:
    return {
        "title": ParagraphStyle("title", fontName=BOLD, fontSize=18, leading=22, spaceAfter=4),
        "meta": ParagraphStyle("meta", fontName=FONT, fontSize=9, leading=11,
                               textColor=colors.HexColor("#555555")),
        "cell": ParagraphStyle("cell", fontName=FONT, fontSize=8.5, leading=10.5),
        "head": ParagraphStyle("head", fontName=BOLD, fontSize=8.5, leading=10.5),
        "label": ParagraphStyle("label", fontName=BOLD, fontSize=9.5, leading=12),
        "value": ParagraphStyle("value", fontName=FONT, fontSize=9.5, leading=12),
    }  # fmt: skip


def _fields_table(
    fields: Mapping[str, Any], width: float, styles: Mapping[str, ParagraphStyle]
) -> Table:
    rows = [
        [Paragraph(markup(name), styles["label"]), Paragraph(markup(display(v)), styles["value"])]
        for name, v in fields.items()
    ]
    table = Table(rows, colWidths=[width * 0.32, width * 0.68], splitInRow=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), STRIPE_FILL),
                ("LINEBELOW", (0, 0), (-1, -1), 0.5, GRID),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _data_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: float,
    styles: Mapping[str, ParagraphStyle],
) -> Table:
    header = [Paragraph(markup(name), styles["head"]) for name in columns]
    body = [[Paragraph(markup(display(v)), styles["cell"]) for v in row] for row in rows]
    table = Table(
        [header, *body],
        colWidths=[width / len(columns)] * len(columns),
        repeatRows=1,
        splitInRow=1,  # a cell taller than a page continues on the next one
    )
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, GRID),
        ("BOX", (0, 0), (-1, -1), 0.5, GRID),
        ("INNERGRID", (0, 0), (-1, -1), 0.25, GRID),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if body:
        commands.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE_FILL]))
    table.setStyle(TableStyle(commands))
    return table


class _NumberedCanvas(canvas.Canvas):
    """Holds each page until the end, so every footer can say "Page n of m"."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._held: list[dict[str, Any]] = []

    def showPage(self) -> None:  # reportlab's name
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._held)
        for number, state in enumerate(self._held, start=1):
            self.__dict__.update(state)
            self._draw_footer(number, total)
            super().showPage()
        super().save()

    def _draw_footer(self, number: int, total: int) -> None:
        page_width = self._pagesize[0]
        self.saveState()
        self.setFont(FONT, 8)
        self.setFillColor(colors.HexColor("#555555"))
        self.drawString(MARGIN, MARGIN / 2, self._footer)
        self.drawRightString(page_width - MARGIN, MARGIN / 2, f"Page {number} of {total}")
        self.restoreState()
