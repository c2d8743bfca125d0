"""Printed documents: the settlement slip and the monthly forms, with reportlab (the slip issue).

Nothing here yet.
"""
