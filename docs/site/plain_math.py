"""Formulas of cam_utils' docstrings, typeset on the API page.

The docstrings write their formulas as plain text, so that ``help()`` in a terminal reads well:
``M_c = Σ_k w_k^c A^k``, ``α_k^c = (1/Z) Σ_ij ∂y^c/∂A^k_ij``. On the website, :func:`typeset_line`
finds such runs in a docstring line and turns each into a ``:math:`` role with the TeX it means
(``Σ_k`` → ``\\sum_k``, ``A^k_ij`` → ``A^k_{ij}``, ``ReLU`` → ``\\mathrm{ReLU}``). Text in backticks,
literal blocks (after ``::``), directives and doctest lines are left as they are.
"""

from __future__ import annotations

import re

#: Unicode signs and their TeX commands.
_SIGNS = {
    "Σ": r"\sum ",
    "∑": r"\sum ",
    "∂": r"\partial ",
    "∇": r"\nabla ",
    "⊙": r"\odot ",
    "·": r"\cdot ",
    "×": r"\times ",
    "−": "-",
    "≥": r"\geq ",
    "≤": r"\leq ",
    "≠": r"\neq ",
    "→": r"\to ",
    "α": r"\alpha ",
    "β": r"\beta ",
    "γ": r"\gamma ",
    "δ": r"\delta ",
    "ε": r"\varepsilon ",
    "θ": r"\theta ",
    "λ": r"\lambda ",
    "μ": r"\mu ",
    "π": r"\pi ",
    "ρ": r"\rho ",
    "σ": r"\sigma ",
    "τ": r"\tau ",
    "φ": r"\varphi ",
    "ω": r"\omega ",
}
_GREEK = "αβγδεθλμπρστφω"
#: Function names written as words inside formulas (typeset upright).
_FUNCTIONS = (
    "ReLU",
    "softmax",
    "mean",
    "std",
    "max",
    "min",
    "GAP",
    "normalize",
    "upsample",
    "sum",
    "exp",
    "log",
    "model",
)
_SCRIPT = r"(?:[_^](?:\{[^}\s]*\}|[\w']{1,3}))"
#: Names with a subscript that are words: ``map_ij``, ``scale_n`` (a code name such as ``class_idx`` is not one).
_NAMES = (*_FUNCTIONS, "map", "scale")
_SYMBOL = re.compile(rf"(?<![A-Za-z_])(?:[A-Za-z{_GREEK}]{{1,2}}'?|{'|'.join(_NAMES)}){_SCRIPT}+(?![A-Za-z])")
_STRONG_SIGN = re.compile(rf"[Σ∑∂∇√⊙{_GREEK}]")
_WEAK = re.compile(rf"^[\d.,;:()\[\]{{}}/+\-−=<>≥≤≠·×⊙'A-Za-z{_GREEK}_^√Σ∑∂∇]+$")
_ENGLISH = re.compile(r"[A-Za-z]{2,}")
_PUNCTUATION_AFTER = ",.;:"


def _strong(token: str) -> bool:
    """A token that is surely math: a symbol with a sub- or superscript, or a math sign."""
    core = token.strip("()[],.;:")
    return bool(_SYMBOL.search(core) or _STRONG_SIGN.search(core)) and len(core) < 40


def _weak(token: str) -> bool:
    """A token that may stand in a formula: an operator, a number, one letter, a function call."""
    if token in ("", "a", "is", "as", "at", "in", "of", "or", "to", "by", "on", "if", "be", "it"):
        return False
    if not _WEAK.match(token):
        return False
    words = [word for word in _ENGLISH.findall(token) if word not in _FUNCTIONS]
    return not words or _strong(token)


def _tex(span: str) -> str:
    """The TeX of one plain-text formula."""
    tex = re.sub(r"√(\w+|\([^)]*\))", lambda m: r"\sqrt{" + m.group(1).strip("()") + "}", span)
    tex = re.sub(r"([_^])([A-Za-z0-9']{2,})", r"\1{\2}", tex)
    tex = re.sub(r"(?<![\\{A-Za-z0-9_^])([A-Za-z]{2,})(?![A-Za-z0-9}])", _upright, tex)
    for sign, command in _SIGNS.items():
        tex = tex.replace(sign, command)
    return re.sub(r" +([_^}),])", r"\1", tex).strip()


