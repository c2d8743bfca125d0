"""Talking to the settlement centre (结算中心 / 省集中式系统).

- `wire`: the JSON interface of `docs/centre-interface.md` (envelope, codes, signatures), used by
  both sides;
- `gateway`: the `Centre` interface in domain words; `json_adapter`: its adapter for the JSON
  interface; `outbox`: write-before-send and resolution of unknown outcomes;
- `sandbox`: the bundled sandbox centre (`wi-counter centre serve`), a real HTTP service.
"""
