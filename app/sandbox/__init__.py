"""The sandbox centre: a real HTTP service implementing `docs/centre-interface.md`.

For training rooms, the demo and the tests: its own SQLite database under `--data`, the
seeded demo data set (`resources/sandbox/`), settlement by the same rules as the counter
(`app.rules`), fault injection on demand. `store` (database), `seed` (demo data),
`service` (the transactions), `server` (HTTP, faults, supervisor; `wi-counter centre serve`).
"""
