"""Odd but plausible command lines: a clear one-line error, never Python's own words."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, run_main


@pytest.mark.parametrize("query", ["", ";", "  ;; ", "/* nothing */"])
@pytest.mark.parametrize("writes", [[], ["--allow-writes"]], ids=["read-only", "allow-writes"])
def test_sql_without_a_statement_says_so(capsys, lake, query, writes):
    # it was "AttributeError: 'NoneType' object has no attribute 'description'"
    code, _, err = run_main(capsys, "sql", query, *writes, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"no SQL statement in {query!r}" in err


def test_a_negative_compaction_grace_is_a_usage_error(capsys, lake):
    # it compacted hours that had not closed yet
    code, _, err = run_main(capsys, "compact", "--grace-hours", "-1", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert "'--grace-hours': -1.0 is not in the range x>=0" in err


def test_json_output_is_strict_json_with_non_finite_numbers_as_null(capsys, lake):
    # it printed NaN and Infinity, which JSON has not (jq and strict parsers refuse the output)
    query = ("select 'nan'::double as n, '-inf'::double as i, 1.5 as f, "
             "[1.0, 'inf'::double] as l, {'a': 'nan'::double} as s")
    code, out, err = run_main(capsys, "sql", query, "--json", "--lake", str(lake.root))
    assert code == 0, err

    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    assert json.loads(out, parse_constant=refuse) == [
        {"n": None, "i": None, "f": 1.5, "l": [1.0, None], "s": {"a": None}}]
