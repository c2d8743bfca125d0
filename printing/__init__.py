"""Printed documents, with reportlab: the settlement slip (`printing.templates`) and, later, the monthly forms.

May import `app`; never Qt, `ui` or `devices` (ARCHITECTURE.md).
"""
