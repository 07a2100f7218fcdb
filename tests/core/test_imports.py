"""Bulk imports from dealers' files: the Shanghai dealer's GB18030 list with its bad rows
and known customers, the other markets' encodings and headers, conflicts reported rather
than guessed, vehicles and contracts, files that cannot be read (exit 2, nothing
written), a rerun that creates nothing, and a kill half-way that a rerun finishes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dealer_files import e164, name, phone, shanghai_file, write_xlsx
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization
from regiocrm.crm.customers import Customers, NewCustomer
from regiocrm.crm.import_files import MappingError, UnreadableFile, map_columns, read_mapping
from regiocrm.crm.imports import (
    Importer,
    ImportRequest,
    check_vin,
    parse_date,
    vin_check_digit,
)
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.packs import PackError, VinRule
from regiocrm.models import (
    AuditEvent,
    Contract,
    Customer,
    Identity,
    ImportIssue,
    ImportJob,
    Interaction,
    OrganizationKind,
    Ownership,
    Vehicle,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZoneStores

DEALER = "Shanghai Motors"
# The done-when scenario's file, at a scale a test affords (benchmarks/import.py runs it
# at 100,000 rows).
ROWS = 1000
WRITTEN = (Customer, Identity, ImportJob, ImportIssue, Interaction, AuditEvent, Vehicle)


@pytest.fixture
def dealer(migrated: ZoneStores) -> uuid.UUID:
    with migrated.session() as session:
        org = create_organization(session, name=DEALER, kind=OrganizationKind.DEALER, market="CN")
        return org.id


def count(stores: ZoneStores, model: type, *where: object) -> int:
    with stores.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def known_customers(stores: ZoneStores, hooks: Hooks, numbers: list[int]) -> None:
    """Customers the deployment knows by phone already, by the names the file gives them."""
    with stores.session() as session:
        customers = Customers(session, hooks)
        for number in numbers:
            full = name(number)
            customers.create(
                NewCustomer(market="CN", family_name=full[0], given_name=full[1:]),
                [IdentityRef("phone", phone(number))],
            )


def imported(regiocrm_cli, *args: str) -> dict:
    result = regiocrm_cli("import", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def rejects_lines(path: Path) -> list[int]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["姓名", "手机", "邮箱", "客户编号", "备注", "reason"]
    return [int(row[-1].split(":")[0].split()[-1]) for row in rows[1:]]


def test_the_shanghai_dealers_list_imports_with_the_right_counts_once(
    regiocrm_cli, migrated: ZoneStores, regiocrm_hooks: Hooks, dealer: uuid.UUID, tmp_path: Path
) -> None:
    file = shanghai_file(tmp_path, ROWS)
    known_customers(migrated, regiocrm_hooks, file.known)
    report = imported(regiocrm_cli, "customers", str(file.path), "--market", "CN", "--org", DEALER)

    bad, known = len(file.bad_lines), len(file.known)
    assert (report["encoding"], report["rows"], report["status"]) == ("gb18030", ROWS, "done")
    # A known customer takes the row's e-mail and customer number: merged, not created.
    assert (report["created"], report["matched"], report["merged"]) == (
        ROWS - bad - known,
        0,
        known,
    )
    assert (report["conflicts"], report["rejected"]) == (0, bad)
    assert report["warnings"] == ["column '备注' is not imported: no field holds it"]
    assert [issue["line"] for issue in report["issues"]] == file.bad_lines
    assert rejects_lines(Path(report["rejects_file"])) == file.bad_lines
    assert count(migrated, Customer) == ROWS - bad
    # Each good row: a phone, an e-mail and the dealer's number scoped by the dealer.
    assert count(migrated, Identity) == 3 * (ROWS - bad)
    assert count(migrated, Identity, Identity.value == f"{dealer}:SH0000000") == 1
    with migrated.session() as session:
        customer_id = session.scalar(select(Identity.customer_id).where(Identity.value == e164(0)))
        first = session.get_one(Customer, customer_id)
        assert (first.family_name, first.given_name) == (name(0)[0], name(0)[1:])
        # Linked to the dealer, as a customer its staff register is.
        linked = select(Interaction).where(
            Interaction.customer_id == customer_id, Interaction.organization_id == dealer
        )
        steps = session.scalars(linked).all()
        assert len(steps) == 1
        # The step names the import and the row that created the customer; creations
        # are not audited one by one (matches and merges are).
        prefix, job, line = (steps[0].external_id or "").split(":")
        assert (prefix, job) == ("import", report["id"])
        assert 2 <= int(line) <= ROWS + 1
        assert int(line) not in file.bad_lines
        assert count(migrated, AuditEvent, AuditEvent.action == "customer.imported") == 0
        merges = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "customer.import_merged")
        ).all()
        assert len(merges) == known
        assert {d["import"] for d in merges} == {report["id"]}

    again = imported(regiocrm_cli, "customers", str(file.path), "--market", "CN", "--org", DEALER)
    assert again["id"] == report["id"]
    assert again["created"] == report["created"]
    assert count(migrated, Customer) == ROWS - bad
    assert count(migrated, ImportJob) == 1


def test_the_same_rows_in_another_file_all_match(
    regiocrm_cli, migrated: ZoneStores, dealer: uuid.UUID, tmp_path: Path
) -> None:
    first = tmp_path / "a.csv"
    first.write_text("Name,Phone,Email\nAlice Lee,0412 345 678,alice@example.com\n", "utf-8")
    imported(regiocrm_cli, "customers", str(first), "--market", "AU", "--org", DEALER)
    second = tmp_path / "b.csv"
    # The same person written as another system writes her: matched, nothing new.
    second.write_text("Name,Mobile\nalice  LEE,+61412345678\n", "utf-8")
    report = imported(regiocrm_cli, "customers", str(second), "--market", "AU", "--org", DEALER)
    assert (report["created"], report["matched"], report["merged"]) == (0, 1, 0)
    with migrated.session() as session:
        [alice] = session.scalars(select(Customer)).all()
        # Australian names are given name first.
        assert (alice.given_name, alice.family_name) == ("Alice", "Lee")


def test_customers_known_without_a_name_take_the_rows_names(
    regiocrm_cli, migrated: ZoneStores, dealer: uuid.UUID, tmp_path: Path
) -> None:
    # As the channels leave them: a phone number, no name (one a company's, one a person's).
    with migrated.session() as session:
        for number in (1, 2):
            customer = Customer(market="CN")
            session.add(customer)
            session.flush()
            session.add(
                Identity(market="CN", customer_id=customer.id, kind="phone", value=e164(number))
            )
    file = tmp_path / "names.csv"
    file.write_text(
        f"姓名,手机,公司名称\n{name(1)},{phone(1)},\n,{phone(2)},上海汽车贸易有限公司\n", "utf-8"
    )
    report = imported(regiocrm_cli, "customers", str(file), "--market", "CN", "--org", DEALER)
    assert (report["created"], report["merged"]) == (0, 2)
    with migrated.session() as session:
        one = session.scalar(select(Identity.customer_id).where(Identity.value == e164(1)))
        two = session.scalar(select(Identity.customer_id).where(Identity.value == e164(2)))
        first, second = session.get_one(Customer, one), session.get_one(Customer, two)
        assert (first.family_name, first.given_name, first.company_name) == (
            name(1)[0],
            name(1)[1:],
            None,
        )
        assert (second.family_name, second.company_name) == (None, "上海汽车贸易有限公司")


def test_a_row_joining_two_customers_or_contradicting_a_name_is_a_conflict(
    regiocrm_cli, migrated: ZoneStores, regiocrm_hooks: Hooks, dealer: uuid.UUID, tmp_path: Path
) -> None:
    known_customers(migrated, regiocrm_hooks, [1, 2])
    file = tmp_path / "conflicts.csv"
    rows = [
        ["姓名", "手机", "邮箱"],
        [name(1), phone(1), "one@example.cn"],  # merged: the e-mail is new
        [name(3), phone(1), "two@example.cn"],  # another name for customer 1
        ["", phone(2), "one@example.cn"],  # customer 2's phone, customer 1's e-mail
    ]
    rows[3][0] = name(2)
    file.write_bytes("\n".join(",".join(r) for r in rows).encode("gb18030"))
    before = count(migrated, Identity)
    report = imported(regiocrm_cli, "customers", str(file), "--market", "CN", "--org", DEALER)
    assert (report["merged"], report["conflicts"], report["created"]) == (1, 2, 0)
    assert [(i["line"], i["outcome"]) for i in report["issues"]] == [
        (3, "conflict"),
        (4, "conflict"),
    ]
    assert "differs" in report["issues"][0]["reason"]
    assert "2 different customers" in report["issues"][1]["reason"]
    assert count(migrated, Identity) == before + 1
    # Conflicts are no rejects: there is no file of rows to fix.
    assert report["rejects_file"] is None


@pytest.mark.parametrize(
    ("market", "encoding", "header", "row", "names"),
    [
        (
            "JP",
            "cp932",
            "氏名,フリガナ,電話番号,メールアドレス",
            "山田 太郎,ヤマダ タロウ,090-1234-5678,taro@example.jp",
            ("山田", "太郎", "ヤマダ", "タロウ"),
        ),
        (
            "KR",
            "cp949",
            "이름,휴대폰,이메일",
            "남궁민수,010-1234-5678,minsu@example.kr",
            ("남궁", "민수", None, None),
        ),
        (
            "CN",
            "utf-8-sig",
            "姓名,手机号码",
            "欧阳娜娜,139 0000 0001",
            ("欧阳", "娜娜", None, None),
        ),
    ],
    ids=["shift-jis", "cp949", "utf-8-bom"],
)
def test_each_markets_excel_encoding_and_headers_are_read(
    regiocrm_cli,
    migrated: ZoneStores,
    dealer: uuid.UUID,
    tmp_path: Path,
    market,
    encoding,
    header,
    row,
    names,
) -> None:
    file = tmp_path / "list.csv"
    file.write_bytes(f"{header}\r\n{row}\r\n".encode(encoding))
    report = imported(regiocrm_cli, "customers", str(file), "--market", market, "--org", DEALER)
    assert (report["encoding"], report["created"]) == (encoding.replace("cp932", "cp932"), 1)
    with migrated.session() as session:
        [customer] = session.scalars(select(Customer)).all()
        assert (
            customer.family_name,
            customer.given_name,
            customer.family_name_phonetic,
            customer.given_name_phonetic,
        ) == names
        assert customer.market == market


def test_a_workbook_with_phone_numbers_typed_as_numbers(
    regiocrm_cli, migrated: ZoneStores, dealer: uuid.UUID, tmp_path: Path
) -> None:
    file = write_xlsx(
        tmp_path / "客户.xlsx",
        [["姓名", "手机", "客户编号"], ["王伟", 13900000001, "C1"], ["李娜", "not a phone", "C2"]],
    )
    report = imported(regiocrm_cli, "customers", str(file), "--market", "CN", "--org", DEALER)
    assert (report["encoding"], report["created"], report["rejected"]) == ("xlsx", 1, 1)
    assert count(migrated, Identity, Identity.value == "+8613900000001") == 1


def test_a_mapping_file_names_columns_the_presets_do_not_know(
    regiocrm_cli, migrated: ZoneStores, dealer: uuid.UUID, tmp_path: Path
) -> None:
    file = tmp_path / "dms.csv"
    file.write_text("Kunde,Handy,Notiz\n王伟,13900000001,x\n", "utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\nKunde = "full_name"\nHandy = "phone"\nNotiz = ""\n', "utf-8")
    report = imported(
        regiocrm_cli,
        "customers",
        str(file),
        "--market",
        "CN",
        "--org",
        DEALER,
        "--mapping",
        str(mapping),
    )
    assert (report["created"], report["warnings"]) == (1, [])


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", (), "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", (), "binary file"),
        ("姓名,备注\n王伟,x\n".encode(), (), "no column holds phone | email | dealer_ref"),
        ("姓名,手机\n王伟,1\n".encode(), ("--org", "Nobody"), "no organization named 'Nobody'"),
    ],
    ids=["empty", "binary", "required-column-missing", "unknown-org"],
)
def test_a_file_that_cannot_be_imported_is_exit_2_with_nothing_written(
    regiocrm_cli, migrated: ZoneStores, dealer: uuid.UUID, tmp_path: Path, content, args, message
) -> None:
    file = write(tmp_path / "file.csv", content)
    org = args[1] if args else DEALER
    before = {model: count(migrated, model) for model in WRITTEN}
    result = regiocrm_cli("import", "customers", str(file), "--market", "CN", "--org", org)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert {model: count(migrated, model) for model in WRITTEN} == before


@pytest.mark.parametrize(
    ("content", "encoding", "market", "message"),
    [
        ("姓名,手机\n王伟,1\n".encode("gb18030"), None, "JP", "none of the encodings tried"),
        ("姓名,手机\n王伟,1\n".encode("gb18030"), "utf-8", "CN", "is not utf-8"),
        ("姓名,手机\n".encode(), "klingon", "CN", "not an encoding"),
        (b"PK\x03\x04garbage", None, "CN", "is not a workbook"),
        ("姓名,手机\n王伟,1\n".encode(), None, "ZZ", "no pack serves market 'ZZ'"),
        (b"\n\n\n", None, "CN", "is empty"),
    ],
    ids=[
        "no-encoding-fits",
        "wrong-encoding",
        "unknown-encoding",
        "broken-workbook",
        "no-pack",
        "blank",
    ],
)
def test_the_reason_a_file_cannot_be_read(
    stores: ZoneStores, regiocrm_hooks: Hooks, tmp_path: Path, content, encoding, market, message
) -> None:
    file = write(tmp_path / "file.csv", content)
    request = ImportRequest(
        kind="customers", path=file, market=market, organization_id=uuid.uuid4(), encoding=encoding
    )
    with pytest.raises((UnreadableFile, PackError), match=message):
        Importer(stores, regiocrm_hooks).check(request)


def test_a_mapping_file_that_names_no_field_is_refused(tmp_path: Path) -> None:
    mapping = write(tmp_path / "map.toml", '[columns]\n"手机" = "mobile"\n'.encode())
    with pytest.raises(MappingError, match="'mobile' is no field"):
        read_mapping(mapping)
    with pytest.raises(MappingError, match="columns 电话, 手机号 all hold full_name"):
        map_columns(
            ["电话", "手机号"], "customers", {}, {"电话": "full_name", "手机号": "full_name"}
        )


def test_a_dry_run_reports_and_writes_nothing(
    regiocrm_cli, migrated: ZoneStores, dealer: uuid.UUID, tmp_path: Path
) -> None:
    file = shanghai_file(tmp_path, 300)
    before = {model: count(migrated, model) for model in WRITTEN}
    report = imported(
        regiocrm_cli, "customers", str(file.path), "--market", "CN", "--org", DEALER, "--dry-run"
    )
    assert report["dry_run"]
    assert (report["created"], report["rejected"]) == (297, 3)
    assert report["rejects_file"] is None
    assert {model: count(migrated, model) for model in WRITTEN} == before


def test_vehicles_need_their_owner_and_a_vin_the_market_accepts(
    regiocrm_cli, migrated: ZoneStores, regiocrm_hooks: Hooks, dealer: uuid.UUID, tmp_path: Path
) -> None:
    known_customers(migrated, regiocrm_hooks, [1, 2])
    good = "LSVAU218XN2183456"
    assert vin_check_digit(good) == good[8]
    file = tmp_path / "vehicles.csv"
    file.write_text(
        "车架号,手机,品牌,车型,年款,购车日期\n"
        f"{good},{phone(1)},上汽,途观,2023,2023年5月1日\n"
        f"LSVAU2181N2183456,{phone(1)},上汽,途观,2023,2023-05-01\n"  # check digit wrong
        f"LSVAU2181N2183457,{phone(9)},上汽,途观,2023,2023-05-01\n"  # no such customer
        f"{good},{phone(2)},上汽,途观,2023,2023-05-01\n",  # owned by customer 1
        "utf-8",
    )
    report = imported(regiocrm_cli, "vehicles", str(file), "--market", "CN", "--org", DEALER)
    assert (report["created"], report["rejected"], report["conflicts"]) == (1, 2, 1)
    reasons = [issue["reason"] for issue in report["issues"]]
    assert "fails its check digit" in reasons[0]
    assert "import the customers first" in reasons[1]
    with migrated.session() as session:
        [ownership] = session.scalars(select(Ownership)).all()
        assert (ownership.dealer_id, str(ownership.started_on)) == (dealer, "2023-05-01")
    again = imported(regiocrm_cli, "vehicles", str(file), "--market", "CN", "--org", DEALER)
    assert again["id"] == report["id"]
    assert count(migrated, Vehicle) == 1
    assert count(migrated, Ownership) == 1


def test_contracts_are_matched_by_their_number(
    regiocrm_cli, migrated: ZoneStores, regiocrm_hooks: Hooks, dealer: uuid.UUID, tmp_path: Path
) -> None:
    known_customers(migrated, regiocrm_hooks, [1])
    file = tmp_path / "contracts.csv"
    file.write_text(
        "合同编号,合同类型,手机,开始日期,结束日期,金额\n"
        f'L-1,lease,{phone(1)},2026-01-01,2028-12-31,"268,000.50"\n'
        f"L-2,租赁,{phone(1)},2026-01-01,2025-12-31,1\n"  # ends before it starts
        f"L-3,barter,{phone(1)},2026-01-01,,1\n",  # no such kind
        "utf-8",
    )
    report = imported(regiocrm_cli, "contracts", str(file), "--market", "CN", "--org", DEALER)
    assert (report["created"], report["rejected"]) == (1, 2)
    with migrated.session() as session:
        [contract] = session.scalars(select(Contract)).all()
        assert (str(contract.amount), contract.currency, contract.organization_id) == (
            "268000.50",
            "CNY",
            dealer,
        )
    file.write_text(file.read_text("utf-8") + "\n", "utf-8")  # another file, same rows
    again = imported(regiocrm_cli, "contracts", str(file), "--market", "CN", "--org", DEALER)
    assert (again["created"], again["matched"]) == (0, 1)
    assert count(migrated, Contract) == 1


def test_names_vins_and_dates_as_dealers_write_them() -> None:
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"
    assert check_vin("zvw30-1234567", VinRule.CHASSIS) == "ZVW30-1234567"
    assert check_vin("JTDKB20U793512345", VinRule.ISO3779) == "JTDKB20U793512345"
    with pytest.raises(Exception, match="without I, O and Q"):
        check_vin("ZVW30-1234567", VinRule.ISO3779)
    assert str(parse_date("20240301", "d")) == str(parse_date("01/03/2024", "d")) == "2024-03-01"


def test_a_kill_half_way_then_a_rerun_gives_the_same_result(
    regiocrm_cli,
    migrated: ZoneStores,
    regiocrm_hooks: Hooks,
    dealer: uuid.UUID,
    deployment_dir: Path,
) -> None:
    rows = 300
    file = shanghai_file(deployment_dir, rows, known_every=10)
    known_customers(migrated, regiocrm_hooks, file.known)
    command = [
        sys.executable, "-m", "regiocrm", "import", "customers", str(file.path),
        "--market", "CN", "--org", DEALER, "--batch-rows", "10", "--json",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    victim = subprocess.Popen(command, cwd=deployment_dir, env=env, stdout=subprocess.PIPE)
    try:
        # Killed once some batches are committed and more are left.
        for _ in range(3000):
            with migrated.session() as session:
                done = session.scalar(select(ImportJob.last_line))
            if done:
                break
            assert victim.poll() is None, "the import ended before it could be killed"
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    finally:
        if victim.poll() is None:
            victim.kill()
    with migrated.session() as session:
        job = session.scalars(select(ImportJob)).one()
        assert job.status == "running"
        assert 0 < job.last_line < 2001
    rerun = subprocess.run(command, cwd=deployment_dir, env=env, capture_output=True, check=True)
    report = json.loads(rerun.stdout)
    bad, known = len(file.bad_lines), len(file.known)
    assert report["resumed_after"] > 0
    assert (report["created"], report["merged"], report["rejected"]) == (
        rows - bad - known,
        known,
        bad,
    )
    assert [issue["line"] for issue in report["issues"]] == file.bad_lines
    assert count(migrated, Customer) == rows - bad
    assert count(migrated, Identity) == 3 * (rows - bad)


def test_the_help_names_the_mapping_files_table(regiocrm_cli) -> None:
    # rich would take "[columns]" for markup and drop it, leaving the format unsaid.
    result = regiocrm_cli("import", "customers", "--help")
    assert result.exit_code == 0
    assert "[columns]" in result.stdout
