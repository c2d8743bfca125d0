"""The policy rules: filing verdicts and settlement computation, pure (no database, no Qt).

`profiles` reads the regional parameters from `resources/profiles/`; `case` holds one
stay's facts and reads them strictly from a case file (`../shared/CASES.md`);
`verdict` says whether the stay may be settled directly; `settlement` splits its
charges into the slip's buckets.
"""
