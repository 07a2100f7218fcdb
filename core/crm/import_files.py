"""Reading dealers' files for an import: CSV in whatever encoding their Excel saved it in,
or a workbook, a row at a time, and the columns mapped to the fields they hold.

A file is read as a stream: a million rows never sit in memory. Its encoding is the one
given, or found: UTF-8 (with or without a byte-order mark) tried strictly first, then the
market pack's legacy encodings in order. Once chosen, a byte the encoding cannot read does
not stop the file: the row holding it is rejected, naming it, and the rest goes on.

Rows are numbered as the sheet numbers them (the header is row 1), blank rows included,
which is the number a person fixing the file in Excel looks for.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO

from regiocrm.platform.i18n import _

# How much of a file its encoding and CSV dialect are judged on.
SAMPLE_BYTES = 256 * 1024
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"
# A cell longer than this is no customer data: the row is rejected rather than stored.
MAX_CELL = 1000
# Python's csv refuses a field past its limit (128 KiB by default) with an error that
# would end the file: a row like that is rejected by MAX_CELL instead.
csv.field_size_limit(4 * 1024 * 1024)


class UnreadableFile(Exception):
    """A file an import cannot read at all (empty, binary, no encoding fits, no header):
    nothing is written."""


class MappingError(Exception):
    """Columns that cannot be mapped: a required field no column holds, a mapping file
    that is not valid, two columns for one field. Nothing is written."""


# The fields an import knows, by what they are. A column mapped to none is reported.
NAME_FIELDS = ("full_name", "family_name", "given_name", "company_name")
PHONETIC_FIELDS = ("full_name_phonetic", "family_name_phonetic", "given_name_phonetic")
OWNER_FIELDS = ("phone", "email", "dealer_ref")
VEHICLE_FIELDS = ("vin", "make", "model", "model_year", "purchased_on")
CONTRACT_FIELDS = (
    "contract_kind",
    "contract_status",
    "reference",
    "starts_on",
    "ends_on",
    "amount",
    "currency",
)
FIELDS: dict[str, tuple[str, ...]] = {
    "customers": (*NAME_FIELDS, *PHONETIC_FIELDS, *OWNER_FIELDS, "vin"),
    "vehicles": (*VEHICLE_FIELDS, *OWNER_FIELDS),
    "contracts": (*CONTRACT_FIELDS, "vin", *OWNER_FIELDS),
}
# Each entry: one of these fields must have a column.
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "customers": (NAME_FIELDS, OWNER_FIELDS),
    "vehicles": (("vin",), OWNER_FIELDS),
    "contracts": (("contract_kind",), ("starts_on",), ("reference",), OWNER_FIELDS),
}
# Fields several columns may hold (a mobile and a landline are both phone numbers).
REPEATABLE = frozenset({"phone", "email"})
KINDS = tuple(FIELDS)


@dataclass(frozen=True)
class Row:
    """One row of the file: its number in the sheet and its cells, or why it cannot be
    read (``problem``)."""

    line: int
    cells: list[str]
    problem: str | None = None


@dataclass
class Sheet:
    """A file opened for import: its header, what it was read as, and its rows."""

    header: list[str]
    encoding: str
    rows: Iterator[Row]


def file_digest(path: Path) -> str:
    """The file's SHA-256, read in blocks: what an import knows a file again by."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def open_sheet(path: Path, *, encoding: str | None, fallbacks: Sequence[str]) -> Iterator[Sheet]:
    """The file's header and rows, read as they are iterated.

    :param encoding: the encoding to read a CSV in; ``None``: UTF-8, then ``fallbacks``.
    :raises UnreadableFile: for a file that is empty, binary, in no encoding tried, or
        has no header row.
    """
    try:
        with path.open("rb") as stream:
            head = stream.read(SAMPLE_BYTES)
    except OSError as exc:
        raise UnreadableFile(
            _("cannot read {path}: {error}").format(path=path, error=exc.strerror)
        ) from None
    if not head.strip():
        raise UnreadableFile(_("{path} is empty").format(path=path.name))
    if head.startswith((ZIP_MAGIC, OLE_MAGIC)) or path.suffix.lower() in WORKBOOK_SUFFIXES:
        yield _workbook(path)
        return
    chosen = _encoding(path, head, encoding, fallbacks)
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=chosen, errors="surrogateescape", newline="")
        yield _csv(path, text, chosen, _dialect(head, chosen))


