"""The organizations dimension: user-supplied names for organization ids.

`voice-monitor orgs load FILE.csv` replaces `dimensions/organizations.parquet` atomically
(written under .tmp/, then renamed over). Every bad row is reported with its line number.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pyarrow as pa

from voice_monitor import arguments, storage
from voice_monitor.lake import Lake

SCHEMA = pa.schema([pa.field("organization_id", pa.string(), nullable=False),
                    pa.field("name", pa.string(), nullable=False)])
MAX_NAME = 256
MAX_REPORTED = 20


class OrganizationsFileError(ValueError):
    """The CSV file has bad rows; the message lists them (line number and value)."""


def parse_csv(path: str | os.PathLike[str]) -> pa.Table:
    """Rows of an `organization_id,name` CSV file, checked; raises listing every bad row."""
    if isinstance(path, str) and not path.strip():  # Path('') is '.': "cannot read '.'"
        raise OrganizationsFileError(f"organizations file {path!r} is an empty path; pass the "
                                     "CSV file, e.g. organizations.csv")
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # a byte-order mark (Excel) is not data
    except OSError as exc:
        raise OrganizationsFileError(f"cannot read {str(path)!r}: {exc.strerror}; check the path "
                                     "(nothing was loaded)") from exc
    errors: list[str] = []
    ids: list[str] = []
    names: list[str] = []
    seen: dict[str, int] = {}
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if [h.strip() for h in header] != ["organization_id", "name"]:
                raise OrganizationsFileError(
                    f"{path}: line 1: header {','.join(header)!r} must be 'organization_id,name'")
            for row in reader:
                line = reader.line_num
                problem = _check_row(row, seen)
                if problem:
                    errors.append(f"line {line}: {problem}")
                    continue
                seen[row["organization_id"]] = line
                ids.append(row["organization_id"])
                names.append(row["name"].strip())
        except (csv.Error, UnicodeDecodeError) as exc:
            raise OrganizationsFileError(f"{path}: not a readable CSV file: {exc}") from exc
    if errors:
        shown = "; ".join(errors[:MAX_REPORTED])
        more = f" (and {len(errors) - MAX_REPORTED} more)" if len(errors) > MAX_REPORTED else ""
        raise OrganizationsFileError(f"{path}: {len(errors)} bad row(s): {shown}{more}; "
                                     "fix them and load again (nothing was written)")
    return pa.table({"organization_id": ids, "name": names}, schema=SCHEMA)


def _check_row(row: dict, seen: dict[str, int]) -> str | None:
    if None in row or any(v is None for v in row.values()):
        return f"expected 2 fields (organization_id,name), got {row}"
    org, name = row["organization_id"], row["name"]
    try:
        arguments.identifier(org, "organization_id")
    except ValueError as exc:
        return str(exc)
    if org in seen:
        return f"organization_id {org!r} repeats line {seen[org]}"
    if not name.strip() or len(name) > MAX_NAME:
        return f"name {name[:80]!r} of {org!r} must be 1-{MAX_NAME} characters"
    return None


def load_organizations(lake: Lake, path: str | os.PathLike[str]) -> int:
    """Replace the organizations dimension with a CSV file's rows; returns how many."""
    table = parse_csv(path)
    lake.publish(table, lake.organizations_file)
    return table.num_rows


def read_organizations(lake: Lake) -> pa.Table:
    """The organizations dimension (empty when none was loaded)."""
    if not lake.organizations_file.is_file():
        return SCHEMA.empty_table()
    return storage.read_table(lake.organizations_file)
