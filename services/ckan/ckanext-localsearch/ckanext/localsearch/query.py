"""A small Lucene/Solr query language subset, parsed and evaluated in Python.

It covers what CKAN itself sends to Solr (``ckan.lib.search``) and what the web UI builds:

* terms and quoted phrases, with or without a field: ``water``, ``"hồ sơ"``, ``name:"x"``;
* ``*:*``, ``field:*`` (field present), wildcards ``foo*`` / ``f?o``;
* ranges ``field:[a TO b]`` / ``field:{a TO *}`` (ISO dates compare as text; ``NOW`` and
  ``NOW-7DAYS`` style date math is understood);
* ``+``/``-`` prefixes, ``AND``/``OR``/``NOT`` (and ``&&``/``||``/``!``), parentheses, and
  ``field:(a OR b)`` groups, combined with Lucene's ``BooleanQuery`` rules (MUST / SHOULD /
  MUST_NOT) and a configurable default operator (CKAN sends ``q.op=AND``).

Field semantics follow CKAN's Solr schema: ``string`` fields (name, tags, organization,
res_format, license_id, state, capacity, permission_labels...) match exactly; ``text`` fields
(title, notes, text, res_name, extras_*...) match word by word, case- and accent-insensitively
(so ``ho so`` finds ``hồ sơ``), with prefix matching standing in for Solr's stemming.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


class QuerySyntaxError(ValueError):
    """The query is outside the supported subset (reported like a Solr syntax error)."""


# --- text analysis -------------------------------------------------------------------------

_WORD_RE = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case and strip accents: ``Tỷ lệ Hồ sơ Đúng hạn`` -> ``ty le ho so dung han``."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def tokens(text: str) -> list[str]:
    return _WORD_RE.findall(fold(text))


def _token_matches(query_token: str, doc_token: str) -> bool:
    if query_token == doc_token:
        return True
    # Prefix matching stands in for stemming ("dataset" finds "datasets").
    return len(query_token) >= 3 and doc_token.startswith(query_token)


# --- fields --------------------------------------------------------------------------------

#: CKAN's Solr schema declares these as tokenized text; every other field is an exact string.
TEXT_FIELDS = frozenset(
    {"text", "title", "notes", "res_name", "res_description", "author", "maintainer", "urls"}
)
TEXT_FIELD_PREFIXES = ("extras_", "res_extras_")
NGRAM_FIELDS = {"name_ngram": "name", "title_ngram": "title"}

#: dismax's ``qf`` for an unfielded term: CKAN's ``QUERY_FIELDS`` with their boosts.
DEFAULT_QUERY_FIELDS: dict[str, float] = {
    "name": 4.0,
    "title": 4.0,
    "tags": 2.0,
    "groups": 2.0,
    "text": 1.0,
}

#: Fields Solr copies into the ``text`` catch-all field (CKAN's schema.xml copyField rules).
TEXT_SOURCES = (
    "urls",
    "name",
    "title",
    "text",
    "license",
    "notes",
    "tags",
    "groups",
    "organization",
    "res_name",
    "res_description",
    "maintainer",
    "author",
)


def is_text_field(name: str) -> bool:
    return name in TEXT_FIELDS or name.startswith(TEXT_FIELD_PREFIXES)


def catch_all_text(doc: dict[str, Any]) -> str:
    """The folded ``text`` field Solr would build from a CKAN document."""
    parts: list[str] = []
    for key, value in doc.items():
        if key in TEXT_SOURCES or key.startswith(("extras_", "res_extras_", "vocab_")):
            parts.extend(str(v) for v in _as_list(value) if v not in (None, ""))
    return " ".join(tokens(" ".join(parts)))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]


# --- AST -----------------------------------------------------------------------------------

MUST, SHOULD, MUST_NOT = "must", "should", "must_not"


@dataclass
class Term:
    field: str | None  # None: the default fields (dismax qf, or df)
    value: str
    phrase: bool = False


@dataclass
class Range:
    field: str
    low: str | None
    high: str | None
    include_low: bool
    include_high: bool


@dataclass
class MatchAll:
    pass


@dataclass
class Boolean:
    clauses: list[tuple[str, Node]] = field(default_factory=list)


Node = Term | Range | MatchAll | Boolean


# --- tokenizer -----------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<and>&&)
  | (?P<or>\|\|)
  | (?P<range>[\[{](?:[^\]}"\\]|\\.|"[^"]*")*[\]}])
  | (?P<phrase>"(?:[^"\\]|\\.)*")
  | (?P<word>(?:[^\s()"\[\]{}\\:]|\\.)+)
  | (?P<colon>:)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class _Tok:
    kind: str
    text: str


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _tokenize(query: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN_RE.match(query, pos)
        if not match:
            raise QuerySyntaxError(f"cannot parse query at {pos}: {query!r}")
        pos = match.end()
        kind = match.lastgroup
        assert kind
        if kind == "ws":
            continue
        text = match.group()
        if kind == "word":
            upper = text.upper() if text in ("AND", "OR", "NOT") else text
            if upper in ("AND", "OR", "NOT"):
                kind = upper.lower()
            elif text == "!":
                kind = "not"
        out.append(_Tok(kind, text))
    return out


# --- parser (Lucene's classic QueryParser clause rules) ------------------------------------


class _Parser:
    def __init__(self, query: str, default_and: bool) -> None:
        self.toks = _tokenize(query)
        self.pos = 0
        self.default_and = default_and

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError("unexpected end of query")
        self.pos += 1
        return tok

    def parse(self) -> Node:
        node = self.query(field=None, closing=False)
        if self.peek() is not None:
            raise QuerySyntaxError(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return node

    def query(self, field: str | None, closing: bool) -> Boolean:
        clauses: list[list[Any]] = []  # [occur, node]
        conj: str | None = None
        while (tok := self.peek()) is not None:
            if tok.kind == "rparen":
                if not closing:
                    raise QuerySyntaxError("unbalanced ')'")
                break
            if tok.kind in ("and", "or"):
                self.take()
                conj = tok.kind
                continue
            modifier: str | None = None
            if tok.kind == "not":
                self.take()
                modifier = "-"
            elif tok.kind == "word" and tok.text[0] in "+-" and tok.text != "-":
                # "+term" / "-term" / "+field:..." : split the modifier off the word.
                modifier = tok.text[0]
                rest = tok.text[1:]
                if rest:
                    self.toks[self.pos] = _Tok("word", rest)
                else:
                    self.take()
            node = self.clause(field)
            self._add_clause(clauses, conj, modifier, node)
            conj = None
        return Boolean([(occur, node) for occur, node in clauses])

    def _add_clause(
        self, clauses: list[list[Any]], conj: str | None, modifier: str | None, node: Node
    ) -> None:
        # Mirrors org.apache.lucene.queryparser.classic.QueryParserBase.addClause.
        if clauses and conj == "and" and clauses[-1][0] == SHOULD:
            clauses[-1][0] = MUST
        if clauses and self.default_and and conj == "or" and clauses[-1][0] == MUST:
            clauses[-1][0] = SHOULD
        if modifier == "-":
            occur = MUST_NOT
        elif modifier == "+":
            occur = MUST
        elif self.default_and:
            occur = SHOULD if conj == "or" else MUST
        else:
            occur = MUST if conj == "and" else SHOULD
        clauses.append([occur, node])

    def clause(self, field: str | None) -> Node:
        tok = self.take()
        if tok.kind == "lparen":
            inner = self.query(field, closing=True)
            self._expect("rparen")
            return inner
        if tok.kind == "phrase":
            return Term(field, _unescape(tok.text[1:-1]), phrase=True)
        if tok.kind == "range":
            if field is None:
                raise QuerySyntaxError("a range needs a field")
            return _parse_range(field, tok.text)
        if tok.kind != "word":
            raise QuerySyntaxError(f"unexpected {tok.text!r}")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "colon":
            self.take()
            name = _unescape(tok.text)
            target = self.peek()
            if target is None:
                raise QuerySyntaxError(f"missing value for field {name!r}")
            if name == "*" and target.kind == "word" and target.text == "*":
                self.take()
                return MatchAll()
            return self.clause(name)
        if tok.text == "*" and field is None:
            return MatchAll()
        return Term(field, tok.text)

    def _expect(self, kind: str) -> None:
        tok = self.take()
        if tok.kind != kind:
            raise QuerySyntaxError(f"expected {kind}, found {tok.text!r}")


def _parse_range(field_name: str, text: str) -> Range:
    body = text[1:-1].strip()
    parts = re.split(r"\s+TO\s+", body)
    if len(parts) != 2:
        raise QuerySyntaxError(f"bad range {text!r}")
    low, high = (p.strip().strip('"') for p in parts)
    return Range(
        field_name,
        None if low == "*" else _unescape(low),
        None if high == "*" else _unescape(high),
        include_low=text[0] == "[",
        include_high=text[-1] == "]",
    )


def parse(query: str, default_and: bool = True) -> Node:
    """Parse a Lucene query string (``q`` or one ``fq``)."""
    query = query.strip()
    if not query:
        return MatchAll()
    if re.search(r"(?:^|[^\\])\{!", query):
        raise QuerySyntaxError("local parameters ({!...}) are not supported")
    return _Parser(query, default_and).parse()


# --- evaluation ----------------------------------------------------------------------------

_DATE_MATH_RE = re.compile(
    r"^NOW(?P<offset>[+-]\d+(?:YEAR|MONTH|DAY|HOUR|MINUTE|SECOND)S?)?(?:/(?P<round>DAY|HOUR))?$"
)


def _date_math(value: str) -> str:
    match = _DATE_MATH_RE.match(value)
    if not match:
        return value
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if match["offset"]:
        amount = int(re.match(r"[+-]\d+", match["offset"]).group())  # type: ignore[union-attr]
        unit = re.sub(r"[+-]\d+|S$", "", match["offset"]).lower() + "s"
        if unit == "years":
            now = now.replace(year=now.year + amount)
        elif unit == "months":
            month = now.month - 1 + amount
            now = now.replace(year=now.year + month // 12, month=month % 12 + 1, day=1)
        else:
            now += dt.timedelta(**{unit: amount})
    if match["round"] == "DAY":
        now = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elif match["round"] == "HOUR":
        now = now.replace(minute=0, second=0, microsecond=0)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


class Document:
    """A stored document with lazily computed analysed fields."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self._tokens: dict[str, list[list[str]]] = {}

    def values(self, name: str) -> list[Any]:
        if name in NGRAM_FIELDS:
            return _as_list(self.fields.get(NGRAM_FIELDS[name]))
        if name == "text":
            return [self.fields.get("_text", ""), *_as_list(self.fields.get("text"))]
        return _as_list(self.fields.get(name))

    def token_lists(self, name: str) -> list[list[str]]:
        if name not in self._tokens:
            if name == "text":
                self._tokens[name] = [
                    str(self.fields.get("_text", "")).split(),
                    *(tokens(str(v)) for v in _as_list(self.fields.get("text"))),
                ]
            else:
                self._tokens[name] = [tokens(str(v)) for v in self.values(name)]
        return self._tokens[name]


