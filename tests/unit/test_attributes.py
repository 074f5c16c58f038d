"""The HMC attribute grammar: ``-i`` input data, ``-F`` field specs and listing lines."""

from __future__ import annotations

import re

import pytest

from openlpm.cli.attributes import (
    NO_RESULTS,
    AttributeSyntaxError,
    UnknownAttributeError,
    format_listing,
    format_record,
    parse_attributes,
    parse_field_spec,
)

# -- parse_attributes: the -i input data ---------------------------------------------------


def test_input_data_is_comma_separated_name_value_pairs() -> None:
    assert parse_attributes("name=p1,dest_lpar_id=12") == {"name": "p1", "dest_lpar_id": "12"}


def test_a_quoted_pair_may_hold_commas_in_its_value() -> None:
    text = 'name=p1,"virtual_fc_mappings=4//1/14/fcs0,5//2/14/fcs0",dest_lpar_id=12'
    assert parse_attributes(text) == {
        "name": "p1",
        "virtual_fc_mappings": "4//1/14/fcs0,5//2/14/fcs0",
        "dest_lpar_id": "12",
    }


def test_a_quoted_value_may_hold_commas() -> None:
    assert parse_attributes('lpar_names="a,b",x=1') == {"lpar_names": "a,b", "x": "1"}


def test_whitespace_around_names_is_trimmed() -> None:
    assert parse_attributes(" name =p1, dest_lpar_id=12") == {"name": "p1", "dest_lpar_id": "12"}


def test_values_keep_their_text_including_equals_signs_and_emptiness() -> None:
    assert parse_attributes("a=,b=x=y") == {"a": "", "b": "x=y"}


def test_blank_input_data_has_no_attributes() -> None:
    assert parse_attributes("  ") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name=p1,dest_lpar_id", "dest_lpar_id"),
        ("name=p1,,x=1", "''"),
        ("=p1", "=p1"),
        ("  =p1", "  =p1"),
        ("name=p1,name=p2", "name=p2"),
        ('name=p1,"lpar_names=a,b', '"lpar_names=a,b'),
    ],
    ids=[
        "missing-equals",
        "empty-fragment",
        "empty-name",
        "blank-name",
        "duplicate",
        "unbalanced-quote",
    ],
)
def test_malformed_input_data_is_rejected_naming_the_fragment(text: str, fragment: str) -> None:
    with pytest.raises(AttributeSyntaxError, match=re.escape(fragment)):
        parse_attributes(text)


def test_syntax_errors_are_value_errors() -> None:
    assert issubclass(AttributeSyntaxError, ValueError)


# -- format_record: one listing line ------------------------------------------------------


def test_without_fields_a_record_is_written_as_input_data_in_its_own_order() -> None:
    assert format_record({"name": "p1", "lpar_id": 3}, None) == "name=p1,lpar_id=3"


def test_without_fields_a_pair_whose_value_holds_a_comma_is_quoted_whole() -> None:
    assert format_record({"lpar_names": "a,b", "n": 2}, None) == '"lpar_names=a,b",n=2'


def test_with_fields_only_values_are_written_in_field_order() -> None:
    record = {"name": "p1", "lpar_id": 3, "state": "Running"}
    assert format_record(record, ["state", "name"]) == "Running,p1"


def test_with_fields_a_value_holding_the_delimiter_is_quoted() -> None:
    record = {"name": "p1", "lpar_names": "a,b"}
    assert format_record(record, ["name", "lpar_names"]) == 'p1,"a,b"'
    assert format_record(record, ["name", "lpar_names"], delimiter=":") == "p1:a,b"


@pytest.mark.parametrize(
    ("value", "written"),
    [(None, "null"), (True, "1"), (False, "0"), (0, "0"), (2.5, "2.5"), ("", "")],
)
def test_values_are_written_the_hmc_way(value: object, written: str) -> None:
    assert format_record({"v": value}, None) == f"v={written}"
    assert format_record({"v": value}, ["v"]) == written


def test_an_unknown_field_is_rejected_listing_the_valid_ones() -> None:
    with pytest.raises(UnknownAttributeError, match="'colour'.*name, state"):
        format_record({"name": "p1", "state": "Running"}, ["colour"])


# -- round trip ---------------------------------------------------------------------------

