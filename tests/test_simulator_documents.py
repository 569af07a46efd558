"""The simulated document system emits QCVN 102 edXML messages, a register, and known faults."""

from __future__ import annotations

import csv
import gzip
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest

from simulator.agencies import Agency, build_agencies
from simulator.calendar import WorkingCalendar
from simulator.documents import (
    DOCUMENTS_FILE,
    REGISTER_COLUMNS,
    REGISTER_FILE,
    STATUS_FILE,
    paper_share,
    same_day_acceptance,
    unsigned_share,
    write_document_system,
)
from simulator.units import MERGER_DATE, load_region

E = "{http://www.mic.gov.vn/TBT/QCVN_102_2016}"
DSIG = "{http://www.w3.org/2000/09/xmldsig#}"
WINDOW = (date(2025, 6, 15), date(2025, 7, 15))  # crosses the merger
SCALE = 0.01
FAULT_SCALE = 0.02
DATE = re.compile(r"^\d{4}/\d{2}/\d{2}$")
STAMP = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")
STATUS_CODES = {"01", "02", "03", "04", "05", "06"}
MESSAGE_KINDS = {"broken_xml", "truncated_xml", "wrong_encoding", "missing_field",
                 "impossible_date", "malformed_date", "unknown_unit", "duplicate",
                 "absurd_value"}  # fmt: skip
STATUS_KINDS = MESSAGE_KINDS - {"absurd_value"} | {"out_of_order_event"}
REGISTER_KINDS = MESSAGE_KINDS - {"broken_xml", "truncated_xml"}


@pytest.fixture(scope="module")
def agencies() -> list[Agency]:
    return build_agencies(load_region("37"))


def generate(
    out: Path, seed: int, scale: float = SCALE, fault_rate: float = 0.0, container: str = "lines"
) -> Path:
    """The line-packed form, whose lines these tests read one by one; the package forms hold
    the same messages (tests/test_ingestion_edxml.py)."""
    region = load_region("37")
    calendar = WorkingCalendar(2025, 2026)
    write_document_system(out, region, build_agencies(region), calendar, seed, scale, *WINDOW,
                          fault_rate=fault_rate, container=container)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("documents"), seed=7)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("faulty"), seed=7, scale=FAULT_SCALE, fault_rate=0.05)


def batches(out: Path) -> list[Path]:
    return sorted((out / "documents").iterdir())


def batch_day(batch: Path) -> date:
    return date.fromisoformat(batch.name.removeprefix("date="))


def lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines()


def in_force(agencies: list[Agency], day: date) -> set[str]:
    return {a.code for a in agencies if a.in_force(day)}


def parse_day(text: str) -> date:
    assert DATE.match(text), text
    return datetime.strptime(text, "%Y/%m/%d").date()


def parse_stamp(text: str) -> datetime:
    assert STAMP.match(text), text
    return datetime.strptime(text, "%Y/%m/%d %H:%M:%S")


@dataclass
class Export:
    """A generated export, parsed."""

    register: dict[str, dict[str, str]] = field(default_factory=dict)  # by DocumentId
    register_day: dict[str, date] = field(default_factory=dict)
    messages: dict[str, ET.Element] = field(default_factory=dict)
    message_day: dict[str, date] = field(default_factory=dict)
    statuses: list[tuple[date, ET.Element]] = field(default_factory=list)


def read_clean(out: Path) -> Export:
    export = Export()
    for batch in batches(out):
        day = batch_day(batch)
        text = gzip.decompress((batch / REGISTER_FILE).read_bytes()).decode("utf-8")
        rows = list(csv.DictReader(text.splitlines()))
        assert text.splitlines()[0] == ",".join(REGISTER_COLUMNS)
        for row in rows:
            assert row["document_id"] not in export.register, "DocumentIds are unique"
            export.register[row["document_id"]] = row
            export.register_day[row["document_id"]] = day
        for line in lines(batch / DOCUMENTS_FILE):
            root = ET.fromstring(line)  # every line parses on its own
            document_id = root.findtext(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader/"
                                        f"{E}DocumentId")  # fmt: skip
            assert document_id and document_id not in export.messages
            export.messages[document_id] = root
            export.message_day[document_id] = day
        export.statuses += [(day, ET.fromstring(line)) for line in lines(batch / STATUS_FILE)]
    return export


