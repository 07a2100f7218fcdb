"""``/api/imports``: an upload answered 202 once its job is committed, imported in the
background for the caller's dealership, followed, and its rejects downloaded; bad uploads
are 400 or 413 with nothing written, and another dealer's import is unknown."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from dealer_files import shanghai_file
from desk import Desk, open_desk
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.models import (
    AuditEvent,
    Customer,
    ImportJob,
    OrganizationKind,
    UserRole,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.services.imports import ImportService


@pytest.fixture
def dealer_desk(settings: RegiocrmSettings, regiocrm_hooks: Hooks):
    with open_desk(
        settings, regiocrm_hooks, kind=OrganizationKind.DEALER, role=UserRole.DEALER_STAFF
    ) as desk:
        yield desk


def upload(desk: Desk, content: bytes, **fields: str):
    form = {"kind": "customers", "market": "CN", **fields}
    files = {"file": ("客户.csv", content, "text/csv")}
    return desk.client.post("/api/imports", data=form, files=files, headers=desk.headers)


def count(desk: Desk, model: type) -> int:
    with desk.stores.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_upload_is_imported_in_the_background_and_followed(
    dealer_desk: Desk, tmp_path: Path
) -> None:
    file = shanghai_file(tmp_path, 200)
    answer = upload(dealer_desk, file.path.read_bytes())
    assert answer.status_code == 202, answer.text
    job = answer.json()["id"]
    assert answer.headers["location"] == f"/api/imports/{job}"
    application = dealer_desk.client.app.state.services  # type: ignore[attr-defined]
    assert ImportService(application).wait(uuid.UUID(job), timeout=60)

    report = dealer_desk.get(f"/api/imports/{job}").json()
    assert (report["status"], report["encoding"]) == ("done", "gb18030")
    assert (report["created"], report["rejected"]) == (198, 2)
    assert [issue["line"] for issue in report["issues"]] == file.bad_lines
    # The dealer sees what it imported (a dealer sees only the customers linked to it).
    listed = dealer_desk.get("/api/customers", limit=100)
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 100

    rejects = dealer_desk.get(f"/api/imports/{job}/rejects")
    assert rejects.status_code == 200
    assert rejects.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert [int(row[-1].split(":")[0].split()[-1]) for row in rows[1:]] == file.bad_lines
    with dealer_desk.stores.session() as session:
        reads = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "import.rejects_read")
        ).all()
        assert [event.subject_id for event in reads] == [uuid.UUID(job)]

    again = upload(dealer_desk, file.path.read_bytes())
    assert again.status_code == 202
    assert (again.json()["id"], again.json()["status"]) == (job, "done")
    assert count(dealer_desk, Customer) == 198


@pytest.mark.parametrize(
    ("content", "fields", "reason"),
    [
        (b"\x00\x01\x02binary", {}, "binary file"),
        ("姓名,备注\n王伟,x\n".encode(), {}, "no column holds"),
        ("姓名,手机\n王伟,1\n".encode(), {"kind": "spaceships"}, "kind 'spaceships'"),
        ("姓名,手机\n王伟,1\n".encode(), {"market": "cn"}, "not an ISO 3166 code"),
        ("姓名,手机\n王伟,1\n".encode(), {"mapping": "[columns"}, "mapping is not TOML"),
    ],
    ids=["binary", "required-column", "kind", "market", "mapping"],
)
def test_a_bad_upload_is_400_with_the_reason_and_nothing_written(
    dealer_desk: Desk, content: bytes, fields: dict[str, str], reason: str
) -> None:
    answer = upload(dealer_desk, content, **fields)
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["detail"]
    assert count(dealer_desk, ImportJob) == 0
    assert count(dealer_desk, Customer) == 0


def test_an_upload_over_the_cap_is_413_and_another_dealers_import_is_unknown(
    deployment_dir: Path, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_HTTP__MAX_UPLOAD_BYTES", "4096")
    settings = RegiocrmSettings()
    with open_desk(
        settings, regiocrm_hooks, kind=OrganizationKind.DEALER, role=UserRole.DEALER_STAFF
    ) as desk:
        too_big = "姓名,手机\n".encode() + "王伟,13900000001\n".encode() * 400
        answer = upload(desk, too_big)
        assert answer.status_code == 413
        # Sent in chunks with no length declared: counted as the route reads it.
        boundary = "regiocrm-test"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n'
            f'customers\r\n--{boundary}\r\nContent-Disposition: form-data; name="file";'
            ' filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()

        def chunks():
            yield head
            for _ in range(20):
                yield too_big

        streamed = desk.client.post(
            "/api/imports",
            content=chunks(),
            headers={
                **desk.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert streamed.status_code == 413, streamed.text
        assert count(desk, ImportJob) == 0
        assert not list((deployment_dir / "var" / "imports").glob("*"))

        answer = upload(desk, "姓名,手机\n王伟,13900000001\n".encode())
        assert answer.status_code == 202
        job = answer.json()["id"]
        with desk.stores.session() as session:
            other = create_organization(
                session, name="Pudong Motors", kind=OrganizationKind.DEALER, market="CN"
            )
            token = create_user(
                session, name="pudong", role=UserRole.DEALER_STAFF, organization=other
            ).token
        foreign = desk.client.get(
            f"/api/imports/{job}", headers={"Authorization": f"Bearer {token}"}
        )
        assert foreign.status_code == 404
        assert desk.get(f"/api/imports/{job}").status_code == 200