class Evaluator:
    def __init__(self, query_fields: dict[str, float] | None = None) -> None:
        self.query_fields = query_fields or DEFAULT_QUERY_FIELDS

    def score(self, node: Node, doc: Document) -> float | None:
        """Relevance score of ``doc`` for ``node``, or None when it does not match."""
        if isinstance(node, MatchAll):
            return 1.0
        if isinstance(node, Range):
            return 1.0 if self._range(node, doc) else None
        if isinstance(node, Term):
            return self._term(node, doc)
        total = 0.0
        has_must = False
        any_should = False
        should_matched = False
        for occur, child in node.clauses:
            child_score = self.score(child, doc)
            if occur == MUST_NOT:
                if child_score is not None:
                    return None
            elif occur == MUST:
                has_must = True
                if child_score is None:
                    return None
                total += child_score
            else:
                any_should = True
                if child_score is not None:
                    should_matched = True
                    total += child_score
        if has_must or should_matched:
            return total
        if not any_should:
            # Only prohibited clauses (or none): Solr matches everything else.
            return 1.0
        return None

    def _term(self, term: Term, doc: Document) -> float | None:
        if term.field is None:
            best: float | None = None
            for name, boost in self.query_fields.items():
                if self._field_matches(name, term, doc):
                    best = max(best or 0.0, boost)
            return best
        return 1.0 if self._field_matches(term.field, term, doc) else None

    def _field_matches(self, name: str, term: Term, doc: Document) -> bool:
        value = term.value if term.phrase else _unescape(term.value)
        wildcard = not term.phrase and ("*" in term.value or "?" in term.value)
        if not term.phrase and value == "*":
            return any(v not in (None, "", []) for v in doc.values(name))
        if name in NGRAM_FIELDS:
            needle = fold(value)
            return any(needle in fold(str(v)) for v in doc.values(name))
        if is_text_field(name):
            if wildcard:
                pattern = fold(value)
                return any(
                    fnmatch.fnmatchcase(tok, pattern)
                    for toks in doc.token_lists(name)
                    for tok in toks
                )
            wanted = tokens(value)
            if not wanted:
                return False
            return any(_contains_sequence(toks, wanted) for toks in doc.token_lists(name))
        for candidate in doc.values(name):
            text = _string_value(candidate)
            if (wildcard and fnmatch.fnmatchcase(text, value)) or text == value:
                return True
        return False

    def _range(self, node: Range, doc: Document) -> bool:
        low = _date_math(node.low) if node.low is not None else None
        high = _date_math(node.high) if node.high is not None else None
        for candidate in doc.values(node.field):
            if candidate in (None, ""):
                continue
            if _in_range(candidate, low, high, node.include_low, node.include_high):
                return True
        return False