@pytest.fixture(scope="module")
def export(clean: Path) -> Export:
    return read_clean(clean)


def test_layout_is_daily_batches_of_gzip_files(clean: Path) -> None:
    days = [batch_day(b) for b in batches(clean)]
    assert days[0] == WINDOW[0] and days[-1] == WINDOW[1]
    assert len(days) == (WINDOW[1] - WINDOW[0]).days + 1  # every day has its batch
    for batch in batches(clean):
        assert sorted(p.name for p in batch.iterdir()) == sorted(
            [DOCUMENTS_FILE, STATUS_FILE, REGISTER_FILE]
        )
    assert not (clean / "faults").exists()


def test_documents_follow_qcvn_102(export: Export, agencies: list[Agency]) -> None:
    assert len(export.messages) > 500
    signed = 0
    for document_id, root in export.messages.items():
        assert root.tag == f"{E}edXML"
        envelope = root.find(f"{E}edXMLEnvelope")
        assert envelope is not None
        header = envelope.find(f"{E}edXMLHeader")
        message = header.find(f"{E}MessageHeader")
        sender = message.findtext(f"{E}From/{E}OrganId")
        assert message.findtext(f"{E}From/{E}OrganName")
        receivers = [to.findtext(f"{E}OrganId") for to in message.findall(f"{E}To")]
        assert receivers and len(set(receivers)) == len(receivers) and sender not in receivers
        number = message.findtext(f"{E}Code/{E}CodeNumber")
        notation = message.findtext(f"{E}Code/{E}CodeNotation")
        promulgated = message.findtext(f"{E}PromulgationInfo/{E}PromulgationDate")
        assert message.findtext(f"{E}PromulgationInfo/{E}Place")
        assert document_id == f"{sender},{promulgated},{number}/{notation}"
        day = parse_day(promulgated)
        assert day == export.message_day[document_id]
        codes = in_force(agencies, day)
        assert sender in codes and set(receivers) <= codes, (day, sender, receivers)
        assert message.findtext(f"{E}DocumentType/{E}Type").isdigit()
        assert message.findtext(f"{E}DocumentType/{E}TypeName")
        for path in ("Subject", "Content", "SignerInfo/{0}FullName", "OtherInfo/{0}Priority"):
            assert message.findtext(E + path.replace("{0}", E)), path
        assert 1 <= int(message.findtext(f"{E}OtherInfo/{E}PageAmount")) <= 100
        due = message.findtext(f"{E}DueDate")
        assert due == "" or parse_day(due) > day
        trace = header.find(f"{E}TraceHeaderList/{E}TraceHeader")
        assert trace.findtext(f"{E}OrganId") == sender
        assert parse_stamp(trace.findtext(f"{E}Timestamp")).date() == day
        signature = header.find(f"{DSIG}Signature")
        signed += signature is not None
        if signature is not None:
            assert signature.findtext(f"{DSIG}SignedInfo/{DSIG}Reference/{DSIG}DigestValue")
            assert signature.findtext(f"{DSIG}SignatureValue")
        reference = envelope.find(f"{E}edXMLBody/{E}edXMLManifest/{E}Reference")
        content_id = reference.findtext(f"{E}ContentId")
        attachment = root.find(f"{E}AttachmentEncoded/{E}Attachment")
        assert content_id == f"cid:{attachment.findtext(f'{E}ContentId')}"
        assert attachment.findtext(f"{E}ContentTransferEncoded")
    assert 0.5 < signed / len(export.messages) < 1