def _upright(match: re.Match[str]) -> str:
    word = match.group(1)
    return r"\sum" if word == "sum" else r"\mathrm{" + word + "}"


def _aligned(tokens: list[str], start: int, j: int) -> bool:
    """Spaces that align a formula (``L^c   = ReLU(...)``) inside it, not those before a comment in brackets."""
    if tokens[j] or j == start:
        return False
    following = next((token for token in tokens[j:] if token), "")
    return bool(following) and not following.startswith("(") and (_strong(following) or _weak(following))


def _wrapped(text: str) -> bool:
    """Whether the first bracket of `text` closes at its last character."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return position == len(text) - 1
    return False


def _balanced(text: str) -> bool:
    return text.count("(") == text.count(")") and text.count("{") == text.count("}")


def _typeset_text(text: str) -> str:
    """Plain text (no backticks) with its formula runs turned into ``:math:`` roles."""
    tokens = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and (_strong(tokens[j]) or _weak(tokens[j]) or _aligned(tokens, i, j)):
            j += 1
            if tokens[j - 1][-1:] and tokens[j - 1][-1] in _PUNCTUATION_AFTER and _balanced(" ".join(tokens[i:j])):
                break  # "M_c, the map": the comma ends the formula
        if j == i:
            out.append(tokens[i])
            i += 1
        else:
            out.extend(_typeset_run(tokens[i:j]))
            i = j
    return " ".join(out)


def _typeset_run(run: list[str]) -> list[str]:
    """A run of tokens that may hold a formula: the same tokens, the formula among them as a role."""
    lead: list[str] = []
    while run and not _strong(run[0]) and (not re.search(r"\w", run[0]) or run[0].count(")") > run[0].count("(")):
        lead.append(run.pop(0))  # a leading operator or colon is not part of it
    trail: list[str] = []
    while (
        run
        and not _strong(run[-1])
        and (not re.search(r"[\w)]", run[-1].rstrip(_PUNCTUATION_AFTER)) or run[-1].isalpha())
    ):
        trail.insert(0, run.pop())  # a trailing operator, or a function name with no argument
    if not any(_strong(token) for token in run):
        return lead + run + trail
    span, before, after = " ".join(run), "", ""
    while span and span[-1] in _PUNCTUATION_AFTER:
        span, after = span[:-1], span[-1] + after
    if span.startswith("(") and not _balanced(span):
        span, before = span[1:], "("
    if span.endswith(")") and not _balanced(span):
        span, after = span[:-1], ")" + after
    if _wrapped(span):  # "(M_c = Σ_k w_k^c A^k)": the brackets belong to the sentence
        span, before, after = span[1:-1], before + "(", ")" + after
    if not span or not _balanced(span) or any(sign in span for sign in "|\\`"):
        return lead + run + trail
    return [*lead, f"{before}:math:`{_tex(span)}`{after}", *trail]


def typeset_line(line: str) -> str:
    """One prose line of a docstring with its plain-text formulas as ``:math:`` roles."""
    parts = re.split(r"(``.*?``|`[^`]*`)", line)
    return "".join(part if part.startswith("`") else _typeset_text(part) for part in parts)


#: A directive whose body is prose (napoleon writes an ``Attributes:`` entry as ``.. attribute:: name``).
_PROSE_DIRECTIVE = re.compile(
    r"^\.\. (?!code|code-block|sourcecode|math|raw|parsed-literal|doctest|testcode|highlight)[\w:-]+::"
)


def typeset_docstring(lines: list[str]) -> list[str]:
    """Every prose line of a docstring typeset; literal blocks, directives and doctests kept as written."""
    result: list[str] = []
    literal_indent: int | None = None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if literal_indent is not None and (not stripped or indent > literal_indent):
            result.append(line)
            continue
        literal_indent = None
        directive = stripped.endswith("::") or stripped.startswith(".. ")
        if stripped.startswith(">>>") or (directive and not _PROSE_DIRECTIVE.match(stripped)):
            literal_indent = indent
            result.append(line)
            continue
        result.append(typeset_line(line))
    return result