def _encoding(path: Path, head: bytes, given: str | None, fallbacks: Sequence[str]) -> str:
    if given is not None:
        try:
            name = codecs.lookup(given).name
        except LookupError:
            raise UnreadableFile(
                _("{encoding!r} is not an encoding Python knows").format(encoding=given)
            ) from None
        if name == "utf-8" and head.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        if not _reads(head, name):
            raise UnreadableFile(
                _("{path} is not {encoding}: give the encoding it was saved in").format(
                    path=path.name, encoding=given
                )
            )
        return name
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise UnreadableFile(
            _("{path} is a binary file, not a CSV or a workbook (XLSX)").format(path=path.name)
        )
    tried = ["utf-8", *fallbacks]
    for name in tried:
        if _reads(head, name):
            return name
    raise UnreadableFile(
        _("{path} is in none of the encodings tried ({tried}): give it with --encoding").format(
            path=path.name, tried=", ".join(tried)
        )
    )


def _reads(head: bytes, encoding: str) -> bool:
    """Whether the start of a file is valid in ``encoding`` (a character cut at the end of
    the sample is not held against it)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        decoder.decode(head, final=len(head) < SAMPLE_BYTES)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _dialect(head: bytes, encoding: str) -> type[csv.Dialect] | csv.Dialect:
    """Commas unless the header says semicolons, tabs or bars (Excel in some locales)."""
    sample = head.decode(encoding, errors="replace").lstrip("\ufeff")
    first = sample.split("\n", 1)[0]
    counts = {delimiter: first.count(delimiter) for delimiter in ",;\t|"}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    if counts[best] == 0 or best == ",":
        return csv.excel

    class Found(csv.excel):
        delimiter = best

    return Found


def _csv(
    path: Path, text: IO[str], encoding: str, dialect: type[csv.Dialect] | csv.Dialect
) -> Sheet:
    reader = csv.reader(text, dialect)
    line = 0
    header: list[str] | None = None
    while header is None:
        try:
            cells = next(reader)
        except StopIteration:
            raise UnreadableFile(_("{path} has no header row").format(path=path.name)) from None
        except csv.Error as exc:
            raise UnreadableFile(
                _("{path}: the header row is not CSV: {error}").format(path=path.name, error=exc)
            ) from None
        line += 1
        if any(cell.strip() for cell in cells):
            header = [_clean(cell.lstrip("\ufeff")) for cell in cells]
            if any(_undecodable(cell) for cell in header):
                raise UnreadableFile(
                    _("{path}: the header row is not {encoding}").format(
                        path=path.name, encoding=encoding
                    )
                )

    def rows() -> Iterator[Row]:
        number = line
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield Row(number, [], _("not a CSV row: {error}").format(error=exc))
                continue
            number += 1
            if not any(cell.strip() for cell in cells):
                continue
            yield _checked(number, cells, len(header), encoding)

    return Sheet(header, encoding, rows())


def _checked(line: int, cells: list[str], width: int, encoding: str) -> Row:
    if any(_undecodable(cell) for cell in cells):
        return Row(
            line,
            [_printable(c) for c in cells],
            _("bytes that are not {encoding}").format(encoding=encoding),
        )
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        return Row(
            line,
            cells,
            _("{count} cells where the header has {width} columns").format(
                count=len(cells), width=width
            ),
        )
    if any(len(cell) > MAX_CELL for cell in cells):
        return Row(
            line,
            [c[:MAX_CELL] for c in cells],
            _("a cell longer than {limit} characters").format(limit=MAX_CELL),
        )
    return Row(line, [_clean(cell) for cell in cells[:width]] + [""] * (width - len(cells)))


_SURROGATE = re.compile("[\udc80-\udcff]")


def _undecodable(cell: str) -> bool:
    return _SURROGATE.search(cell) is not None


def _printable(cell: str) -> str:
    """A cell with the bytes its encoding could not read shown as U+FFFD, so the rejects
    file (UTF-8) can hold it."""
    return _SURROGATE.sub("\ufffd", cell)


def _clean(cell: str) -> str:
    return cell.strip().replace("\x00", "")


def _workbook(path: Path) -> Sheet:
    # Imported here: the Rust reader is loaded only by imports of workbooks.
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        rows = iter(sheet.iter_rows())
    except (CalamineError, OSError, ValueError) as exc:
        raise UnreadableFile(
            _("{path} is not a workbook (XLSX) or CSV that can be read: {error}").format(
                path=path.name, error=exc
            )
        ) from None
    except Exception as exc:  # the reader's other errors (zip, XML) derive from nothing shared
        raise UnreadableFile(
            _("{path} is not a workbook (XLSX) or CSV that can be read: {error}").format(
                path=path.name, error=exc
            )
        ) from None
    line = 0
    header: list[str] | None = None
    for cells in rows:
        line += 1
        values = [_cell(value) for value in cells]
        if any(values):
            header = values
            break
    if header is None:
        raise UnreadableFile(_("{path} has no header row").format(path=path.name))
    width = len(header)

    def body() -> Iterator[Row]:
        number = line
        for cells in rows:
            number += 1
            values = [_cell(value) for value in cells]
            if any(values):
                yield _checked(number, values, width, "xlsx")

    return Sheet(header, "xlsx", body())


def _cell(value: object) -> str:
    """A workbook cell as the text a CSV would hold: a phone number typed as a number
    loses no digits to a ``.0``, a date is ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip()


