"""Case records as tables (docs/tables.md): a layout derived from the case model, readers of
CSV folders, zips and Parquet, and a writer of the same tables.

* :func:`layout` -- the tables and their columns, from :class:`~fhir_ivc.model.Case`;
* :func:`iter_table_cases` -- cases from a folder or zip of tables, or a nested Parquet file,
  streamed (``fhir_ivc.io.iter_case_records`` calls it for such inputs);
* :class:`TableWriter` -- cases to the tables, CSV or Parquet;
* :func:`write_template` / :func:`layout_text` -- the empty tables with a README of the
  columns, and the layout as text (``fhir-ivc schema --template`` / ``--tables``).

CSV needs nothing beyond the core; Parquet needs pyarrow (the ``tables`` extra).
"""

from fhir_ivc.io.tables.errors import TableFileError
from fhir_ivc.io.tables.layout import Column, Layout, Table, layout
from fhir_ivc.io.tables.reader import iter_table_cases
from fhir_ivc.io.tables.sources import is_table_input
from fhir_ivc.io.tables.template import layout_text, write_template
from fhir_ivc.io.tables.writer import TableFormat, TableWriter

__all__ = [
    "Column",
    "Layout",
    "Table",
    "TableFileError",
    "TableFormat",
    "TableWriter",
    "is_table_input",
    "iter_table_cases",
    "layout",
    "layout_text",
    "write_template",
]
