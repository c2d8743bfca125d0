"""What the workflow's modules share: their error type."""

from __future__ import annotations

from app.errors import WiCounterError


class WorkflowError(WiCounterError):
    """A step of the workflow cannot be done; `message` tells the clerk why, in Chinese."""


class StayNotFound(WorkflowError):
    def __init__(self, stay_id: int) -> None:
        super().__init__(f"没有编号为 {stay_id} 的住院登记。")
        self.stay_id = stay_id