# mapping columns to fields


def header_key(header: str) -> str:
    """A header as it is matched: without spaces, case folded (``E-mail`` is ``e-mail``,
    ``手机 号码`` is ``手机号码``)."""
    return "".join(header.split()).casefold()


@dataclass(frozen=True)
class ColumnMap:
    """Which column holds which field, and the columns imported as nothing."""

    fields: dict[int, str]
    unknown: list[str] = field(default_factory=list)

    def columns_of(self, name: str) -> list[int]:
        return [index for index, held in self.fields.items() if held == name]

    def holds(self, name: str) -> bool:
        return name in self.fields.values()


def read_mapping(path: Path) -> dict[str, str]:
    """A mapping file: a TOML table ``[columns]`` of header = field (``""``: not imported).

    :raises MappingError: for a file that cannot be read, is not TOML, or names a field
        no import knows.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(
            _("cannot read {path}: {error}").format(path=path, error=exc.strerror)
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(_("{path} is not valid: {error}").format(path=path, error=exc)) from None
    return parse_mapping(data, str(path))


def parse_mapping(data: Mapping[str, object], source: str) -> dict[str, str]:
    """The ``[columns]`` table of a mapping, checked.

    :raises MappingError: naming the problem.
    """
    columns = data.get("columns")
    extra = sorted(set(data) - {"columns"})
    if not isinstance(columns, dict) or extra:
        raise MappingError(
            _("{source}: a mapping is one table [columns] of header = field").format(source=source)
        )
    known = {name for names in FIELDS.values() for name in names}
    mapping: dict[str, str] = {}
    for header, target in columns.items():
        if not isinstance(target, str) or (target and target not in known):
            raise MappingError(
                _("{source}: column {header!r}: {target!r} is no field (fields: {known})").format(
                    source=source, header=header, target=target, known=", ".join(sorted(known))
                )
            )
        mapping[header] = target
    return mapping


def map_columns(
    header: Sequence[str], kind: str, presets: Mapping[str, str], overrides: Mapping[str, str]
) -> ColumnMap:
    """Each column's field: the mapping file's word first, then the pack's presets, then a
    header that is a field's own name.

    :raises MappingError: for a required field no column holds (naming the headers
        found), or one field held by two columns.
    """
    wanted = FIELDS[kind]
    by_key = {header_key(name): name for name in wanted}
    by_key |= {header_key(h): target for h, target in presets.items()}
    by_key |= {header_key(h): target for h, target in overrides.items()}
    fields: dict[int, str] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        if not name:
            continue
        target = by_key.get(header_key(name))
        if target == "":
            continue
        if target is None or target not in wanted:
            unknown.append(name)
            continue
        fields[index] = target
    problems = []
    for name in sorted(set(fields.values()) - REPEATABLE):
        holders = [header[index] for index, held in fields.items() if held == name]
        if len(holders) > 1:
            problems.append(
                _('columns {columns} all hold {field}: map all but one to ""').format(
                    columns=", ".join(holders), field=name
                )
            )
    for needed in REQUIRED[kind]:
        if not any(name in fields.values() for name in needed):
            problems.append(
                _(
                    "no column holds {fields} (columns found: {found}); name it in a mapping file"
                ).format(fields=" | ".join(needed), found=", ".join(h for h in header if h) or "-")
            )
    if problems:
        raise MappingError("\n".join(problems))
    return ColumnMap(fields, unknown)
