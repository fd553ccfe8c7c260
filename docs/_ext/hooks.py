"""mkdocs hooks: the pages that are generated from the code, so they cannot drift.

* ``<!-- segex:cli -->`` (docs/cli.md) becomes the command-line reference, rendered from
  the argparse parser ``segex solve`` itself uses (``segex.cli.parser()``): usage, every
  argument with its metavar, choices and help, and the verbatim ``--help`` of each command;
* ``<!-- segex:economies -->`` becomes the table of registered economies and their concepts
  (``segex.registry.economies()``);
* the figures the examples write (``examples/*.png``) are added to the site as
  ``figures/<name>.png``, so pages show the committed files themselves.

The repository root is put first on ``sys.path``, so the segex documented is this
checkout's, not an installed copy.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))

#: Width of the verbatim --help blocks (argparse reads $COLUMNS).
HELP_COLUMNS = 96


def on_files(files, config):
    """Add ``examples/*.png`` as ``figures/*.png``."""
    from mkdocs.structure.files import File

    for png in sorted((ROOT / "examples").glob("*.png")):
        files.append(File.generated(config, f"figures/{png.name}", abs_src_path=str(png)))
    return files


def on_page_markdown(markdown, page, config, files):
    if "<!-- segex:cli -->" in markdown:
        markdown = markdown.replace("<!-- segex:cli -->", cli_reference())
    if "<!-- segex:economies -->" in markdown:
        markdown = markdown.replace("<!-- segex:economies -->", economies_table())
    return markdown


# ---------------------------------------------------------------------------------------- CLI
def _subcommands(parser: argparse.ArgumentParser):
    """(name, one-line help, parser) of each subcommand, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _help_text(parser: argparse.ArgumentParser, kind: str) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_COLUMNS)
    try:
        return parser.format_help() if kind == "help" else parser.format_usage()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _argument(action: argparse.Action) -> str:
    """``--backend {highs,cvxpy}``, ``--concept NAME [NAME ...]``, ``FILE``."""
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    meta = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices else action.dest.upper())
    if action.choices and action.metavar is None:
        meta = "{" + ",".join(map(str, action.choices)) + "}"
    more = f" {meta} [{meta} ...]" if action.nargs == "+" else f" {meta}"
    return f"`{names}{more}`".replace("|", "\\|")


def _details(action: argparse.Action) -> str:
    parts = [_cell(action.help or "")]
    if parts[0] and parts[0][-1] not in ".)":
        parts[0] += "."
    if action.choices:
        parts.append("Choices: " + ", ".join(f"`{c}`" for c in action.choices) + ".")
    if action.required and action.option_strings:
        parts.append("Required.")
    if isinstance(action, argparse._AppendAction) or isinstance(action, argparse._ExtendAction):
        parts.append("May be repeated.")
    return " ".join(p for p in parts if p)


def cli_reference() -> str:
    """The command-line reference as Markdown (module docstring)."""
    from segex.cli import parser as segex_parser

    parser = segex_parser()
    out = ["```text", _help_text(parser, "help").rstrip(), "```", ""]
    for name, summary, sub in _subcommands(parser):
        out += [f"## `segex {name}`", "", f"{_cell(sub.description or summary)}", "",
                "```text", _help_text(sub, "usage").strip(), "```", "",
                "| argument | what it does |", "|---|---|"]
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            out.append(f"| {_argument(action)} | {_details(action)} |")
        out += ["", f'??? note "`segex {name} --help`, verbatim"', "", "    ```text",
                *("    " + line if line else "" for line in _help_text(sub, "help").rstrip().split("\n")),
                "    ```", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------- economies
def economies_table() -> str:
    """Every registered economy: TOML name, what it is, its concepts, its example file."""
    from segex.registry import economies

    out = ["| `economy =` | what | concepts (JSON keys) | example grid file |", "|---|---|---|---|"]
    for name, econ in economies().items():
        concepts = "<br>".join(f"`{c.name}`: {_cell(c.summary)}" for c in econ.concepts)
        out.append(f"| `{name}` | {_cell(econ.summary)} | {concepts} | `{econ.example}` |")
    return "\n".join(out)
