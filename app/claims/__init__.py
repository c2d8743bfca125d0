"""Monthly claims (月度结算申请): the month's settlements claimed from the agency as one batch,
the three forms of `000 附件9 / 9-1 / 9-2`, the chunked upload, the agency's deductions and
disputes, and the deadlines on a working-day calendar (`000 §30 §31`, `003 §20 §21`,
`002 经办规程 §21 §23`)."""
