"""The text report of ``segex solve``: every concept's JSON object (``to_dict()``) laid out to
be read in a terminal, at most :data:`WIDTH` columns wide.

Per concept (``== name ==``):

* ``types:`` each type's numbers, a row per type (with the economy's per-type vectors,
  :attr:`segex.registry.ReportLayout.per_type`);
* the scalar results under the headings the economy declares (``prices:``, ``welfare:``,
  ...; :class:`segex.registry.ReportLayout`), whatever it does not declare under ``values:``;
* every other list of records as a table -- the exchanges: the active ones, with each type's
  share -- then notes, the LP's size and times, the refinement path and the certificate.

A value that does not apply (null or NaN in the JSON: the private-market rate where there is
none) is left out of the text; the JSON keeps it as null. A table cell that does not apply
reads ``-``; an unbounded end reads ``inf``.

Fitting the width: ``key = value`` lines wrap; a table wider than the width is cut into column
blocks that each repeat the key column (as pandas prints a wide frame); a cell longer than
:data:`CELL` characters is abridged, a list or mapping to its first entries and its size
(``[0.1000, 0.2000, … 41 values]``: the count is the whole list's), and a column of long text
moves below its table. When anything was abridged the report ends saying so. ``wide=True``
(``segex solve --wide``) abridges, wraps and cuts nothing.

The report is a function of the JSON object and the economy's layout alone (each concept's
result, when given, adds its LP line), so it knows no economy.
"""

from __future__ import annotations

import json
import math
import textwrap

from .registry import ReportLayout

#: Columns of the report by default (``segex solve --wide``: no limit).
WIDTH = 100
#: The longest table cell before it is abridged (or, for text, moved below the table).
CELL = 40
ELLIPSIS = "…"
#: What stands in a table cell whose value does not apply.
MISSING = "-"
#: The top-level keys of the JSON object that are not concepts.
RUN_KEYS = ("economy", "lp", "certificate")
#: Columns of refinement tables left out of the text: the LP line has the times.
REFINEMENT_SKIP = ("nnz", "build_s", "solve_s")


def text_report(report: dict, layout: ReportLayout | None = None, results=None, wide: bool = False,
                width: int = WIDTH) -> str:
    """The text report (module docstring) of ``report``, the JSON object of ``segex solve
    --json`` before it is printed (``{"economy", "lp", "certificate", concept: to_dict(),
    ...}``). ``layout``: the economy's (:attr:`segex.registry.Economy.report`); ``results``:
    ``{concept: result}`` (their ``lp`` and ``certificate``; without them each concept's
    checks are read from ``report["certificate"]``); ``wide``: nothing abridged."""
    r = _Renderer(layout or ReportLayout(), math.inf if wide else width)
    concepts = list(results) if results is not None else [k for k in report if k not in RUN_KEYS]
    lines = [f"economy: {report.get('economy')}"]
    for concept in concepts:
        res = results.get(concept) if results is not None else None
        cert = getattr(res, "certificate", None) if res is not None else _concept_checks(report, concept)
        lines += ["", f"== {concept} =="]
        lines += r.concept(jsonable(report[concept], keep_inf=True), getattr(res, "lp", None), cert)
    if r.abridged:
        lines += ["", f"(abridged to {width} columns: --wide prints every cell whole, --json everything)"]
    return "\n".join(lines)


def certificate_line(cert, width: float = math.inf) -> str:
    """``certificate: passed (max residual 2.10e-15)``, or ``certificate: FAILED: <check>
    (residual .. > tol ..), ...`` with each failed grid-edge check's note (which grid to
    widen) on a line of its own; wrapped at ``width``."""
    cert = jsonable(certificate_dict(cert), keep_inf=True)
    checks = {k: v for k, v in cert.items() if k != "passed" and isinstance(v, dict)}
    failed = [k for k, v in checks.items() if not v.get("passed", True)]
    residuals = [v["residual"] for v in checks.values() if _is_number(v.get("residual"))]
    if cert.get("passed", True) and not failed:
        worst = f" (max residual {max(residuals):.2e})" if residuals else ""
        return f"certificate: passed{worst}"
    if not failed:
        return "certificate: FAILED"
    parts = []
    for k in failed:
        v = checks[k]
        r, t = v.get("residual"), v.get("tol")
        parts.append(f"{k} (residual {_sci(r)} > tol {_sci(t)})" if r is not None else k)
    lines = _wrap("certificate: FAILED: " + ", ".join(parts), width, "  ")
    # a grid that binds: its note says which grid to widen and which way
    for k in failed:
        if "edge" in k.split(".") and checks[k].get("note"):
            lines += _wrap(f"  {k}: {checks[k]['note']}", width, "    ")
    return "\n".join(lines)


