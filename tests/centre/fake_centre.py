"""An in-process centre for unit tests of the outbox: records every msgid like a real centre
(applied / failed / reversed / voided, each msgid at most once) and injects faults on demand.

The real HTTP sandbox (`app.sandbox`) is used by the contract and fault tests; this
fake lets the outbox's logic be tested fast and exactly, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.centre.gateway import (
    Admission,
    AdmissionCancellation,
    AdmissionCancelRequest,
    AdmissionRequest,
    CallOutcome,
    CataloguePage,
    Centre,
    CentreRefused,
    CentreUnavailable,
    ClaimChunk,
    ClaimReceipt,
    ClaimStatusReport,
    DailyDetails,
    AuditAnchor,
    DailyTotals,
    FeeCancelReceipt,
    FeeCancelRequest,
    FeeUpload,
    FeeUploadReceipt,
    Operation,
    OutcomeState,
    OutcomeUnknown,
    Person,
    PersonKey,
    ReversalResult,
    SettlementCancellation,
    SettlementCancelRequest,
    SettlementFigures,
    SettlementRequest,
)

# Faults, consumed one per call in order:
#   unreachable   connection refused (nothing sent)
#   lose_request  the request is lost on the way (nothing applied, outcome unknown to the client)
#   drop_reply    applied, then the reply is lost
#   refuse        refused (recorded as failed)
#   hold          the request is held in the network and arrives later (`deliver_held`)


@dataclass
class Record:
    operation: Operation
    state: OutcomeState
    result: Any = None
    reversed_by: str = ""


@dataclass
class FakeCentre(Centre):
    name: str = "fake"
    faults: list[str] = field(default_factory=list)
    query_faults: list[str] = field(default_factory=list)  # faults of outcome queries
    records: dict[str, Record] = field(default_factory=dict)
    live_settlements: dict[str, str] = field(default_factory=dict)  # registration -> settlement id
    held: list[tuple[str, SettlementRequest]] = field(default_factory=list)
    sequence: int = 0

    # --- helpers for tests ------------------------------------------------------------

    def applied_count(self, operation: Operation) -> int:
        return Counter(r.operation for r in self.records.values() if r.state is OutcomeState.APPLIED)[operation]

    def deliver_held(self) -> list[str]:
        """The held requests finally arrive; returns what became of each."""
        outcomes = []
        for msgid, request in self.held:
            try:
                self._apply_settlement(msgid, request)
                outcomes.append("applied")
            except CentreRefused as exc:
                outcomes.append(exc.code)
        self.held.clear()
        return outcomes

    # --- state-changing ------------------------------------------------------------------

    def _admit(self, msgid: str) -> str | None:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "unreachable":
            raise CentreUnavailable("无法连接结算中心（测试）")
        if fault == "lose_request":
            raise OutcomeUnknown("应答超时（测试）", msgid)
        return fault

    def _check_msgid(self, msgid: str) -> None:
        record = self.records.get(msgid)
        if record is not None and record.state is OutcomeState.VOIDED:
            raise CentreRefused("1009", "此报文编号已被冲正作废")
        if record is not None:
            raise CentreRefused("1004", "报文编号已使用过")

    def _apply_settlement(self, msgid: str, request: SettlementRequest) -> SettlementFigures:
        self._check_msgid(msgid)
        if request.registration_no in self.live_settlements:
            self.records[msgid] = Record(Operation.SETTLEMENT, OutcomeState.FAILED)
            raise CentreRefused("3003", "已结算")
        self.sequence += 1
        settlement_id = f"JS{self.sequence:06d}"
        self.live_settlements[request.registration_no] = settlement_id
        figures = SettlementFigures(
            settlement_id=settlement_id, registration_no=request.registration_no,
            settled=request.settled or request.discharged, settlement_kind="本地工伤结算", verdict=None,
            matrix={}, total=Decimal("100.00"), fund_total=Decimal("90.00"), personal_total=Decimal("10.00"),
            items=(),
        )
        self.records[msgid] = Record(Operation.SETTLEMENT, OutcomeState.APPLIED, figures)
        return figures

    def settle(self, msgid: str, request: SettlementRequest) -> SettlementFigures:
        fault = self._admit(msgid)
        if fault == "hold":
            self.held.append((msgid, request))
            raise OutcomeUnknown("应答超时（测试）", msgid)
        if fault == "refuse":
            self._check_msgid(msgid)
            self.records[msgid] = Record(Operation.SETTLEMENT, OutcomeState.FAILED)
            raise CentreRefused("9001", "中心暂时无法处理")
        figures = self._apply_settlement(msgid, request)
        if fault == "drop_reply":
            raise OutcomeUnknown("连接中断（测试）", msgid)
        return figures

    def reverse(self, msgid: str, original_msgid: str, original: Operation,
                original_fingerprint: str = "") -> ReversalResult:
        fault = self._admit(msgid)
        self._check_msgid(msgid)
        record = self.records.get(original_msgid)
        changed = True
        if record is None:
            self.records[original_msgid] = Record(original, OutcomeState.VOIDED, reversed_by=msgid)
            outcome = OutcomeState.VOIDED
        elif record.state is OutcomeState.APPLIED:
            record.state = OutcomeState.REVERSED
            record.reversed_by = msgid
            if original is Operation.SETTLEMENT:
                self.live_settlements = {k: v for k, v in self.live_settlements.items()
                                         if v != record.result.settlement_id}
            outcome = OutcomeState.REVERSED
        else:
            outcome, changed = record.state, False
        result = ReversalResult(original_msgid, original, outcome, changed)
        self.records[msgid] = Record(Operation.REVERSAL, OutcomeState.APPLIED, result)
        if fault == "drop_reply":
            raise OutcomeUnknown("连接中断（测试）", msgid)
        return result

    def query_outcome(self, original_msgid: str, operation: Operation) -> CallOutcome:
        fault = self.query_faults.pop(0) if self.query_faults else None
        if fault == "unreachable":
            raise CentreUnavailable("无法连接结算中心（测试）")
        if fault == "not_signed_in":
            raise CentreRefused("9001", "未签到或签到已失效（测试）")
        record = self.records.get(original_msgid)
        if record is None:
            return CallOutcome(original_msgid, OutcomeState.UNKNOWN, None, None, "", "", "")
        return CallOutcome(original_msgid, record.state, record.operation,
                           record.result if record.state is OutcomeState.APPLIED else None, "", "",
                           record.reversed_by)

    # --- not needed by the outbox tests -----------------------------------------------------

    def ping(self) -> None:
        if self.faults and self.faults[0] == "unreachable":
            raise CentreUnavailable("无法连接结算中心（测试）")

    def sign_in(self) -> None:
        pass

    def find_person(self, key: PersonKey, value: str) -> Person:
        raise NotImplementedError

    def download_catalogue(self, since_version: int = 0, page: int = 1, page_size: int = 500) -> CataloguePage:
        raise NotImplementedError

    def pre_settle(self, request: SettlementRequest) -> SettlementFigures:
        raise NotImplementedError

    def claim_status(self, claim_no: str) -> ClaimStatusReport:
        raise NotImplementedError

    def daily_totals(self, day: dt.date, audit_head: AuditAnchor | None = None) -> DailyTotals:
        raise NotImplementedError

    def daily_details(self, day: dt.date, page: int = 1, page_size: int = 500) -> DailyDetails:
        raise NotImplementedError

    def register_admission(self, msgid: str, request: AdmissionRequest) -> Admission:
        raise NotImplementedError

    def cancel_admission(self, msgid: str, request: AdmissionCancelRequest) -> AdmissionCancellation:
        raise NotImplementedError

    def upload_fees(self, msgid: str, upload: FeeUpload) -> FeeUploadReceipt:
        raise NotImplementedError

    def cancel_fees(self, msgid: str, request: FeeCancelRequest) -> FeeCancelReceipt:
        raise NotImplementedError

    def cancel_settlement(self, msgid: str, request: SettlementCancelRequest) -> SettlementCancellation:
        raise NotImplementedError

    def register_full_payment(self, msgid: str, request: Any) -> Any:
        raise NotImplementedError

    def upload_claim_chunk(self, msgid: str, chunk: ClaimChunk) -> ClaimReceipt:
        raise NotImplementedError
