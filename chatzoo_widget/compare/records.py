"""Moved to `compare/exports.py` (the record types themselves are in `chatzoo_widget/records/`); kept so that
older imports keep working."""

from .exports import (FORMAT, TABLE_COLUMNS, VERSION, comparison_document, export,  # noqa: F401
                      export_preference_pairs, load, preference_pairs, restore, to_dataframe, validate)
