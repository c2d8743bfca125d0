"""The counter workflow (issue 6): admission with the filing check, the stay's charges and
their 伤病分离, discharge with the second check and the settlement, the stays at a glance.

Services only (no Qt): the window and the command line call the same functions, and every
permission is enforced here (`app.operators.require`), not by hiding buttons.
"""
