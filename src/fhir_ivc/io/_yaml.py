"""YAML case records: one case, a list of cases, or a multi-document stream, bounded.

Documents are composed one at a time (libyaml when available) and each record (a document, or
an item of a document that is a list) is checked on its *nodes* before anything is built from
it, so that a hostile record costs bounded time and memory and is rejected alone:

* only the JSON-like tags (``str``, ``int``, ``float``, ``bool``, ``null``, ``seq``, ``map``
  and merge keys): ``!!python/object``, ``!!binary``, ``!!timestamp``, ``!!set`` and custom
  tags are refused by name;
* at most ``max_yaml_values`` values once aliases are expanded ("billion laughs": ten anchors
  of ten aliases each are 10^10 values, built as shared references but expanded by everyone
  who reads them), and at most ``max_depth`` levels (a recursive alias is infinitely deep);
* no duplicate keys in a mapping (PyYAML would keep the last silently), no integer over
  ``max_int_digits`` digits (Python refuses to convert one over 4300);
* a record over ``max_record_bytes`` as written; a document over
  ``max_yaml_document_bytes`` ends the file (the stream is cut while libyaml reads it).

Dates stay strings (``date: 2019-03-14`` is the FHIR date ``"2019-03-14"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, Final

import yaml

from fhir_ivc.io._json import refused_or_value
from fhir_ivc.io._records import FileProblemError, RecordSource, Unreadable
from fhir_ivc.io.limits import DEFAULT_LIMITS, InputLimits, short_path, show_key

__all__ = ["iter_yaml"]

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

_CORE: Final = "tag:yaml.org,2002:"
_TIMESTAMP_TAG: Final = f"{_CORE}timestamp"
_INT_TAG: Final = f"{_CORE}int"
_MERGE_TAG: Final = f"{_CORE}merge"
_ACCEPTED_TAGS: Final = frozenset(
    f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge")
)


class _CaseLoader(_SafeLoader):
    """Safe loader (libyaml when available) that keeps dates as strings (FHIR dates)."""

    # PyYAML reads this class attribute (the stubs call it an instance variable, hence no ClassVar)
    yaml_implicit_resolvers = {  # noqa: RUF012
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }


class _DocumentTooLargeError(Exception):
    pass


class _CappedStream:
    """What libyaml reads from: refuses to hand out more than ``cap`` bytes for one document."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self._total = 0
        self._document_start = 0
        self.name = getattr(stream, "name", "<stream>")

    def read(self, size: int = -1) -> bytes:
        if self._total - self._document_start > self._cap:
            raise _DocumentTooLargeError
        data = self._stream.read(size if size >= 0 else self._cap + 1)
        self._total += len(data)
        return data

    def document_done(self) -> None:
        self._document_start = self._total


def _yaml_source(name: str, exc: yaml.YAMLError) -> RecordSource:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return RecordSource(name, 1)
    return RecordSource(name, mark.line + 1, mark.column + 1)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """The problem without the source snippet that ``str(exc)`` would quote."""
    if isinstance(exc, yaml.MarkedYAMLError):
        reason = exc.problem or "invalid YAML"
        return f"{reason} ({exc.context})" if exc.context else reason
    if isinstance(exc, yaml.reader.ReaderError):
        return f"not valid text at byte {exc.position}: {exc.reason}"
    return type(exc).__name__  # pragma: no cover - every PyYAML error is one of the above


