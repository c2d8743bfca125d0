"""wi-counter: the work-injury insurance (工伤保险) settlement counter.

`app` is the domain and its services. It never imports Qt, `ui`, `devices` or
`printing` (ARCHITECTURE.md; checked by tests/test_import_contracts.py).
"""

__version__ = "0.1.0"