def test_status_messages_answer_every_electronic_document(
    export: Export, agencies: list[Agency]
) -> None:
    timeline: dict[tuple[str, str], dict[str, datetime]] = defaultdict(dict)
    for batch, root in export.statuses:
        assert root.tag == f"{E}edXMLEnvelope"
        status = root.find(f"{E}edXMLHeader/{E}Status")
        document_id = status.findtext(f"{E}ResponseFor/{E}DocumentId")
        row = export.register[document_id]
        assert status.findtext(f"{E}ResponseFor/{E}OrganId") == row["sender_code"]
        assert status.findtext(f"{E}ResponseFor/{E}Code") == (
            f"{row['code_number']}/{row['code_notation']}"
        )
        assert parse_day(status.findtext(f"{E}ResponseFor/{E}PromulgationDate"))
        receiver = status.findtext(f"{E}From/{E}OrganId")
        assert receiver in row["receiver_codes"].split(";")
        code = status.findtext(f"{E}StatusCode")
        assert code in STATUS_CODES and status.findtext(f"{E}Description")
        moment = parse_stamp(status.findtext(f"{E}Timestamp"))
        assert moment.date() == batch, "a status is in the batch of its timestamp"
        assert receiver in in_force(agencies, moment.date())
        assert status.findtext(f"{E}StaffInfo/{E}Staff").startswith(f"{receiver}/u")
        assert code not in timeline[(document_id, receiver)], "each status once"
        timeline[(document_id, receiver)][code] = moment
    electronic = {d: r for d, r in export.register.items() if r["is_electronic"] == "1"}
    for document_id, row in electronic.items():
        for receiver in row["receiver_codes"].split(";"):
            events = timeline[(document_id, receiver)]
            assert "01" in events, (document_id, receiver)
            sent = datetime.strptime(row["sent_at"], "%Y/%m/%d %H:%M:%S")
            assert sent <= events["01"] and events["01"].date() == sent.date()
    for (document_id, _), events in timeline.items():
        assert document_id in electronic
        assert not ("02" in events and "03" in events)
        order = [events[c] for c in ("01", "02", "03", "04", "05", "06") if c in events]
        assert order == sorted(order)
        assert set(events) <= {"01"} or "02" in events or "03" in events
    codes = Counter(code for events in timeline.values() for code in events)
    assert set(codes) == STATUS_CODES


def test_register_agrees_with_the_messages(export: Export, agencies: list[Agency]) -> None:
    rows = export.register
    electronic = {d for d, r in rows.items() if r["is_electronic"] == "1"}
    assert electronic == set(export.messages), "one message per electronic document, no other"
    secret = {d for d, r in rows.items() if r["is_secret"] == "1"}
    assert secret and not secret & set(export.messages), "secret documents never as edXML"
    paper = {d for d, r in rows.items() if r["is_electronic"] == "0"} - secret
    assert paper, "some documents are still sent on paper"
    for document_id, row in rows.items():
        day = parse_day(row["promulgation_date"])
        assert day == export.register_day[document_id]
        assert parse_stamp(row["sent_at"]).date() == day
        codes = in_force(agencies, day)
        receivers = row["receiver_codes"].split(";")
        assert row["sender_code"] in codes and set(receivers) <= codes
        assert int(row["receiver_count"]) == len(receivers)
        assert row["is_signed"] == "0" or row["is_electronic"] == "1"
        assert row["is_electronic"] == "0" or row["is_secret"] == "0"
        if document_id in export.messages:
            header = export.messages[document_id].find(f"{E}edXMLEnvelope/{E}edXMLHeader")
            message = header.find(f"{E}MessageHeader")
            to = [t.findtext(f"{E}OrganId") for t in message.findall(f"{E}To")]
            assert to == receivers
            assert message.findtext(f"{E}DocumentType/{E}TypeName") == row["type_name"]
            assert message.findtext(f"{E}OtherInfo/{E}PageAmount") == row["page_amount"]
            assert (header.find(f"{DSIG}Signature") is not None) == (row["is_signed"] == "1")
    share = len(electronic) / (len(rows) - len(secret))
    assert 0.8 < share < 0.99


def test_agencies_change_at_the_merger(export: Export, agencies: list[Agency]) -> None:
    old = {a.code for a in agencies if a.valid_to is not None}
    new = {a.code for a in agencies if a.valid_from == MERGER_DATE}
    before = [
        r for r in export.register.values() if parse_day(r["promulgation_date"]) < MERGER_DATE
    ]
    after = [
        r for r in export.register.values() if parse_day(r["promulgation_date"]) >= MERGER_DATE
    ]
    assert before and after
    assert {r["sender_code"] for r in before} <= old
    assert {r["sender_code"] for r in after} <= new
    # old provinces had district committees, and more communes than the merged province
    assert any(c.endswith("H35") for c in (r["sender_code"] for r in before))
    assert not any(c.endswith(("H35", "H36")) for c in (r["sender_code"] for r in after))