def _string_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _contains_sequence(haystack: list[str], needle: list[str]) -> bool:
    size = len(needle)
    for start in range(len(haystack) - size + 1):
        if all(
            _token_matches(q, d)
            for q, d in zip(needle, haystack[start : start + size], strict=True)
        ):
            return True
    return False


def _in_range(
    value: Any, low: str | None, high: str | None, include_low: bool, include_high: bool
) -> bool:
    def compare(a: Any, b: str) -> int:
        try:
            x, y = float(a), float(b)
        except (TypeError, ValueError):
            x, y = str(a), b  # type: ignore[assignment]
        return (x > y) - (x < y)  # type: ignore[operator]

    if low is not None:
        c = compare(value, low)
        if c < 0 or (c == 0 and not include_low):
            return False
    if high is not None:
        c = compare(value, high)
        if c > 0 or (c == 0 and not include_high):
            return False
    return True


# --- sorting and facets --------------------------------------------------------------------


def parse_sort(sort: str | None) -> list[tuple[str, bool]]:
    """``"score desc, metadata_modified desc"`` -> ``[("score", True), ...]`` (True = desc)."""
    keys: list[tuple[str, bool]] = []
    for part in (sort or "").split(","):
        part = part.strip()
        if not part:
            continue
        bits = part.split()
        if len(bits) != 2 or bits[1].lower() not in ("asc", "desc"):
            raise QuerySyntaxError(
                f"Can't determine a Sort Order (asc or desc) in sort spec {part!r}"
            )
        keys.append((bits[0], bits[1].lower() == "desc"))
    return keys