def certificate_dict(cert) -> dict | None:
    """A certificate as ``{"passed": bool, check: {"residual", "tol", "passed", ...}}``;
    accepts a plain dict or an object with ``to_dict()`` (:class:`segex.certificate.Certificate`)."""
    if cert is None:
        return None
    if hasattr(cert, "to_dict"):
        cert = cert.to_dict()
    return dict(cert)


def jsonable(x, keep_inf: bool = False):
    """Plain JSON types; non-finite floats become None (``keep_inf``: only NaN, for the
    text report, where an unbounded end reads ``inf``)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v, keep_inf) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v, keep_inf) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):  # numpy arrays and scalars
        return jsonable(x.tolist(), keep_inf)
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) or (keep_inf and not math.isnan(x)) else None
    return str(x)


def fmt(v) -> str:
    """A value as the report prints it, whole: 4 decimals (or 4 significant digits in
    scientific notation), ``yes``/``no``, ``-`` where it does not apply."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.4f}" if 1e-3 <= abs(v) < 1e6 else f"{v:.3e}"
    if v is None:
        return MISSING
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt(x)}" for k, x in v.items()) if _is_numeric_dict(v) else json.dumps(v)
    return str(v)


# ------------------------------------------------------------------------------------ rendering
class _Renderer:
    def __init__(self, layout: ReportLayout, width: float):
        self.layout, self.width = layout, width
        self.abridged = False

    @property
    def wide(self) -> bool:
        return math.isinf(self.width)

    # -- one concept ---------------------------------------------------------------------
    def concept(self, d: dict, lp, cert) -> list[str]:
        lay = self.layout
        out = []
        types = d.get("types") if _is_records(d.get("types")) else None
        per_type = {k: d[k] for k in lay.per_type if isinstance(d.get(k), list) and d[k] and not _not_applicable(d[k])}
        out += self.types_table(types, per_type)
        notes = {k: v for k, v in d.items() if k.endswith("_note") and isinstance(v, str)}
        used = {"types", "refinement", *per_type, *notes, *lay.hidden}
        for heading, keys in lay.sections:
            out += self.items(heading, [(k, d[k]) for k in keys if k in d and k not in used and _is_value(d[k])])
            used.update(keys)
        out += self.items("values", [(k, v) for k, v in d.items() if k not in used and _is_value(v)])
        for k, v in d.items():
            if k in used:
                continue
            if _is_records(v):
                out += self.records(k, v, types)
            elif isinstance(v, dict) and not _is_numeric_dict(v):
                out += self.mapping(k, v)
        for k, v in notes.items():
            out += _wrap(f"{k.removesuffix('_note').replace('_', ' ')}: {v}", self.width, "  ")
        if isinstance(lp, dict) and lp:
            out += _wrap(lp_line(lp), self.width, "  ")
            cont = lp.get("continuum")
            if isinstance(cont, dict):
                out += _wrap(_continuum_line(cont), self.width, "  ")
        ref = d.get("refinement")
        if ref is None and isinstance(lp, dict):
            ref = lp.get("refinement")
        out += self.refinement(ref)
        if cert is not None:
            out += certificate_line(cert, self.width).split("\n")
        return out

    def types_table(self, types, per_type: dict) -> list[str]:
        n = len(types) if types else max((len(v) for v in per_type.values()), default=0)
        if not n:
            return []
        rows = [{"type": h, **(types[h] if types else {}), **{k: v[h] for k, v in per_type.items() if h < len(v)}}
                for h in range(n)]
        title = self.layout.titles.get("types", "types")
        return [f"{title}:"] + self.table(rows, ("type",) + tuple(self.layout.columns.get("types", ())))

    def records(self, key: str, rows: list, types) -> list[str]:
        """A list of records; rows that say whether they are active (exchanges): the active
        ones, with each type's share of them when the types report ``shares``."""
        title = self.layout.titles.get(key, key)
        if any("active" in r or isinstance(r.get("shares"), list) for r in rows):
            active = [r for r in rows if _is_active(r)]
            head = f"active {title}: {len(active)} of {len(rows)}"
            rows = [_with_type_shares(r, types) for r in active]
        else:
            head = f"{title}: {len(rows)}"
        preferred = list(self.layout.columns.get(key, ("id",)))
        preferred += [k for r in rows[:1] for k in r if k.startswith("share[")]  # next to the preferred ones
        return [head] + (self.table(rows, preferred, skip=("active",)) if rows else [])

    def mapping(self, key: str, d: dict, indent: str = "") -> list[str]:
        """A nested object: its values on a line, its tables and objects below, indented."""
        values = [(k, v) for k, v in d.items() if _is_value(v)]
        out = self.items(f"{indent}{key}", values) or [f"{indent}{key}:"]
        for k, v in d.items():
            if _is_records(v):
                out += [f"{indent}  {k}:"] + [indent + "  " + line for line in self.table(v, ())]
            elif isinstance(v, dict) and not _is_numeric_dict(v):
                out += self.mapping(k, v, indent + "  ")
        return out

    def refinement(self, ref) -> list[str]:
        cols = tuple(self.layout.columns.get("refinement", ("step",)))
        if _is_records(ref):  # a list of LP steps
            return [f"refinement: {len(ref)} LPs"] + self.table(ref, cols, skip=REFINEMENT_SKIP)
        if not isinstance(ref, dict):
            return []
        converged = "converged" if ref.get("converged") else "NOT converged"
        out = [f"refinement (tol {fmt(ref.get('tol'))}): accuracy {fmt(ref.get('accuracy'))}, {converged}"]
        path = ref.get("path", ref.get("steps"))
        return out + (self.table(path, cols, skip=REFINEMENT_SKIP) if _is_records(path) else [])

    # -- building blocks -----------------------------------------------------------------
    def items(self, heading: str, items: list) -> list[str]:
        """``heading: key = value  key = value``, wrapped under the first pair."""
        items = [(k, v) for k, v in items if not _not_applicable(v)]
        if not items:
            return []
        head = f"{heading}: "
        pieces = [f"{k} = {self.cell(v, self.width - len(head) - len(k) - 3)}" for k, v in items]
        lines, cur, first = [], head, True
        for p in pieces:
            if not first and len(cur) + 2 + len(p) > self.width:
                lines.append(cur)
                cur = " " * len(head) + p
            else:
                cur += ("" if first else "  ") + p
            first = False
        return lines + [cur]

    def table(self, rows: list[dict], preferred=(), skip=()) -> list[str]:
        """Right-aligned columns; within the width by column blocks that repeat the first
        (key) column; long text columns listed below."""
        keys = [k for k in preferred if any(k in r for r in rows)]
        keys += [k for r in rows for k in r if not isinstance(r[k], dict) or _is_numeric_dict(r[k])]
        keys = [k for k in dict.fromkeys(keys) if k not in skip and not all(_not_applicable(r.get(k)) for r in rows)]
        if not keys:
            return []
        text = [] if self.wide else [k for k in keys[1:] if any(isinstance(r.get(k), str) and len(r[k]) > CELL
                                                                 for r in rows)]
        keys = [k for k in keys if k not in text]
        limit = math.inf if self.wide else CELL
        cells = [[self.cell(r[k], limit) if k in r else MISSING for k in keys] for r in rows]
        widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
        out = []
        for block in self._blocks(widths):
            if out:
                out.append("")
            out.append("  " + "  ".join(keys[i].rjust(widths[i]) for i in block))
            out += ["  " + "  ".join(row[i].rjust(widths[i]) for i in block) for row in cells]
        for k in text:  # long text: below the table, by the row's key
            for r in rows:
                if isinstance(r.get(k), str) and r[k]:
                    out += _wrap(f"  {keys[0]} {fmt(r.get(keys[0]))}, {k}: {r[k]}", self.width, "    ")
        return out

    def _blocks(self, widths: list[int]) -> list[list[int]]:
        """Column indices per block: the key column, then as many as fit the width."""
        blocks, cur, used = [], [0], 2 + widths[0]
        for i in range(1, len(widths)):
            if len(cur) > 1 and used + 2 + widths[i] > self.width:
                blocks.append(cur)
                cur, used = [0], 2 + widths[0]
            cur.append(i)
            used += 2 + widths[i]
        return blocks + [cur]

    def cell(self, v, limit: float) -> str:
        """``fmt(v)``, abridged to ``limit`` characters where it can be (module docstring)."""
        whole = fmt(v)
        if len(whole) <= limit:
            return whole
        if isinstance(v, list):
            short = _abridge([fmt(x) for x in v], limit, "[", f"{ELLIPSIS} {len(v)} values]")
        elif isinstance(v, dict) and _is_numeric_dict(v):
            short = _abridge([f"{k}={fmt(x)}" for k, x in v.items()], limit, "", f"{ELLIPSIS} {len(v)} entries")
        elif isinstance(v, str):
            short = v[:max(int(limit) - 1, 1)] + ELLIPSIS
        else:
            return whole
        self.abridged = True
        return short


