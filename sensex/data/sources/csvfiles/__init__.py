"""A directory of per-symbol CSV files, as saved by yfinance or written by hand.

- `layout.py`: finds the header and which column holds which field and ticker;
- `rows.py`: parses and validates the rows (refused rows reported by file and line, absurd
  prices and duplicate dates included: the rules are in its docstring);
- `directory.py`: loads a folder, maps files to symbols, reports per file.

The package is not named `csv` so that it never shadows the standard library's module.
"""

from sensex.data.sources.csvfiles.directory import CsvImport, load_directory, symbol_lookup
from sensex.data.sources.csvfiles.rows import ABSURD_FACTOR, MAX_PRICE, MAX_ROW_PROBLEMS

__all__ = ["ABSURD_FACTOR", "MAX_PRICE", "MAX_ROW_PROBLEMS", "CsvImport", "load_directory", "symbol_lookup"]
