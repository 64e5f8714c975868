"""The record PDF, read back with pypdf: its text, its tables, its page numbers, no markup."""

import datetime as dt
import io

from pypdf import PdfReader

from offload_report_worker.pdf import build_pdf, markup, printable

GENERATED = dt.datetime(2026, 11, 2, 9, 30, 15, tzinfo=dt.UTC)


def pdf_pages(**kw):
    content = build_pdf(generated_at=GENERATED, **kw)
    assert content.startswith(b"%PDF-")
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def test_title_generated_line_fields_and_table_are_real_text():
    [page] = pdf_pages(
        record_id="FIR-2026-0042",
        title="FIR FIR-2026-0042",
        fields={
            "station": "Central",
            "officer": "A. Rao",
            "count": 3,
            "closed": True,
            "note": None,
        },
        table={"columns": ["item", "qty"], "rows": [["phone", 1], ["wallet", 2.5]]},
    )
    lines = page.splitlines()
    assert lines[0] == "FIR FIR-2026-0042"
    assert "generated 2026-11-02 09:30:15 UTC" in lines[1]
    for expected in ("station", "Central", "officer", "A. Rao", "count", "3", "closed", "true"):
        assert expected in lines
    assert lines.index("item") < lines.index("qty") < lines.index("phone") < lines.index("wallet")
    assert "2.5" in lines
    assert "Page 1 of 1" in page


def test_a_long_table_repeats_its_header_and_numbers_every_page():
    rows = [[f"row {i}", i] for i in range(300)]
    pages = pdf_pages(
        record_id="R-1",
        title="Long",
        fields={},
        table={"columns": ["label", "value"], "rows": rows},
    )
    assert len(pages) > 2
    for number, text in enumerate(pages, start=1):
        assert text.splitlines()[:2] == ["label", "value"] or number == 1
        assert f"Page {number} of {len(pages)}" in text
    everything = "\n".join(pages)
    assert all(f"row {i}\n" in everything for i in range(300))


def test_markup_in_user_text_appears_literally():
    title = "<b>Bold?</b> & <font color='red'>red</font> &amp; <br/>"
    value = '<a href="http://evil.example">click</a> <img src="x"/> <para>'
    [page] = pdf_pages(
        record_id="R-2",
        title=title,
        fields={"<i>name</i>": value},
        table={"columns": ["<u>col</u>"], "rows": [["&lt;cell&gt;"]]},
    )
    flowing = " ".join(page.split())  # a long title wraps onto two lines
    for literal in (title, "<i>name</i>", value, "<u>col</u>", "&lt;cell&gt;"):
        assert literal in flowing
    reader = PdfReader(io.BytesIO(build_pdf(record_id="R", title="t", fields={"v": value})))
    assert "/Annots" not in reader.pages[0]  # no link was made from the text


def test_text_the_font_cannot_draw_is_substituted_visibly_never_dropped():
    assert printable("café € —") == "café € —"
    assert printable("Łódź ő") == "Łódz o"  # base letters where they exist
    assert printable("Привет 中") == "?????? ?"
    assert printable("a\x00b\x1bc") == "a b c"
    assert printable("line\r\nbreaks\rand\ttabs") == "line\nbreaks\nand\ttabs"
    [page] = pdf_pages(record_id="R-3", title="Łódź Привет", fields={"city": "Kraków ő"})
    assert "Łódz ??????" in page
    assert "Kraków o" in page
    assert "\x00" not in page


def test_markup_keeps_line_breaks_and_escapes_everything_else():
    assert markup("a < b & c\nd") == "a &lt; b &amp; c<br/>d"


def test_a_value_taller_than_a_page_continues_on_the_next_page():
    long_value = " ".join(f"w{i}" for i in range(4000))
    long_cell = " ".join(f"c{i}" for i in range(3000))
    pages = pdf_pages(
        record_id="R-4",
        title="Long values",
        fields={"long": long_value, "after": "the end"},
        table={"columns": ["text"], "rows": [[long_cell], ["last row"]]},
    )
    assert len(pages) > 3
    words = " ".join(pages).split()
    assert {"w0", "w3999", "c0", "c2999", "the", "end", "last", "row"} <= set(words)
