"""TOML grid files: the shipped ones load, and every bad input is a SpecError naming its field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segex.economies.collateral import CollateralGrids
from segex.errors import SegexError, SpecError
from segex.io.config import RunSpec, SolveOptions, load_spec, parse_spec

GRIDS = Path(__file__).resolve().parents[1] / "grids"

BASE = """\
economy = "collateral"
name = "test env 1"
beta = 1.0
gamma = 2.0
prob = [1.0]
R = [1.0]

[[types]]
share = 0.5
endowment = [[3, 3], [1, 1]]

[[types]]
share = 0.5
endowment = [[1, 1], [3, 3]]

[grid]
c = { n = 41 }
k = { min = 0.0, max = 2.5, n = 11 }
z = { min = 0.6, max = 1.0, n = 9 }
a = { min = -1.0, max = 1.0, n = 5 }

[solve]
concepts = ["externality", "segregated"]
weights = "negishi"
backend = "highs"
"""


def write(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def edit(old, new, count=1):
    def f(text):
        assert old in text, old
        return text.replace(old, new, count)
    return f


def edit_second(old, new):
    """Replace the second occurrence of ``old`` (the second [[types]] table)."""
    def f(text):
        i = text.index(old, text.index(old) + 1)
        return text[:i] + new + text[i + len(old):]
    return f


# ---------------------------------------------------------------------------------- good files
@pytest.mark.parametrize("env,H,S", [(1, 2, 1), (2, 2, 2), (3, 3, 1)])
def test_shipped_grid_files_load(env, H, S):
    spec = load_spec(GRIDS / f"kt_env{env}.toml")
    assert isinstance(spec, RunSpec)
    assert spec.name == f"KT Environment {env}"
    assert spec.economy.H == H and spec.economy.S == S
    assert spec.economy.gamma == 2.0 and spec.economy.beta == 1.0
    assert np.all(spec.economy.R == 1.0)
    assert abs(spec.economy.share.sum() - 1) < 1e-8
    assert spec.solve == SolveOptions(("externality", "segregated"), "highs", extra={"weights": "negishi", "method": "grid"})
    assert set(spec.grid) == {"c", "k", "z", "a"}
    assert spec.path == str(GRIDS / f"kt_env{env}.toml")
    grids = CollateralGrids.build(spec.economy, **spec.grid)
    assert len(grids.z) == S
    assert 0.0 in grids.k and 0.0 in grids.a


def test_kt_env1_primitives():
    econ = load_spec(GRIDS / "kt_env1.toml").economy
    np.testing.assert_array_equal(econ.endowment[0], [[3, 3], [1, 1]])
    np.testing.assert_array_equal(econ.endowment[1], [[1, 1], [3, 3]])
    np.testing.assert_array_equal(econ.share, [0.5, 0.5])


def test_base_parses_and_keeps_raw_grid(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    assert spec.grid["k"] == {"min": 0.0, "max": 2.5, "n": 11}
    assert spec.build_grids().k.size == 11


def test_defaults_from_dict():
    spec = parse_spec({"economy": "collateral",
                       "types": [{"share": 0.5, "endowment": [[3, 3], [1, 1]]},
                                 {"share": 0.5, "endowment": [[1, 1], [3, 3]]}]})
    e = spec.economy
    assert e.beta == 1.0 and e.gamma == 2.0
    np.testing.assert_array_equal(e.prob, [1.0])
    np.testing.assert_array_equal(e.R, [1.0])
    assert spec.grid == {} and spec.path is None
    assert spec.solve.concepts == ("externality", "segregated")
    assert spec.solve.weights == "negishi" and spec.solve.backend == "highs"


def test_explicit_weights_and_file_stem_name(tmp_path):
    text = BASE.replace('weights = "negishi"', "weights = [1, 2.5]").replace('name = "test env 1"\n', "")
    text = text.replace('concepts = ["externality", "segregated"]', 'concepts = ["segregated", "segregated"]')
    spec = load_spec(write(tmp_path, text, "my_econ.toml"))
    assert spec.solve.weights == (1.0, 2.5)
    assert spec.solve.concepts == ("segregated",)
    assert spec.name == "my_econ"


def test_per_state_z_grids(tmp_path):
    text = BASE.replace("prob = [1.0]", "prob = [0.5, 0.5]").replace("R = [1.0]", "R = [1.0, 1.0]")
    text = text.replace("[[3, 3], [1, 1]]", "[[2, 2], [3, 3], [1, 1]]").replace("[[1, 1], [3, 3]]", "[[2, 2], [1, 1], [3, 3]]")
    text = text.replace("z = { min = 0.6, max = 1.0, n = 9 }",
                        "z = [{ min = 0.6, max = 1.05, n = 10 }, { points = [0.7, 0.8, 1.0] }]")
    spec = load_spec(write(tmp_path, text))
    g = spec.build_grids()
    assert g.z[0].size == 10 and g.z[1].size == 3


# ---------------------------------------------------------------------------------- bad files
BAD = [
    # id, transform of BASE, expected field, a phrase the message must contain
    ("unknown type key", edit_second("endowment =", "endowmnet ="), "types[1].endowmnet", "did you mean 'endowment'"),
    ("unknown top key", edit("gamma = 2.0", "gama = 2.0"), "gama", "did you mean 'gamma'"),
    ("unknown grid spec key", edit("n = 11", "nn = 11"), "grid.k.nn", "did you mean 'n'"),
    ("unknown grid key", edit("k = {", "kk = {"), "grid.kk", "did you mean 'k'"),
    ("unknown solve key", edit("backend =", "backed ="), "solve.backed", "did you mean 'backend'"),
    ("missing economy", edit('economy = "collateral"\n', ""), "economy", "missing"),
    ("missing types", lambda t: t.replace("[[types]]\nshare = 0.5\nendowment = [[3, 3], [1, 1]]\n", "")
     .replace("[[types]]\nshare = 0.5\nendowment = [[1, 1], [3, 3]]\n", ""), "types", "missing"),
    ("missing endowment", edit("endowment = [[3, 3], [1, 1]]\n", ""), "types[0].endowment", "missing"),
    ("missing share", edit_second("share = 0.5\n", ""), "types[1].share", "missing"),
    ("endowment too many rows", edit("[[3, 3], [1, 1]]", "[[3, 3], [1, 1], [2, 2]]"), "types[0].endowment",
     "needs 2 rows"),
    ("endowment row of 3", edit("[[3, 3], [1, 1]]", "[[3, 3, 3], [1, 1]]"), "types[0].endowment", "good 2"),
    ("endowment not a list", edit("[[3, 3], [1, 1]]", "3"), "types[0].endowment", "array of rows"),
    ("zero endowment", edit("[[3, 3], [1, 1]]", "[[3, 0], [1, 1]]"), "types[0].endowment", "positive"),
    ("negative endowment", edit("[[1, 1], [3, 3]]", "[[1, 1], [-3, 3]]"), "types[1].endowment", "positive"),
    ("inf endowment", edit("[[3, 3], [1, 1]]", "[[inf, 3], [1, 1]]"), "types[0].endowment", "finite"),
    ("nan endowment", edit("[[3, 3], [1, 1]]", "[[nan, 3], [1, 1]]"), "types[0].endowment", "finite"),
    ("nan grid point", edit("k = { min = 0.0, max = 2.5, n = 11 }", "k = { points = [0.0, nan, 1.0] }"),
     "grid.k.points", "finite"),
    ("nan gamma", edit("gamma = 2.0", "gamma = nan"), "gamma", "positive"),
    ("shares off", edit("share = 0.5", "share = 0.4"), "types[*].share", "off by -0.1"),
    ("zero share", edit("share = 0.5", "share = 0.0"), "types[0].share", "positive"),
    ("prob off", edit("prob = [1.0]", "prob = [0.9]"), "prob", "off by -0.1"),
    ("prob string", edit("prob = [1.0]", 'prob = ["1"]'), "prob", "number"),
    ("R wrong length", edit("R = [1.0]", "R = [1.0, 1.0]"), "R", "one storage return per state"),
    ("beta string", edit("beta = 1.0", 'beta = "1"'), "beta", "must be a number"),
    ("beta above 1", edit("beta = 1.0", "beta = 1.5"), "beta", "(0, 1]"),
    ("beta zero", edit("beta = 1.0", "beta = 0.0"), "beta", "(0, 1]"),
    ("gamma zero", edit("gamma = 2.0", "gamma = 0.0"), "gamma", "positive"),
    ("gamma negative", edit("gamma = 2.0", "gamma = -1"), "gamma", "positive"),
    ("gamma bool", edit("gamma = 2.0", "gamma = true"), "gamma", "number"),
    ("grid n zero", edit("n = 11", "n = 0"), "grid.k.n", "integer >= 2"),
    ("grid n negative", edit("n = 11", "n = -5"), "grid.k.n", "integer >= 2"),
    ("grid n float", edit("n = 11", "n = 11.0"), "grid.k.n", "integer >= 2"),
    ("grid min string", edit("min = 0.6", 'min = "0.6"'), "grid.z.min", "number"),
    ("unsorted points", edit("k = { min = 0.0, max = 2.5, n = 11 }", "k = { points = [0.0, 1.0, 0.5] }"),
     "grid.k.points", "increasing"),
    ("c max below endowment", edit("c = { n = 41 }", "c = { max = 2.0, n = 41 }"), "grid.c", "endowment"),
    # issue 14: a linear grid from zero put u(0) = -inf into the LP (a traceback, exit 1)
    ("c linear from zero", edit("c = { n = 41 }", 'c = { min = 0.0, max = 5.0, n = 101, spacing = "linear" }'),
     "grid.c", "min must be > 0, got 0 (utility at c = 0 is -inf for CRRA gamma = 2 >= 1)"),
    ("c points from zero", edit("c = { n = 41 }", "c = { points = [0.0, 1.0, 3.0] }"), "grid.c",
     "points must be > 0"),
    ("c from zero, gamma < 1", lambda t: edit("gamma = 2.0", "gamma = 0.5")(
        edit("c = { n = 41 }", 'c = { min = 0.0, max = 5.0, n = 11, spacing = "linear" }')(t)), "grid.c",
     "defined for c > 0 only"),
    ("c negative, one good", edit("c = { n = 41 }", 'c = [{ n = 41 }, { min = -1.0, max = 5.0, n = 11, spacing = "linear" }]'),
     "grid.c[1]", "consumption cannot be negative"),
    ("z excludes no-trade", edit("max = 1.0, n = 9", "max = 0.9, n = 9"), "grid.z", "no-trade"),
    ("k negative", edit("min = 0.0, max = 2.5", "min = -1.0, max = 2.5"), "grid.k", "negative"),
    ("grid min >= max", edit("min = -1.0, max = 1.0", "min = 1.0, max = -1.0"), "grid.a", "min < max"),
    ("z wrong count", edit("z = { min = 0.6, max = 1.0, n = 9 }", "z = [{ n = 5 }, { n = 5 }]"), "grid.z",
     "array of 1"),
    ("weights length", edit('weights = "negishi"', "weights = [1.0]"), "solve.weights", "one Pareto weight per type (2)"),
    ("weights negative", edit('weights = "negishi"', "weights = [1.0, -1.0]"), "solve.weights", "positive"),
    ("weights word", edit('weights = "negishi"', 'weights = "equal"'), "solve.weights", "negishi"),
    ("unknown economy", edit('economy = "collateral"', 'economy = "colateral"'), "economy",
     "did you mean 'collateral'"),
    ("other economy", edit('economy = "collateral"', 'economy = "diamond-dybvig"'), "economy",
     "supported: 'collateral'"),
    ("unknown concept", edit('"segregated"]', '"segragated"]'), "solve.concepts", "did you mean 'segregated'"),
    ("concepts string", edit('concepts = ["externality", "segregated"]', 'concepts = "segregated"'),
     "solve.concepts", "array"),
    ("unknown backend", edit('backend = "highs"', 'backend = "gurobi"'), "solve.backend", "'highs', 'cvxpy'"),
    ("types not tables", lambda t: t.replace("[[types]]\nshare = 0.5\nendowment = [[3, 3], [1, 1]]\n", "")
     .replace("[[types]]\nshare = 0.5\nendowment = [[1, 1], [3, 3]]\n", "").replace('R = [1.0]', 'R = [1.0]\ntypes = [1, 2]'),
     "types", "[[types]]"),
]


@pytest.mark.parametrize("transform,field,phrase", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input(tmp_path, transform, field, phrase):
    path = write(tmp_path, transform(BASE))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert err.field == field, str(err)
    assert str(err).startswith(f"{field}: "), str(err)
    assert phrase in err.message, err.message
    assert "\n" not in str(err)


def test_malformed_toml(tmp_path):
    path = write(tmp_path, BASE.replace("beta = 1.0", "beta = "))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == str(path)
    assert "line 3" in info.value.message and "column" in info.value.message
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.toml")
    assert info.value.field == str(tmp_path / "nope.toml")
    assert "no such file" in info.value.message


def test_spec_errors_are_segex_errors():
    with pytest.raises(SegexError):
        parse_spec({"economy": "collateral"})
    with pytest.raises(SpecError) as info:
        parse_spec([1, 2])
    assert info.value.field == "<string>"


def test_unknown_key_without_close_match_lists_allowed(tmp_path):
    path = write(tmp_path, BASE.replace('name = "test env 1"', 'colour = "blue"'))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == "colour"
    assert "allowed keys here" in info.value.message and "economy" in info.value.message


def test_env3_shares_written_as_decimals_sum_to_one():
    spec = load_spec(GRIDS / "kt_env3.toml")
    assert abs(spec.economy.share.sum() - 1.0) < 1e-8
    np.testing.assert_allclose(spec.economy.share, 1 / 3, rtol=1e-12)


def test_solve_method():
    base = {"economy": "collateral", "types": [{"share": 1.0, "endowment": [[1, 1], [1, 1]]}]}
    assert parse_spec(base).solve.method == "grid"
    assert parse_spec({**base, "solve": {"method": "colgen"}}).solve.method == "colgen"
    with pytest.raises(SpecError) as e:
        parse_spec({**base, "solve": {"method": "colgn"}})
    assert e.value.field == "solve.method" and "colgen" in str(e.value)


TOL_BASE = {"economy": "collateral", "types": [{"share": 1.0, "endowment": [[1, 1], [1, 1]]}]}


@pytest.mark.parametrize("tol", [0, -1e-3, 1.5, "tight", float("nan")])
def test_solve_tol_must_be_a_number_in_0_1(tol):
    base = TOL_BASE
    with pytest.raises(SpecError) as e:
        parse_spec({**base, "solve": {"tol": tol}})
    assert e.value.field == "solve.tol" and "1e-4" in str(e.value)


def test_solve_tol_parsed():
    base = TOL_BASE
    assert parse_spec(base).solve.tol is None
    assert parse_spec({**base, "solve": {"tol": 1e-4}}).solve.tol == 1e-4
