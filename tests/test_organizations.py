"""The organizations dimension: loading a CSV file, clear errors, names in org_breakdown."""

from __future__ import annotations

import pytest

from voice_monitor.organizations import (
    OrganizationsFileError,
    load_organizations,
    read_organizations,
)


def write(tmp_path, text: str):
    path = tmp_path / "orgs.csv"
    path.write_text(text)
    return path


def test_load_writes_the_dimension(lake, tmp_path):
    path = write(tmp_path, 'organization_id,name\norg-1,Acme\norg-2,"Beta, Inc."\n')
    assert load_organizations(lake, path) == 2
    table = read_organizations(lake)
    assert table.to_pydict() == {"organization_id": ["org-1", "org-2"],
                                 "name": ["Acme", "Beta, Inc."]}
    # loading again replaces, never appends
    load_organizations(lake, write(tmp_path, "organization_id,name\norg-3,Gamma\n"))
    assert read_organizations(lake).to_pydict()["organization_id"] == ["org-3"]
    assert [p for p in lake.tmp_dir.rglob("*") if p.is_file()] == []  # written under .tmp/, then renamed


def test_an_excel_csv_with_a_byte_order_mark_and_crlf_loads(lake, tmp_path):
    # Excel's "CSV UTF-8" starts with a BOM, which once made the header "\ufefforganization_id"
    path = tmp_path / "excel.csv"
    path.write_bytes(b'\xef\xbb\xbforganization_id,name\r\norg-1,"Acme, Inc."\r\norg-2,Beta\r\n')
    assert load_organizations(lake, path) == 2
    assert read_organizations(lake).to_pydict() == {"organization_id": ["org-1", "org-2"],
                                                    "name": ["Acme, Inc.", "Beta"]}


@pytest.mark.parametrize("text, message", [
    ("id,name\norg-1,Acme\n", "line 1: header 'id,name'"),
    ("organization_id,name\norg-1,Acme\norg-1,Again\n", "line 3: organization_id 'org-1' repeats line 2"),
    ("organization_id,name\norg-1,\n", "line 2: name '' of 'org-1'"),
    ("organization_id,name\n,Nameless\n", "line 2: organization_id '' is not a valid id"),
    ("organization_id,name\norg-1,A,extra\n", "line 2: expected 2 fields"),
    ("organization_id,name\norg-1\n", "line 2: expected 2 fields"),
])
def test_bad_rows_name_line_and_value(lake, tmp_path, text, message):
    with pytest.raises(OrganizationsFileError, match=message):
        load_organizations(lake, write(tmp_path, text))
    assert not lake.organizations_file.exists()  # nothing written


def test_missing_file_is_a_clear_error(lake, tmp_path):
    with pytest.raises(OrganizationsFileError, match="cannot read"):
        load_organizations(lake, tmp_path / "absent.csv")