ROUND_TRIPS: list[tuple[dict[str, object], dict[str, str]]] = [
    ({"name": "p1", "lpar_id": 3}, {"name": "p1", "lpar_id": "3"}),
    (
        {"lpar_names": "a,b,c", "dest_sys_name": "sys2"},
        {"lpar_names": "a,b,c", "dest_sys_name": "sys2"},
    ),
    (
        {"virtual_fc_mappings": "4//1/14/fcs0,5//2/14/fcs0", "dest_lpar_id": 12},
        {"virtual_fc_mappings": "4//1/14/fcs0,5//2/14/fcs0", "dest_lpar_id": "12"},
    ),
    (
        {"name": "p2", "remote_manager": "", "bytes_remaining": None},
        {"name": "p2", "remote_manager": "", "bytes_remaining": "null"},
    ),
    (
        {"trailing": "a,", "leading": ",b", "only": ","},
        {"trailing": "a,", "leading": ",b", "only": ","},
    ),
    ({"flag": True, "other": False, "expr": "x=y"}, {"flag": "1", "other": "0", "expr": "x=y"}),
]


@pytest.mark.parametrize(("record", "stringified"), ROUND_TRIPS)
def test_a_record_written_without_fields_parses_back_to_its_stringified_values(
    record: dict[str, object],
    stringified: dict[str, str],
) -> None:
    assert parse_attributes(format_record(record, None)) == stringified


# -- parse_field_spec: the -F argument ----------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "names", "delimiter"),
    [
        ("name:state", ["name", "state"], ":"),
        ("name,state", ["name", "state"], ","),
        ("name", ["name"], ","),
        (
            "lpar_id|migration_state|dest_sys_name",
            ["lpar_id", "migration_state", "dest_sys_name"],
            "|",
        ),
    ],
)
def test_the_first_non_name_character_of_a_field_spec_is_the_delimiter(
    spec: str,
    names: list[str],
    delimiter: str,
) -> None:
    assert parse_field_spec(spec) == (names, delimiter)


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("name:state,lpar_id", "mixes delimiters"),
        ("name, state", "mixes delimiters"),
        ("", "empty attribute name"),
        ("name::state", "empty attribute name"),
        ("name:", "empty attribute name"),
    ],
)
def test_a_malformed_field_spec_is_rejected(spec: str, complaint: str) -> None:
    with pytest.raises(AttributeSyntaxError, match=complaint):
        parse_field_spec(spec)


# -- format_listing: all lines of an ls* command ------------------------------------------

RECORDS: list[dict[str, object]] = [
    {"name": "p1", "lpar_id": 1, "state": "Running"},
    {"name": "p2", "lpar_id": 2, "state": "Migrating - Running"},
]


def test_a_listing_without_field_spec_has_one_input_data_line_per_record() -> None:
    assert format_listing(RECORDS, None, header=False) == (
        "name=p1,lpar_id=1,state=Running\nname=p2,lpar_id=2,state=Migrating - Running"
    )


def test_a_listing_with_field_spec_joins_values_with_its_delimiter() -> None:
    assert format_listing(RECORDS, "name:state", header=False) == (
        "p1:Running\np2:Migrating - Running"
    )


def test_header_puts_the_field_names_first() -> None:
    assert format_listing(RECORDS, "name:lpar_id", header=True) == "name:lpar_id\np1:1\np2:2"


def test_header_is_ignored_without_a_field_spec() -> None:
    assert format_listing(RECORDS[:1], None, header=True) == "name=p1,lpar_id=1,state=Running"


def test_a_listing_quotes_values_holding_the_delimiter() -> None:
    records = [{"name": "p1", "lpar_names": "a,b"}]
    assert format_listing(records, "name,lpar_names", header=False) == 'p1,"a,b"'


def test_a_listing_with_an_unknown_field_is_rejected() -> None:
    with pytest.raises(UnknownAttributeError, match="'colour'.*name, lpar_id, state"):
        format_listing(RECORDS, "name:colour", header=False)


def test_a_listing_with_a_malformed_field_spec_is_rejected_even_without_records() -> None:
    with pytest.raises(AttributeSyntaxError):
        format_listing([], "name:state,lpar_id", header=False)


def test_no_records_list_as_nothing_and_callers_choose_the_hmc_message() -> None:
    assert format_listing([], None, header=False) == ""
    assert format_listing([], "name:state", header=True) == ""
    assert NO_RESULTS == "No results were found."
