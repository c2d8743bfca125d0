"""The database: typed mappings (`models`), engine set-up (`engine`), migrations (`migrate`)."""