def _show_tag(tag: str) -> str:
    shown = f"!!{tag.removeprefix(_CORE)}" if tag.startswith(_CORE) else tag
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _node_problem(node: yaml.Node, limits: InputLimits) -> tuple[str, str] | None:
    """``(path, reason)`` of the first thing a record's node graph may not hold, else None.

    Walks the graph as its readers will see it, aliases expanded, and stops at the budget.
    """
    budget = limits.max_yaml_values
    stack: list[tuple[yaml.Node, str, int]] = [(node, "", 1)]
    while stack:
        current, path, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return path, (
                f"more than {limits.max_yaml_values} values once its YAML aliases are expanded"
            )
        if current.tag not in _ACCEPTED_TAGS:
            return path, f"the YAML tag {_show_tag(current.tag)} is not accepted (JSON-like YAML)"
        if isinstance(current, yaml.ScalarNode):
            if current.tag == _INT_TAG and len(current.value) > limits.max_int_digits:
                return path, f"an integer with more than {limits.max_int_digits} digits"
            continue
        if depth > limits.max_depth:
            return path, f"nested deeper than {limits.max_depth} levels (--max-depth)"
        if isinstance(current, yaml.SequenceNode):
            items = [(child, _join(path, i), depth + 1) for i, child in enumerate(current.value)]
        else:
            items = []
            keys: set[tuple[str, str]] = set()
            for key, child in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    if (key.tag, key.value) in keys:
                        return path, f"duplicate key {show_key(key.value)!r} in a mapping"
                    keys.add((key.tag, key.value))
                    items.append((key, path, depth + 1))
                    items.append((child, _join(path, show_key(key.value)), depth + 1))
                else:
                    items.append((key, path, depth + 1))
                    items.append((child, _join(path, "<key>"), depth + 1))
        stack.extend(reversed(items))
    return None


def _case_id_only(node: yaml.Node) -> dict[str, str] | None:
    """``{"case_id": ...}`` from a refused record's nodes, to name the case in the reject."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            named = isinstance(key, yaml.ScalarNode) and key.value == "case_id"
            if named and isinstance(value, yaml.ScalarNode):
                return {"case_id": value.value}
    return None


def _record(
    loader: _CaseLoader, node: yaml.Node, name: str, limits: InputLimits
) -> tuple[RecordSource, Any]:
    """One record built from its node, or an :class:`Unreadable` (the file goes on)."""
    source = RecordSource(name, node.start_mark.line + 1)
    if node.end_mark.index - node.start_mark.index > limits.max_record_bytes:
        reason = f"a record over {limits.max_record_bytes} bytes (--max-record-bytes)"
        return source, Unreadable(reason)
    problem = _node_problem(node, limits)
    if problem is not None:
        return source, Unreadable(problem[1], short_path(problem[0]), _case_id_only(node))
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:  # e.g. an unhashable key: this record only
        _reset_constructor(loader)
        return _yaml_source(name, exc), Unreadable(f"YAML: {_yaml_reason(exc)}")
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        _reset_constructor(loader)
        return source, Unreadable(f"YAML: a value cannot be built ({type(exc).__name__})")
    return source, refused_or_value(data, limits)


def iter_yaml(
    stream: IO[bytes], name: str, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[tuple[RecordSource, Any]]:
    """The records of a YAML stream: each document, or each item of a document that is a list."""
    capped = _CappedStream(stream, limits.max_yaml_document_bytes)
    loader = _CaseLoader(capped)  # any object with read() will do
    index = 0
    content = False
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                if node is None:  # pragma: no cover - check_node() said there is one
                    break
            except yaml.YAMLError as exc:
                reason = f"YAML syntax error: {_yaml_reason(exc)}"
                raise FileProblemError(_yaml_source(name, exc), reason) from None
            except _DocumentTooLargeError:
                reason = (
                    f"a YAML document over {limits.max_yaml_document_bytes} bytes "
                    "(YAML is read a document at a time: use NDJSON for large inputs)"
                )
                raise FileProblemError(RecordSource(name, 1, index=index), reason) from None
            except RecursionError:  # pragma: no cover - only the pure-Python composer recurses
                reason = f"YAML nested deeper than {limits.max_depth} levels (--max-depth)"
                raise FileProblemError(RecordSource(name, 1), reason) from None
            capped.document_done()
            if isinstance(node, yaml.ScalarNode) and node.tag == f"{_CORE}null":
                continue  # an empty document ('---' alone, comments only)
            content = True
            listed = isinstance(node, yaml.SequenceNode) and node.tag == f"{_CORE}seq"
            records = node.value if listed else [node]
            for record in records:
                source, value = _record(loader, record, name, limits)
                yield RecordSource(source.file, source.line, source.column, index), value
                index += 1
    finally:
        loader.dispose()
    if not content and not index:
        raise FileProblemError(RecordSource(name, 1), "empty file: no case records")


def _reset_constructor(loader: _CaseLoader) -> None:
    """Forget a half-constructed document so that the next one starts clean."""
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []
    loader.deep_construct = False