def sort_key_value(doc: Document, name: str, score: float) -> Any:
    if name == "score":
        return score
    values = doc.values(name)
    if not values or values[0] in (None, ""):
        return None
    value = values[0]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = _string_value(value)
    return (fold(text), text)


def sort_documents(
    scored: list[tuple[Document, float]], keys: list[tuple[str, bool]]
) -> list[tuple[Document, float]]:
    """Stable multi-key sort, missing values last whatever the direction (sortMissingLast)."""
    result = list(scored)
    for name, descending in reversed(keys):
        present = [item for item in result if sort_key_value(item[0], name, item[1]) is not None]
        missing = [item for item in result if sort_key_value(item[0], name, item[1]) is None]
        present.sort(key=lambda item: sort_key_value(item[0], name, item[1]), reverse=descending)
        result = present + missing
    return result


def facet_counts(
    docs: Iterable[Document], fields: list[str], limit: int, mincount: int
) -> dict[str, list[Any]]:
    """Solr's ``facet_fields`` shape: ``{field: [value1, count1, value2, count2, ...]}``."""
    out: dict[str, list[Any]] = {}
    docs = list(docs)
    for name in fields:
        counts: dict[str, int] = {}
        for doc in docs:
            for value in {_string_value(v) for v in doc.values(name) if v not in (None, "")}:
                counts[value] = counts.get(value, 0) + 1
        ordered = sorted(
            ((v, c) for v, c in counts.items() if c >= mincount), key=lambda vc: (-vc[1], vc[0])
        )
        if limit >= 0:
            ordered = ordered[:limit]
        out[name] = [x for pair in ordered for x in pair]
    return out


def iter_field_list(fl: str | list[str] | None) -> Iterator[str]:
    if fl is None:
        yield "*"
        return
    items = fl if isinstance(fl, list) else [fl]
    for item in items:
        yield from (part for part in re.split(r"[\s,]+", item) if part)
