import io

import openpyxl

from offload_report_worker.excel import SHEET, build_workbook


def test_workbook_has_header_and_rows():
    content = build_workbook(["name", "qty"], [["apple", 3], ["pear", None]])
    sheet = openpyxl.load_workbook(io.BytesIO(content))[SHEET]
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["name", "qty"],
        ["apple", 3],
        ["pear", None],
    ]


def test_user_text_that_looks_like_a_formula_stays_text():
    content = build_workbook(["x"], [["=1+1"], ['=HYPERLINK("http://e.example")']])
    sheet = openpyxl.load_workbook(io.BytesIO(content))[SHEET]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.data_type for c in cells] == ["s", "s"]
    assert cells[0].value == "=1+1"
