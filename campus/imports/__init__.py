"""CSV import of campus data: one generic importer, one small spec per kind.

`run_import(kind=..., source=...)` is the one way in for the management
commands, the admin upload form and the API. Every row is parsed and checked
first; then the good rows are written inside one transaction (plain records in
batches, rows with a business rule such as the timetable overlap check one by
one in savepoints, so each refusal is reported against its line). Unless
`skip_invalid` is set, any bad row rolls the whole import back. Rows are
matched to existing records by natural key, so a re-import of the same file
changes nothing and says so.
"""

from .runner import ImportResult, RowError, run_import
from .specs import IMPORT_SPECS

__all__ = ["IMPORT_SPECS", "ImportResult", "RowError", "run_import"]