def _abridge(pieces: list[str], limit: float, opening: str, closing: str) -> str:
    """As many leading ``pieces`` as fit ``limit`` with ``closing`` after them."""
    text = opening
    for p in pieces:
        if len(text) + len(p) + 2 + len(closing) > limit:
            break
        text += p + ", "
    return text + closing


def lp_line(lp: dict) -> str:
    """``LP: 192 rows x 78150 columns, 228575 nonzeros; build 0.03 s, solve 7.11 s``."""
    def g(key, spec):
        v = lp.get(key)
        return format(v, spec) if _is_number(v) else "?"

    return (f"LP: {g('rows', 'd')} rows x {g('cols', 'd')} columns, {g('nnz', 'd')} nonzeros; "
            f"build {g('build_s', '.2f')} s, solve {g('solve_s', '.2f')} s")


def _continuum_line(cont: dict) -> str:
    def g(key, spec=""):
        v = cont.get(key)
        return format(v, spec) if _is_number(v) else "?"

    return (f"continuum: {g('variables')} variables, {g('constraints')} constraints, {g('exchanges')} exchanges; "
            f"{g('newton_iterations')} Newton iterations, solve {g('solve_s', '.2f')} s, "
            f"certify {g('certify_s', '.2f')} s")


def _wrap(line: str, width: float, indent: str) -> list[str]:
    if len(line) <= width:
        return [line]
    return textwrap.wrap(line, width=int(width), subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [line]


def _concept_checks(report: dict, concept: str) -> dict | None:
    """One concept's checks from the run's certificate (``"<concept>.<check>"`` keys)."""
    cert = report.get("certificate")
    if not isinstance(cert, dict):
        return None
    prefix = f"{concept}."
    checks = {k[len(prefix):]: v for k, v in cert.items() if k.startswith(prefix)}
    if not checks:
        return None
    return {"passed": all(v.get("passed", True) for v in checks.values() if isinstance(v, dict)), **checks}


def _is_active(e: dict) -> bool:
    if "active" in e:
        return bool(e["active"])
    shares = e.get("shares")
    if isinstance(shares, list):
        return any(_is_number(v) and v > 1e-9 for v in _flatten(shares))
    return True


def _with_type_shares(e: dict, types) -> dict:
    """Add columns ``share[h]``: the fraction of type h in exchange ``e["id"]``, when the
    types report their exchange shares as ``{"shares": {id: fraction}}``."""
    if "id" not in e or not _is_records(types) or not all(isinstance(t.get("shares"), dict) for t in types):
        return e
    return {**e, **{f"share[{h}]": float(t["shares"].get(e["id"], 0.0)) for h, t in enumerate(types)}}


def _flatten(x):
    if isinstance(x, list):
        for v in x:
            yield from _flatten(v)
    else:
        yield x


def _not_applicable(v) -> bool:
    """None (NaN in the results), or a non-empty list of nothing else."""
    if isinstance(v, list):
        flat = list(_flatten(v))
        return bool(flat) and all(x is None for x in flat)
    return v is None


def _is_value(v) -> bool:
    """What a ``key = value`` line shows: anything but tables and nested objects."""
    return not _is_records(v) and (not isinstance(v, dict) or _is_numeric_dict(v))


def _is_records(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _is_numeric_dict(v) -> bool:
    return isinstance(v, dict) and all(_is_number(x) for x in v.values())


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sci(v) -> str:
    return f"{v:.2e}" if _is_number(v) else fmt(v)


__all__ = ["CELL", "WIDTH", "certificate_dict", "certificate_line", "fmt", "jsonable", "lp_line", "text_report"]
