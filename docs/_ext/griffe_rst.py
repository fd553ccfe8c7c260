"""A griffe extension for the API reference: segex's docstrings are numpy-style with
reStructuredText markup (Sphinx roles, ``.. math::``, ``Title`` + ``----`` headings, simple
tables, ``::`` literal blocks). mkdocstrings renders docstrings as Markdown, so this
rewrites that markup to its Markdown equivalent when griffe loads a docstring -- the
source stays as it is (readable in ``help()`` and in an editor):

* ``:func:`~segex.api.solve``` and every other role -> a code span (``solve``);
* ``:math:`x``` -> ``$x$`` and ``.. math::`` blocks -> ``$$ ... $$`` (pymdownx.arithmatex);
* a ``Title`` + ``-----`` heading that is not a numpy section -> a bold line (a module's
  docstring is rendered under its own heading);
* an RST simple table (``====  ====`` rules) -> a fenced text block, as laid out;
* a paragraph ending in ``::`` -> ``:`` (the indented block after it is a code block in
  Markdown too);
* ``name : what it is`` in a Parameters / Attributes section, where the text after the colon
  is a description rather than a type, -> ``name`` with the description below it (numpy
  reads the text after `` : `` as the type).
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc|const|ref|doc|term):`~?\.?([^`]+)`")
MATH = re.compile(r":math:`([^`]+)`")
RULE = re.compile(r"^\s*-{3,}\s*$")
TABLE_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")
#: The section titles griffe's numpy parser knows; other underlined titles are prose headings.
#: Sections whose items are ``name : type`` followed by an indented description.
ITEM_SECTIONS = {"parameters", "other parameters", "attributes", "receives"}
ITEM = re.compile(r"^(?P<name>\*{0,2}\w+(?:, \*{0,2}\w+)*) : (?P<rest>.+)$")
TYPE_LIKE = re.compile(r"^[\w.\[\]|, ()'\"]+$")
NUMPY_SECTIONS = {"parameters", "other parameters", "returns", "yields", "receives", "raises", "warns",
                  "warnings", "examples", "attributes", "functions", "methods", "classes", "modules",
                  "notes", "references", "see also", "deprecated", "type aliases", "type parameters"}


def rst_to_markdown(text: str) -> str:
    """The Markdown reading of one docstring (module docstring)."""
    text = MATH.sub(lambda m: f"${m.group(1)}$", text)
    text = ROLE.sub(lambda m: f"`{_short(m.group(1))}`", text)
    lines = text.split("\n")
    out: list[str] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and RULE.match(lines[i + 1]) and line.strip().lower() in NUMPY_SECTIONS:
            section = line.strip().lower()
        elif section in ITEM_SECTIONS and _indent(line) == 0 and ITEM.match(line):
            m = ITEM.match(line)
            if not _is_type(m.group("rest")):
                out += [m.group("name"), "    " + m.group("rest")]
                i += 1
                continue
        # ".. math::" block (content on the same line and/or indented below)
        m = re.match(r"^(\s*)\.\. math::\s*(.*)$", line)
        if m:
            indent, first = m.groups()
            body = [first] if first.strip() else []
            i += 1
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
                if not lines[i].strip() and i + 1 < len(lines) and _indent(lines[i + 1]) <= len(indent) and lines[i + 1].strip():
                    break
                body.append(lines[i].strip())
                i += 1
            while body and not body[-1]:
                body.pop()
            out += [indent + "$$", *(indent + b for b in body if b), indent + "$$"]
            continue
        # simple table (rule, rows, rule; optionally a header between two rules)
        if TABLE_RULE.match(line):
            rule, i = line, i + 1
            block: list[str] = []
            while i < len(lines) and not TABLE_RULE.match(lines[i]):
                block.append(lines[i])
                i += 1
            i += 1  # the closing rule
            if i < len(lines) and block and TABLE_RULE.match(rule) and _table_continues(lines, i):
                block, i = _table_body(lines, i), _table_end(lines, i)  # the header is dropped
            out += _definition_list(rule, block)
            continue
        # "Title" underlined with dashes, not a numpy section: a bold line
        if (i + 1 < len(lines) and RULE.match(lines[i + 1]) and line.strip()
                and line.strip().lower() not in NUMPY_SECTIONS):
            out += [f"**{line.strip()}**", ""]
            i += 2
            continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            line = line.rstrip()[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


def _is_type(text: str) -> bool:
    """``str``, ``int | None``, ``np.ndarray``, ``tuple[float, ...]``: not a sentence."""
    text = text.strip()
    words = [w for w in re.split(r"[\s|,]+", text) if w]
    return bool(TYPE_LIKE.match(text)) and len(text) <= 40 and all(not w.islower() or len(words) <= 3 for w in words) \
        and not text.startswith("(")


def _table_continues(lines, i) -> bool:
    """Whether the rule just passed closed a header (rows and a last rule follow)."""
    j = i
    while j < len(lines) and lines[j].strip() and not TABLE_RULE.match(lines[j]):
        j += 1
    return j > i and j < len(lines) and bool(TABLE_RULE.match(lines[j]))


def _table_body(lines, i):
    body = []
    while not TABLE_RULE.match(lines[i]):
        body.append(lines[i])
        i += 1
    return body


def _table_end(lines, i):
    while not TABLE_RULE.match(lines[i]):
        i += 1
    return i + 1


def _definition_list(rule: str, rows: list[str]) -> list[str]:
    """A two-column simple table as a Markdown definition list (first column the term;
    a row whose first column is blank continues the row above)."""
    width = len(rule.strip().split()[0])
    start = _indent(rule)
    items: list[list[str]] = []
    for row in rows:
        term, text = row[start:start + width].strip(), row[start + width:].strip()
        if term or not items:
            items.append([term, text])
        else:
            items[-1][1] += " " + text
    out = [""]
    for term, text in items:
        out += [f"`{term}`", f":   {text}", ""]
    return out


def _short(target: str) -> str:
    return target  # the full dotted path: the page does not say which module it is in


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring griffe loads (:func:`rst_to_markdown`)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
