"""The 月度结算 page's pre-audit box (issue 10, part B).

Before the agency answers: the claim's predicted deductions per settled stay and in total
(`app.claims.preaudit_month.predict_claim`, the site's rules). Once answered: the month's comparison per
rule (命中 / 误报 / 漏报, 准确率, 召回率, amounts), the deductions no rule predicted with the agency's
reason, and — for a reviewer — the rules the agency keeps contradicting, each with a 停用/启用 action
on the site's rules copy (`set_rule_enabled`, audited). Database work on the database thread
(`ui.operations`); a result for a claim no longer shown is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.bootstrap import CounterContext
from app.db.models import ClaimStatus
from app.operators import OperatorInfo, Permission
from app.slips import money_text
from ui.operations import Operation
from ui.pages.claims_dialogs import RuleAdjustDialog
from ui.pages.workflow_widgets import error_text
from ui.qt import (
    QAbstractItemView,
    QBrush,
    QColor,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.widgets import ERROR_COLOUR, ErrorLabel

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

    from app.claims.service import ClaimSummary
    from app.claims.preaudit_month import ClaimPrediction, ContradictedRule, MonthComparison
    from app.preaudit.ruleset import RuleSet

PREDICTION_COLUMNS = ("姓名", "就医登记号", "预计扣款", "规则", "提示")
ACCURACY_COLUMNS = ("规则", "命中", "误报", "漏报", "准确率", "召回率", "命中扣款", "预测未扣", "漏报扣款")
UNPREDICTED_COLUMNS = ("扣款项目", "明细", "扣款金额", "经办机构的扣款原因")
CONTRADICTED_COLUMNS = ("规则", "状态", "情况", "建议")


@dataclass(frozen=True)
class PreauditView:
    """What the box shows for one claim, read in one transaction."""

    claim_id: int
    prediction: ClaimPrediction | None  # before the answer
    comparison: MonthComparison | None  # once answered
    contradicted: tuple[ContradictedRule, ...]
    titles: dict[str, str]


def _item(text: str, *, right: bool = False, colour: str | None = None, tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if colour:
        item.setForeground(QBrush(QColor(colour)))
    if tooltip:
        item.setToolTip(tooltip)
    return item


def _table(columns: Sequence[str], name: str, parent: QWidget, stretch: int) -> QTableWidget:
    table = QTableWidget(0, len(columns), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    table.setWordWrap(True)
    return table


def _fit(table: QTableWidget, max_rows: int = 8) -> None:
    table.resizeRowsToContents()  # wrapped reasons take two lines
    shown = min(table.rowCount(), max_rows)
    rows_height = sum(table.rowHeight(row) for row in range(shown)) or table.verticalHeader().defaultSectionSize()
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows_height + 2 * table.frameWidth() + 2)


class PreauditBox(QGroupBox):
    """预审: predicted deductions before the answer, precision and recall after it. Emits `rules_changed()`
    after a reviewer switched a rule."""

    rules_changed = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("预审：预计扣款与审核结果对比"), parent)
        self.setObjectName("preauditBox")
        self._ctx = ctx
        self._operator = operator
        self.is_reviewer = operator.can(Permission.BUILD_CLAIM)
        self.view: PreauditView | None = None
        self.loading = False
        self.adjust_dialog: RuleAdjustDialog | None = None
        self._generation = 0
        self._shown_key: tuple[object, ...] | None = None
        self._last_claim: ClaimSummary | None = None

        layout = QVBoxLayout(self)
        self.summary = QLabel("", self)
        self.summary.setObjectName("preauditSummary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.prediction_table = _table([self.tr(c) for c in PREDICTION_COLUMNS], "predictionTable", self, 4)
        layout.addWidget(self.prediction_table)
        self.accuracy_table = _table([self.tr(c) for c in ACCURACY_COLUMNS], "accuracyTable", self, 0)
        layout.addWidget(self.accuracy_table)
        self.unpredicted_label = QLabel(self.tr("未预测的扣款（没有规则预测到、扣款原因也对应不到规则）："), self)
        layout.addWidget(self.unpredicted_label)
        self.unpredicted_table = _table([self.tr(c) for c in UNPREDICTED_COLUMNS], "unpredictedTable", self, 3)
        layout.addWidget(self.unpredicted_table)
        self.contradicted_label = QLabel(self.tr("经办机构多次否定的规则（供审核员调整）："), self)
        self.contradicted_label.setWordWrap(True)
        layout.addWidget(self.contradicted_label)
        self.contradicted_table = _table([self.tr(c) for c in CONTRADICTED_COLUMNS], "contradictedTable", self, 2)
        layout.addWidget(self.contradicted_table)
        row = QHBoxLayout()
        row.addStretch(1)
        self.adjust_button = QPushButton(self.tr("停用规则(&J)…"), self)
        self.adjust_button.setObjectName("adjustRule")
        self.adjust_button.clicked.connect(self.open_adjust)
        row.addWidget(self.adjust_button)
        layout.addLayout(row)
        self.message = QLabel("", self)
        self.message.setObjectName("preauditMessage")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.error_label = ErrorLabel(self, "preauditError")
        layout.addWidget(self.error_label)
        self.contradicted_table.itemSelectionChanged.connect(self._update_adjust)
        self._show(None)

    # --- loading ----------------------------------------------------------------------------------

    def show_claim(self, claim: ClaimSummary | None, *, force: bool = False) -> None:
        """Show the claim's predictions (or, once answered, its month's comparison)."""
        key = None if claim is None else (claim.claim_id, claim.status, claim.person_times, claim.fund_total,
                                          claim.deduction_total)
        self._last_claim = claim
        if key == self._shown_key and not force:
            return
        self._shown_key = key
        self._generation += 1
        generation = self._generation
        if claim is None:
            self.view = None
            self._show(None)
            return
        claim_id, month, answered = claim.claim_id, claim.month, claim.status is ClaimStatus.ANSWERED
        ctx, reviewer = self._ctx, self.is_reviewer

        def work(session: Session) -> PreauditView:
            from app.claims.preaudit_month import (
                compare_month,
                contradicted_rules,
                load_agency_reasons,
                predict_claim,
                reasons_path,
            )
            from app.preaudit.ruleset import site_ruleset

            rules: RuleSet = site_ruleset(ctx.paths.config_dir)
            titles = {rule_id: rules.rule(rule_id).title for rule_id in rules.rules}
            if not answered:
                return PreauditView(claim_id, predict_claim(session, claim_id, rules), None, (), titles)
            reasons = load_agency_reasons(reasons_path(ctx.paths.config_dir))
            contradicted = tuple(contradicted_rules(session, rules, reasons)) if reviewer else ()
            return PreauditView(claim_id, None, compare_month(session, month, reasons), contradicted, titles)

        self.loading = True
        self.summary.setText(self.tr("正在预审…"))
        Operation.transaction(self, ctx, work).success(lambda view: self._loaded(view, generation)).failure(
            lambda error: self._failed(error, generation)).run()

    def _loaded(self, view: PreauditView, generation: int) -> None:
        if generation != self._generation:
            return
        self.loading = False
        self.view = view
        self.error_label.clear_error()
        self._show(view)

    def _failed(self, error: BaseException, generation: int) -> None:
        if generation != self._generation:
            return
        self.loading = False
        self._shown_key = None  # try again next time
        self.summary.setText("")
        self.error_label.show_error(self.tr("未能预审：{reason}").format(reason=error_text(error)))

    # --- showing ----------------------------------------------------------------------------------

    def _show(self, view: PreauditView | None) -> None:
        prediction = view.prediction if view is not None else None
        comparison = view.comparison if view is not None else None
        self.prediction_table.setVisible(prediction is not None)
        answered: tuple[QWidget, ...] = (self.accuracy_table, self.unpredicted_label, self.unpredicted_table)
        for widget in answered:
            widget.setVisible(comparison is not None)
        contradicted = view.contradicted if view is not None else ()
        for_reviewer: tuple[QWidget, ...] = (self.contradicted_label, self.contradicted_table, self.adjust_button)
        for widget in for_reviewer:
            widget.setVisible(bool(contradicted))
        if view is None:
            self.summary.setText(self.tr("生成申请后，这里显示每笔结算的预计扣款。"))
            return
        if prediction is not None:
            self._show_prediction(prediction, view.titles)
        if comparison is not None:
            self._show_comparison(comparison, view.titles)
        self._show_contradicted(contradicted)

    def _show_prediction(self, prediction: ClaimPrediction, titles: dict[str, str]) -> None:
        self.summary.setText(self.tr(
            "上传前预审：预计经办机构扣款 {total} 元；{risky}/{count} 笔结算有扣款风险（每条明细只计一次）。").format(
            total=money_text(prediction.total_at_risk), risky=prediction.stays_at_risk, count=len(prediction.stays)))
        stays = [stay for stay in prediction.stays if stay.findings]
        table = self.prediction_table
        table.setRowCount(len(stays))
        for row, stay in enumerate(stays):
            rules = "、".join(dict.fromkeys(titles.get(f.rule, f.rule) for f in stay.findings))
            details = "\n".join(
                (self.tr("明细 {seq}：").format(seq=f.seq) if f.seq is not None else self.tr("整笔：")) + f.message
                for f in stay.findings)
            first = stay.findings[0].message + (self.tr(" 等 {n} 条").format(n=len(stay.findings))
                                                if len(stay.findings) > 1 else "")
            colour = ERROR_COLOUR if stay.at_risk > 0 else None
            table.setItem(row, 0, _item(stay.worker_name))
            table.setItem(row, 1, _item(stay.registration_no or "—"))
            table.setItem(row, 2, _item(self.tr("{amount} 元").format(amount=money_text(stay.at_risk)), right=True,
                                        colour=colour))
            table.setItem(row, 3, _item(rules))
            table.setItem(row, 4, _item(first, tooltip=details))
        _fit(table)

    def _show_comparison(self, comparison: MonthComparison, titles: dict[str, str]) -> None:
        from app.claims.preaudit_month import ratio_text

        overall = comparison.overall
        text = self.tr(
            "本月审核结果与预审对比：命中 {tp} 条，误报 {fp} 条，漏报 {fn} 条；准确率 {precision}，召回率 {recall}。"
            "经办机构扣款中预审命中 {hit} 元，未预测 {missed} 元；预测未扣 {wrong} 元。").format(
            tp=overall.true_positives, fp=overall.false_positives, fn=overall.false_negatives,
            precision=ratio_text(overall.precision), recall=ratio_text(overall.recall),
            hit=money_text(overall.deducted_hit), missed=money_text(overall.deducted_unpredicted),
            wrong=money_text(overall.predicted_missed))
        if comparison.notes:
            text += "\n" + "\n".join(comparison.notes)
        self.summary.setText(text)
        table = self.accuracy_table
        table.setRowCount(len(comparison.rules))
        for row, accuracy in enumerate(comparison.rules):
            cells = (titles.get(accuracy.rule, accuracy.rule), str(accuracy.true_positives),
                     str(accuracy.false_positives), str(accuracy.false_negatives), ratio_text(accuracy.precision),
                     ratio_text(accuracy.recall), money_text(accuracy.deducted_hit),
                     money_text(accuracy.predicted_missed), money_text(accuracy.deducted_unpredicted))
            for column, value in enumerate(cells):
                table.setItem(row, column, _item(value, right=column > 0,
                                                 tooltip=accuracy.rule if column == 0 else ""))
        _fit(table)
        unpredicted = self.unpredicted_table
        unpredicted.setRowCount(len(comparison.unpredicted))
        for row, deduction in enumerate(comparison.unpredicted):
            unpredicted.setItem(row, 0, _item(deduction.item_name or self.tr("整笔结算")))
            unpredicted.setItem(row, 1, _item(str(deduction.line_no), right=True))
            unpredicted.setItem(row, 2, _item(self.tr("{amount} 元").format(amount=money_text(deduction.amount)),
                                              right=True))
            unpredicted.setItem(row, 3, _item(deduction.reason, tooltip=deduction.reason))
        self.unpredicted_label.setVisible(True)
        _fit(unpredicted, 6)

    def _show_contradicted(self, contradicted: Sequence[ContradictedRule]) -> None:
        table = self.contradicted_table
        table.setRowCount(len(contradicted))
        for row, rule in enumerate(contradicted):
            table.setItem(row, 0, _item(f"{rule.title}（{rule.rule}）"))
            table.setItem(row, 1, _item(self.tr("启用") if rule.enabled else self.tr("已停用"),
                                        colour=None if rule.enabled else ERROR_COLOUR))
            table.setItem(row, 2, _item(rule.explanation, tooltip=rule.explanation))
            table.setItem(row, 3, _item(rule.suggestion, tooltip=rule.suggestion))
        _fit(table, 5)
        if contradicted and not table.selectedItems():
            table.selectRow(0)
        self._update_adjust()

    # --- the reviewer's adjustment ------------------------------------------------------------------

    def selected_rule(self) -> ContradictedRule | None:
        view = self.view
        rows = {index.row() for index in self.contradicted_table.selectedIndexes()}
        if view is None or len(rows) != 1:
            return None
        row = rows.pop()
        return view.contradicted[row] if row < len(view.contradicted) else None

    def _update_adjust(self) -> None:
        rule = self.selected_rule()
        self.adjust_button.setEnabled(self.is_reviewer and rule is not None and self.adjust_dialog is None)
        self.adjust_button.setText(self.tr("启用规则(&J)…") if rule is not None and not rule.enabled
                                   else self.tr("停用规则(&J)…"))

    def open_adjust(self) -> None:
        rule = self.selected_rule()
        if rule is None or not self.is_reviewer or self.adjust_dialog is not None:
            return
        dialog = RuleAdjustDialog(rule, not rule.enabled, self)
        dialog.submitted.connect(lambda: self.submit_adjust(dialog))
        dialog.finished.connect(lambda _result: self._adjust_closed(dialog))
        self.adjust_dialog = dialog
        self._update_adjust()
        dialog.open()

    def _adjust_closed(self, dialog: RuleAdjustDialog) -> None:
        if self.adjust_dialog is dialog:
            self.adjust_dialog = None
        dialog.deleteLater()
        self._update_adjust()

    def submit_adjust(self, dialog: RuleAdjustDialog) -> None:
        rule_id, enable, reason = dialog.rule.rule, dialog.enable, dialog.reason()
        ctx, operator = self._ctx, self._operator

        def work(session: Session) -> Path:
            from app.claims.preaudit_month import set_rule_enabled

            return set_rule_enabled(session, ctx.paths.config_dir, rule_id, enable, operator,
                                    counter_name=ctx.counter_name, reason=reason)

        dialog.set_busy(True)
        Operation.transaction(dialog, ctx, work).success(lambda path: self._adjusted(dialog, path)).failure(
            lambda error: dialog.failed(error_text(error))).run()

    def _adjusted(self, dialog: RuleAdjustDialog, path: Path) -> None:
        dialog.accept()
        self.message.setText(self.tr("已{action}预审规则“{title}”（本院规则副本 {path}）。").format(
            action=self.tr("启用") if dialog.enable else self.tr("停用"), title=dialog.rule.title, path=path))
        self.rules_changed.emit()
        self._shown_key = None
        if self.view is not None:  # the rule's state in the list follows the file
            self._reload_current()

    def _reload_current(self) -> None:
        if self._last_claim is not None:
            self.show_claim(self._last_claim, force=True)
