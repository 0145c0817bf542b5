"""Writes tests/data/leads_pandas.parquet, a small Parquet file written by
pandas + pyarrow, for the reader test in src/table.rs
(`pandas_written_parquet_reads_as_strings`).

The point is a file from the tool most users export with, not from our own
writer: pandas' nullable dtypes, a categorical (dictionary-encoded) column,
naive and UTC timestamps (nanosecond unit, pyarrow's default), dates, and
snappy compression (pandas' default).

    python3 -m venv /tmp/pyenv && /tmp/pyenv/bin/pip install pandas pyarrow
    /tmp/pyenv/bin/python scripts/parquet_fixture.py

Written with pandas 3.1.1 and pyarrow 26.0.1.
"""

import datetime
import pathlib

import pandas as pd

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "leads_pandas.parquet"


def main() -> None:
    df = pd.DataFrame(
        {
            "Lead Number": pd.array([660737, 660728, 660727], dtype="Int64"),
            "TotalVisits": [0.0, 5.0, float("nan")],
            "Page Views Per Visit": pd.array([2.5, None, 0.1], dtype="Float64"),
            "Do Not Email": pd.array([False, True, None], dtype="boolean"),
            "Lead Source": pd.Categorical(["Olark Chat", None, "Direct Traffic"]),
            "Tags": ["Interested in other courses", "Ringing; \"later\"", None],
            "Score": pd.array([15, 255, None], dtype="UInt8"),
            "Created": pd.to_datetime(
                ["2024-01-09 13:45:00", "2024-02-29 00:00:00.123456789", None], format="ISO8601"
            ),
            "Seen (UTC)": pd.to_datetime(
                ["2024-01-09 13:45:00", None, "1969-12-31 23:59:59"], format="ISO8601", utc=True
            ),
            "Day": [datetime.date(2024, 1, 1), None, datetime.date(1999, 12, 31)],
            "Converted": [0, 1, 1],
        }
    )
    df.to_parquet(OUT, engine="pyarrow", compression="snappy", index=False)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
