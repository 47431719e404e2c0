"""How to bring the stored data up to date, worded once for every message that says it.

`sensex data update` needs the network (Yahoo Finance); offline it changes nothing, so each such
message also names the offline way: importing newer CSV files.
"""

from __future__ import annotations


def update_advice(universe_flag: str = "", verb: str = "run") -> str:
    """`run `sensex data update` (offline, import newer CSV files with ...)`: the clause that follows
    a colon (`verb="Run"` to start a sentence); `universe_flag` (` --universe NAME`) goes on both commands."""
    return (f"{verb} `sensex data update{universe_flag}` (offline, import newer CSV files with"
            f" `sensex data update --source csv --csv-dir DIR{universe_flag}`)")