def test_volume_follows_working_days(export: Export) -> None:
    calendar = WorkingCalendar(2025, 2025)
    per_day = Counter(export.register_day.values())
    days = [date.fromordinal(n) for n in range(WINDOW[0].toordinal(), WINDOW[1].toordinal() + 1)]
    working = [per_day[d] for d in days if calendar.is_working_day(d)]
    weekend = [per_day[d] for d in days if not calendar.is_working_day(d)]
    assert len(working) == 22 and min(working) > 3 * max(weekend)
    expected = SCALE * 2_000_000 * 22 / 252  # 22 working days in the window
    assert 0.7 * expected < len(export.register) < 1.3 * expected


def test_kpi_drivers_move_as_expected() -> None:
    commune, department = "commune_committee", "department"
    before, just_after, later = date(2025, 6, 20), date(2025, 7, 10), date(2026, 5, 20)
    assert same_day_acceptance(commune, just_after) < same_day_acceptance(commune, before)
    assert same_day_acceptance(commune, later) > same_day_acceptance(commune, before)
    assert same_day_acceptance(commune, later) < same_day_acceptance(department, later)
    assert (
        paper_share(commune, later)
        < paper_share(commune, just_after)
        < paper_share(commune, before)
    )
    assert unsigned_share(commune, later) < unsigned_share(commune, before)


