"""The Qt (PySide6) window of the counter.

`ui` may import `app` (and later `devices`, `printing`); nothing below it imports `ui`.
Every Qt name comes from `ui.qt`, so a change of binding touches one file. Database and
other slow work leave the GUI thread through `ui.operations.Operation`.
"""
