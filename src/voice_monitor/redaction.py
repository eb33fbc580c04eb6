"""Secret redaction, defined once for DuckDB (RE2) and Python (`re`).

Every rule is a (pattern, replacement) pair written in the common subset of RE2 and Python's
`re`: no look-around, no back-references in patterns, ASCII classes spelled out, case-insensitive
parts as `(?i:...)` groups, `\\1` in replacements. The SQL path (`redact_sql`, used for the stored
string fields and for quarantine) and the Python path (`redact`) apply the same rules in the same
order, and `tests/test_redaction.py` checks that they agree. Applying them twice changes nothing.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"
EMAIL = "[EMAIL]"

# a key (of key=value, key: value, "key": "value") that names a credential
_KEY = (r"[A-Za-z0-9_.-]*(?i:password|passwd|secret|token|api[_-]?key|access[_-]?key"
        r"|private[_-]?key)[A-Za-z0-9_.-]*")
# blanks, also as JSON escapes (quarantine keeps raw JSON text, where a tab is \t)
_SP = r"(?:[ \t]|\\t)"
_PAIR = r"(" + _KEY + r"""\\?["']?""" + _SP + "*[:=]" + _SP + "*)"
# a word boundary, or a JSON escape (\n, \t...) right before the word: kept as group 1
_B = r"(\\[nrtbf]|\b)"

# (gate, rules): a group's rules run only on text its gate matches; every rule of a group needs
# what its gate looks for, so the gates only save time. Rules run in this order.
GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    # PEM private-key blocks, whole; one cut short loses everything after its BEGIN line
    ("PRIVATE KEY-----", (
        (r'-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[^"]*?-----END[A-Z0-9 ]*PRIVATE KEY-----'
         r"|[A-Za-z0-9+/=\\ \t\r\n]*)", REDACTED),
    )),
    ("(?i:authorization|bearer|basic)", (
        # Authorization headers: the scheme word stays, the credential goes
        (r"""(?i:(authorization)(\\?["']?""" + _SP + "*[:=]" + _SP + r"""*\\?["']?)"""
         r"((?:bearer|basic|digest|token|negotiate|ntlm)" + _SP + r"+)?)[^ \t\r\n\"',;\\]+",
         r"\1\2\3" + REDACTED),
        (_B + r"(?i:(bearer" + _SP + r"+))[A-Za-z0-9._~+/=-]+", r"\1\2" + REDACTED),
        # Basic credentials: base64 with a digit, a + or /, or a lower-to-upper case change
        (_B + r"(?i:(basic" + _SP + r"+))[A-Za-z0-9+/]*(?:[a-z][A-Z]|[0-9+/])[A-Za-z0-9+/]*=*",
         r"\1\2" + REDACTED),
    )),
    # credential pairs: the value goes, its quoting stays (so JSON text stays JSON)
    ("(?i:pass|secret|token|key)", (
        (_PAIR + r'"(?:[^"\\]|\\.)*"', r'\1"' + REDACTED + '"'),
        (_PAIR + r'\\"(?:[^"\\]|\\[^"])*\\"', r'\1\\"' + REDACTED + r'\\"'),
        (_PAIR + r"'[^']*'", r"\1'" + REDACTED + "'"),
        (r"(" + _KEY + r'"' + _SP + "*:" + _SP + r'*)(?:-?[0-9][0-9.eE+-]*|true|false|null)',
         r'\1"' + REDACTED + '"'),
        (_PAIR + r"[^ \t\r\n,;&\"'\\<>(){}\[\]]+", r"\1" + REDACTED),
    )),
    # credentials in URLs: scheme://user:password@host, also with no user (redis://:pw@host)
    ("://", (
        (r"((?i:[a-z][a-z0-9+.-]*)://)[^/ \t\r\n:@\"'<>\\]*:[^/ \t\r\n\"'<>\\]*@",
         r"\1" + REDACTED + "@"),
    )),
    # JSON Web Tokens and vendor key prefixes
    ("eyJ|sk-|sk_|rk_|rk-|pk-|gh[pousr]_|github_pat_|xox|AIza|AKIA|ASIA", (
        (_B + r"(?:eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
         r"|(?:sk-ant-|sk-proj-|sk_live_|sk_test_|rk_live_|rk_test_|ghp_|gho_|ghs_|ghu_|ghr_"
         r"|github_pat_|xox[a-z]-)[A-Za-z0-9_-]{8,}|(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}"
         r"|AIza[0-9A-Za-z_-]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16,})", r"\1" + REDACTED),
    )),
    # e-mail addresses
    ("@", (
        (r"(\\[nrtbf])?[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
         r"\1" + EMAIL),
    )),
)
def _is_literal(pattern: str) -> bool:
    return not any(c in pattern for c in "()[]|?*+\\.^$")


RULES: tuple[tuple[str, str], ...] = tuple(rule for _, rules in GROUPS for rule in rules)

# matches wherever some rule could (each rule needs its group's gate): text it does not match
# is left as it is, untouched
GATE = "|".join(f"(?:{gate})" for gate, _ in GROUPS)

_COMPILED = tuple((None if not gate else gate if _is_literal(gate) else re.compile(gate, re.ASCII),
                   tuple((re.compile(p, re.ASCII), r) for p, r in rules)) for gate, rules in GROUPS)
_GATE = re.compile(GATE, re.ASCII)


def redact(text: str) -> str:
    """`text` with every secret the rules know replaced."""
    if not _GATE.search(text):
        return text
    for gate, rules in _COMPILED:
        if gate is None or (gate in text if isinstance(gate, str) else gate.search(text)):
            for pattern, replacement in rules:
                text = pattern.sub(replacement, text)
    return text


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def redact_sql(expr: str, gate: str | None = None) -> str:
    """A DuckDB expression: the VARCHAR `expr` redacted exactly as `redact` does.

    `gate`, if given, is a boolean column that is false only where `GATE` cannot match `expr`
    (computed once per record, it spares most fields their own test)."""
    chain = expr
    for n, (group_gate, rules) in enumerate(GROUPS):
        steps = f"v{n}" if group_gate else chain
        for pattern, replacement in rules:
            steps = f"regexp_replace({steps}, {_lit(pattern)}, {_lit(replacement)}, 'g')"
        if group_gate:  # bound once by the lambda, so the text is not copied into each branch
            test = (f"contains(v{n}, {_lit(group_gate)})" if _is_literal(group_gate)
                    else f"regexp_matches(v{n}, {_lit(group_gate)})")
            steps = f"list_transform([{chain}], lambda v{n}: CASE WHEN {test} THEN {steps} ELSE v{n} END)[1]"
        chain = steps
    test = f"regexp_matches({expr}, {_lit(GATE)})"
    return f"CASE WHEN {f'{gate} AND ' if gate else ''}{test} THEN {chain} ELSE {expr} END"


def redact_json_sql(expr: str, gate: str | None = None) -> str:
    """`redact_sql` for a VARCHAR holding a JSON object: the rules keep JSON text valid JSON, and
    in the rare case they do not, the redacted text is kept as the string `{"_redacted": ...}`."""
    return (f"CASE WHEN {f'{gate} AND ' if gate else ''}regexp_matches({expr}, {_lit(GATE)}) "
            f"THEN list_transform([{redact_sql(expr, 'true')}], "
            "lambda r: CASE WHEN r IS NULL OR json_valid(r) THEN r ELSE json_object('_redacted', r)::VARCHAR "
            f"END)[1] ELSE {expr} END")
