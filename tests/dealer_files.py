"""Dealers' files for the import tests: a Shanghai dealer's customer list as their Excel
saves it (GB18030, Chinese headers), with bad rows and customers already known."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

HEADER = ["姓名", "手机", "邮箱", "客户编号", "备注"]
FAMILY = "王李张刘陈杨黄赵吴周"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟"]
# What makes a row bad, in turn: every kind of bad row the import must reject.
BAD = (
    ("phone", "1380013"),  # too short to be a number
    ("phone", "电话号码"),  # no digits at all
    ("email", "wang@"),  # no domain
    ("name", ""),  # neither a name nor a company
)


def phone(number: int) -> str:
    """A mainland mobile number, valid for phonenumbers, distinct per ``number``."""
    return f"139{number:08d}"


def e164(number: int) -> str:
    return f"+86{phone(number)}"


def name(number: int) -> str:
    return (
        FAMILY[number % len(FAMILY)]
        + GIVEN[number % len(GIVEN)]
        + GIVEN[(number // 7) % len(GIVEN)]
    )


@dataclass(frozen=True)
class DealerFile:
    path: Path
    rows: int
    bad_lines: list[int]
    known: list[int]
    """the numbers of the customers already known by phone (see :func:`phone`)"""


def shanghai_file(
    folder: Path, rows: int, *, bad_every: int = 100, known_every: int = 20
) -> DealerFile:
    """``rows`` customers: one row in ``bad_every`` bad, one in ``known_every`` a customer
    the deployment knows by phone already (the row's number ``i``: :func:`phone` ``(i)``)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(HEADER)
    bad_lines, known = [], []
    for i in range(rows):
        line = i + 2
        cells = [name(i), phone(i), f"customer{i}@example.cn", f"SH{i:07d}", "老客户"]
        if i % bad_every == bad_every - 1:
            what, value = BAD[(i // bad_every) % len(BAD)]
            cells[{"phone": 1, "email": 2, "name": 0}[what]] = value
            bad_lines.append(line)
        elif i % known_every == 3:
            known.append(i)
        writer.writerow(cells)
    path = folder / "上海经销商客户.csv"
    path.write_bytes(text.getvalue().encode("gb18030"))
    return DealerFile(path, rows, bad_lines, known)


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    """A one-sheet workbook as Excel writes it (inline strings, numbers as numbers): the
    least a reader of XLSX must read, made without a writer library."""
    import zipfile
    from xml.sax.saxutils import escape

    def cell(column: int, row: int, value: object) -> str:
        ref = f"{chr(ord('A') + column)}{row}"
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    sheet = "".join(
        f'<row r="{r}">' + "".join(cell(c, r, v) for c, v in enumerate(values)) + "</row>"
        for r, values in enumerate(rows, start=1)
    )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    types = "application/vnd.openxmlformats"
    office = f"{types}-officedocument.spreadsheetml"
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="{types}-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml"'
            f' ContentType="{office}.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{relations}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{relations}">'
            '<sheets><sheet name="客户" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{relations}/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}">'
            f"<sheetData>{sheet}</sheetData></worksheet>"
        ),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path
