"""Card readers: the PC/SC transport, the mock reader and the card protocol (the card issue).

Nothing here yet. When it arrives, pyscard is imported in one module of this package only.
"""