def test_generation_is_deterministic(clean: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", seed=7)
    other = generate(tmp_path / "other", seed=8)
    files = sorted(p.relative_to(clean) for p in clean.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert (clean / name).read_bytes() == (again / name).read_bytes(), name
    assert any(
        (clean / name).read_bytes() != (other / name).read_bytes()
        for name in files
        if (other / name).exists()
    )


# -- faults --------------------------------------------------------------------------------


def manifest(out: Path, source: str) -> list[dict[str, str]]:
    path = out / "faults" / f"{source}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def date_problem(text: str | None) -> str | None:
    if not text or not re.match(r"^\d{4}/\d{2}/\d{2}( \d{2}:\d{2}:\d{2})?$", text):
        return "malformed_date"
    try:
        datetime.strptime(text[:10], "%Y/%m/%d")
    except ValueError:
        return "impossible_date"
    return None


def unparseable(line: bytes, complete_end: bytes) -> str | None:
    """The fault of a line that does not parse, or None when it parses."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "wrong_encoding"
    try:
        ET.fromstring(line)
    except ET.ParseError:
        return "broken_xml" if line.endswith(complete_end) else "truncated_xml"
    return None


def check_faults(found: list[tuple[str, str | None, str]], listed: list[dict[str, str]]) -> None:
    """Every fault found is listed with its kind and file, and every listed fault is found."""
    assert Counter((f, k) for f, _, k in found) == Counter((e["file"], e["kind"]) for e in listed)
    with_key = {(f, key, k) for f, key, k in found if key is not None}
    listed_keys = {(e["file"], e["record_key"], e["kind"]) for e in listed}
    assert with_key <= listed_keys


def test_faults_are_listed_and_real(faulty: Path, agencies: list[Agency]) -> None:
    codes_by_day: dict[date, set[str]] = {}

    def codes(day: date) -> set[str]:
        if day not in codes_by_day:
            codes_by_day[day] = in_force(agencies, day)
        return codes_by_day[day]

    messages, statuses, rows = [], [], []
    seen: set[bytes] = set()
    arrivals: dict[tuple[str, str], datetime] = {}
    completions: list[tuple[str, tuple[str, str], datetime]] = []
    for batch in batches(faulty):
        day = batch_day(batch)
        name = f"documents/{batch.name}/"
        for line in lines(batch / DOCUMENTS_FILE):
            file = name + DOCUMENTS_FILE
            if line in seen:
                messages.append((file, None, "duplicate"))
                continue
            seen.add(line)
            kind = unparseable(line, b"</edXML>")
            if kind:
                messages.append((file, None, kind))
                continue
            header = ET.fromstring(line).find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader")
            key = header.findtext(f"{E}DocumentId")
            problems = []
            if key is None or header.find(f"{E}From") is None:
                problems.append("missing_field")
            promulgated = header.findtext(f"{E}PromulgationInfo/{E}PromulgationDate")
            if date_problem(promulgated):
                problems.append(date_problem(promulgated))
            if any(t.findtext(f"{E}OrganId") not in codes(day) for t in header.findall(f"{E}To")):
                problems.append("unknown_unit")
            if int(header.findtext(f"{E}OtherInfo/{E}PageAmount")) > 10_000:
                problems.append("absurd_value")
            assert len(problems) <= 1, (key, problems)
            messages += [(file, key, p) for p in problems]
        for line in lines(batch / STATUS_FILE):
            file = name + STATUS_FILE
            if line in seen:
                statuses.append((file, None, "duplicate"))
                continue
            seen.add(line)
            kind = unparseable(line, b"</edXML:edXMLEnvelope>")
            if kind:
                statuses.append((file, None, kind))
                continue
            status = ET.fromstring(line).find(f"{E}edXMLHeader/{E}Status")
            document_id = status.findtext(f"{E}ResponseFor/{E}DocumentId")
            receiver = status.findtext(f"{E}From/{E}OrganId")
            code = status.findtext(f"{E}StatusCode")
            assert code in STATUS_CODES
            key = f"{document_id}|{receiver}|{code}" if document_id and receiver else None
            stamp = status.findtext(f"{E}Timestamp")
            problems = []
            if key is None:
                problems.append("missing_field")
            if date_problem(stamp):
                problems.append(date_problem(stamp))
            elif receiver is not None:
                moment = parse_stamp(stamp)
                if code == "01":
                    arrivals[(document_id, receiver)] = moment
                elif code == "06":
                    completions.append((file, (document_id, receiver), moment))
            if receiver is not None and receiver not in codes(day):
                problems.append("unknown_unit")
                key = None  # the key names the real receiver, the line an unknown one
            assert len(problems) <= 1, (key, problems)
            statuses += [(file, key, p) for p in problems]
        text = gzip.decompress((batch / REGISTER_FILE).read_bytes())
        for line in text.splitlines()[1:]:
            file = name + REGISTER_FILE
            if line in seen:
                rows.append((file, None, "duplicate"))
                continue
            seen.add(line)
            try:
                row = dict(zip(REGISTER_COLUMNS, next(csv.reader([line.decode()])), strict=True))
            except UnicodeDecodeError:
                rows.append((file, None, "wrong_encoding"))
                continue
            key = row["document_id"] or None
            problems = []
            if not row["document_id"] or not row["sender_code"]:
                problems.append("missing_field")
            if date_problem(row["promulgation_date"]):
                problems.append(date_problem(row["promulgation_date"]))
            if not set(row["receiver_codes"].split(";")) <= codes(day):
                problems.append("unknown_unit")
            if int(row["page_amount"]) > 10_000:
                problems.append("absurd_value")
            assert len(problems) <= 1, (key, problems)
            rows += [(file, key, p) for p in problems]
    for file, pair, moment in completions:
        if pair in arrivals and moment < arrivals[pair]:
            statuses.append((file, f"{pair[0]}|{pair[1]}|06", "out_of_order_event"))

    listed = {s: manifest(faulty, s) for s in ("documents.messages", "documents.status",
                                               "documents.register")}  # fmt: skip
    assert {e["kind"] for e in listed["documents.messages"]} == MESSAGE_KINDS
    assert {e["kind"] for e in listed["documents.status"]} == STATUS_KINDS
    assert {e["kind"] for e in listed["documents.register"]} == REGISTER_KINDS
    for entries in listed.values():
        keys = [(e["record_key"], e["kind"]) for e in entries]
        assert len({k for k, _ in keys}) == len(keys), "one fault per record"
    check_faults(messages, listed["documents.messages"])
    check_faults(statuses, listed["documents.status"])
    check_faults(rows, listed["documents.register"])
