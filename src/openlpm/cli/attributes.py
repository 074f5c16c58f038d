"""The HMC's attribute text: the ``-i`` input-data string and the ``ls*`` listing lines.

Pure functions, no I/O, so the commands and their tests share one grammar:

* input data is ``name=value`` pairs separated by commas; double quotes group, so a value
  may hold commas when the pair (``"lpar_names=a,b"``) or the value (``lpar_names="a,b"``)
  is quoted; the quote characters themselves are never part of a name or value;
* a listing without ``-F`` prints every pair of a record in that grammar;
* a listing with ``-F`` prints values only, separated by whichever delimiter the user put
  between the attribute names (``-F name:state`` prints ``p1:Running``); ``-F`` with no
  names prints every value, separated by commas.

::

    ValueError
     +-- AttributeSyntaxError     the input data or the -F spec is malformed
          +-- UnknownAttributeError   -F names an attribute the records do not have
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

NO_RESULTS = "No results were found."
"""What the HMC prints for some listings that match nothing; the caller decides when."""

_QUOTE = '"'
_PAIR_SEPARATOR = ","
_DEFAULT_DELIMITER = ","


class AttributeSyntaxError(ValueError):
    """The ``-i`` input data or the ``-F`` field spec cannot be parsed."""


class UnknownAttributeError(AttributeSyntaxError):
    """``-F`` names an attribute that the listed records do not have."""


def parse_attributes(text: str) -> dict[str, str]:
    """Parse HMC input data such as ``name=p1,"virtual_fc_mappings=4//1/14/fcs0,5//2/14/fcs0"``.

    Names are stripped of surrounding whitespace; values are kept as written (less quotes).
    Blank text gives an empty dict.

    Raises:
        AttributeSyntaxError: on an unbalanced quote, a fragment without ``=``, an empty
            name or an attribute given twice; the message quotes the offending fragment.
    """
    if not text.strip():
        return {}
    attributes: dict[str, str] = {}
    for raw, unquoted in _split_pairs(text):
        name, value = _split_pair(raw, unquoted)
        if name in attributes:
            raise AttributeSyntaxError(f"attribute {name!r} is given twice (in {raw!r})")
        attributes[name] = value
    return attributes


def _split_pairs(text: str) -> list[tuple[str, str]]:
    """Split at commas outside quotes; each fragment comes as (as written, quotes removed)."""
    fragments: list[tuple[str, str]] = []
    raw: list[str] = []
    unquoted: list[str] = []
    quoted = False
    for char in text:
        if char == _PAIR_SEPARATOR and not quoted:
            fragments.append(("".join(raw), "".join(unquoted)))
            raw, unquoted = [], []
            continue
        raw.append(char)
        if char == _QUOTE:
            quoted = not quoted
        else:
            unquoted.append(char)
    if quoted:
        raise AttributeSyntaxError(f"unbalanced double quote in {''.join(raw)!r}")
    fragments.append(("".join(raw), "".join(unquoted)))
    return fragments


def _split_pair(raw: str, unquoted: str) -> tuple[str, str]:
    name, equals, value = unquoted.partition("=")
    if not equals:
        raise AttributeSyntaxError(f"missing '=' in attribute {raw!r}")
    name = name.strip()
    if not name:
        raise AttributeSyntaxError(f"empty attribute name in {raw!r}")
    return name, value


def format_record(
    record: Mapping[str, object],
    fields: Sequence[str] | None,
    *,
    delimiter: str = _DEFAULT_DELIMITER,
) -> str:
    """One listing line for ``record``.

    Without ``fields`` every pair is written as input data, in the record's order, a pair
    whose value holds a comma wrapped in double quotes. With ``fields`` only those values
    are written, joined by ``delimiter``, a value holding the delimiter wrapped in quotes.

    Raises:
        UnknownAttributeError: a field is not an attribute of ``record``.
    """
    if fields is None:
        return _PAIR_SEPARATOR.join(
            _quote_if(f"{name}={_format_value(value)}", _PAIR_SEPARATOR)
            for name, value in record.items()
        )
    return delimiter.join(
        _quote_if(_format_value(_field(record, name)), delimiter) for name in fields
    )


def _field(record: Mapping[str, object], name: str) -> object:
    if name not in record:
        valid = ", ".join(record)
        raise UnknownAttributeError(f"unknown attribute {name!r}; valid attributes: {valid}")
    return record[name]


def _format_value(value: object) -> str:
    # The HMC prints a missing value as "null" and flags as 1/0, never Python's spellings.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _quote_if(text: str, delimiter: str) -> str:
    return f"{_QUOTE}{text}{_QUOTE}" if delimiter in text else text


def parse_field_spec(spec: str) -> tuple[list[str], str]:
    """Split a ``-F`` spec into attribute names and the delimiter the output will use.

    The delimiter is the first character that is not a letter, digit or underscore
    (``name:state`` gives ``:``); a single name gives ``,``.

    Raises:
        AttributeSyntaxError: the spec is empty, mixes delimiters or has an empty name.
    """
    delimiter = next((char for char in spec if not _is_name_char(char)), _DEFAULT_DELIMITER)
    names = spec.split(delimiter)
    for name in names:
        if not name:
            raise AttributeSyntaxError(f"empty attribute name in field spec {spec!r}")
        if not all(_is_name_char(char) for char in name):
            raise AttributeSyntaxError(
                f"field spec {spec!r} mixes delimiters; separate every name with {delimiter!r}"
            )
    return names, delimiter


def _is_name_char(char: str) -> bool:
    # isalnum() alone would also accept non-ASCII letters, which no HMC attribute uses.
    return char.isascii() and (char.isalnum() or char == "_")


def format_listing(
    records: Iterable[Mapping[str, object]], field_spec: str | None, header: bool
) -> str:
    """The lines an ``ls*`` command prints for ``records``, without a trailing newline.

    ``field_spec`` is the raw ``-F`` argument; ``header`` (``--header``) puts the field
    names first and is ignored without a field spec, as on the HMC. An empty field spec
    (``-F`` alone) prints every value of each record, in the record's order, joined by
    commas, as the HMC does. No records give "".

    Raises:
        AttributeSyntaxError: the field spec is malformed.
        UnknownAttributeError: the field spec names an attribute a record does not have.
    """
    if field_spec is None:
        lines = [format_record(record, None) for record in records]
        return "\n".join(lines)
    if not field_spec:
        return _every_value(list(records), header)
    fields, delimiter = parse_field_spec(field_spec)
    lines = [format_record(record, fields, delimiter=delimiter) for record in records]
    if lines and header:
        lines.insert(0, delimiter.join(fields))
    return "\n".join(lines)


def _every_value(records: Sequence[Mapping[str, object]], header: bool) -> str:
    """``-F`` without names: each record's values, all of them; the header names the
    first record's attributes (the records of one listing share them)."""
    lines = [format_record(record, list(record)) for record in records]
    if lines and header:
        lines.insert(0, _DEFAULT_DELIMITER.join(records[0]))
    return "\n".join(lines)
