"""The published report: one notebook assembled from the run, rendered by Quarto or nbconvert.

1. ``report/summary.ipynb`` (the JDL-style summary, our further analyses and the methodology,
   all filled from ``results.json``) is executed into the run's ``report/`` folder;
2. it is joined with the three executed stage notebooks, as appendices, into
   ``report/report.ipynb`` — figures and tables carry Quarto labels, captions and alt text;
3. **Quarto** (the renderer of record) renders that notebook from the ``_quarto.yml`` written
   beside it: a self-contained HTML file and a PDF through Typst; when Quarto is not installed
   the **nbconvert fallback** renders the same notebook to one self-contained HTML file, turning
   the labels into numbered captions and cross-references, and says which renderer was used.
"""

from __future__ import annotations

import copy
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import papermill as pm
import yaml

from helpers.errors import RunError
from helpers.params import RunParams, project_root

log = logging.getLogger(__name__)

APPENDICES = (("01_ingest", "A"), ("02_match", "B"), ("03_estimate", "C"))
QUARTO_HELP = (
    "Quarto is the renderer of record (HTML and PDF): install it with `conda env create -f "
    "environment.yml` or from https://quarto.org/docs/get-started/, then run again."
)
_OPTION = re.compile(r"^#\|\s*([\w-]+):\s*(.*)$")


@dataclass(frozen=True)
class Rendered:
    """What was rendered, by whom, and where (paths inside the run folder)."""

    renderer: str
    path: Path | None
    files: tuple[Path, ...] = field(default_factory=tuple)


def render_report(run_dir: Path, params: RunParams, renderer: str = "auto") -> Rendered:
    """Build ``report/report.ipynb`` in ``run_dir`` and render it (see the module docstring)."""
    folder = run_dir / "report"
    folder.mkdir(exist_ok=True)
    summary = _execute_summary(run_dir, folder)
    notebook = assemble_report(summary, run_dir / "notebooks", params)
    nbformat.write(notebook, folder / "report.ipynb")
    write_quarto_project(folder, params)
    quarto = shutil.which("quarto")
    if renderer == "quarto" and not quarto:
        raise RunError(f"`renderer: quarto` was asked for, but Quarto is not installed. "
                       f"{QUARTO_HELP} Or set `renderer: nbconvert`.")  # fmt: skip
    if quarto and renderer in ("auto", "quarto"):
        return render_with_quarto(folder, quarto, params.report_formats)
    path = render_with_nbconvert(folder / "report.ipynb", folder / "report.html", params)
    log.info("Rendered with nbconvert (Quarto not found). %s", QUARTO_HELP)
    return Rendered("nbconvert", path, (path,))


def _execute_summary(run_dir: Path, folder: Path) -> Path:
    target = folder / "summary.ipynb"
    try:
        pm.execute_notebook(str(project_root() / "report" / "summary.ipynb"), str(target),
                            parameters={"run_dir": str(run_dir)}, cwd=str(project_root()),
                            progress_bar=False, kernel_name="python3")  # fmt: skip
    except pm.PapermillExecutionError as exc:
        raise RunError(f"the report summary stopped at cell {exc.exec_count} with {exc.ename}: "
                       f"{exc.evalue}. Please report this with {target}.") from None  # fmt: skip
    return target


def title(params: RunParams) -> str:
    return f"Does {params.organisation}'s programme change proven reoffending?"


def assemble_report(summary: Path, notebooks: Path, params: RunParams) -> nbformat.NotebookNode:
    """Summary cells (code never shown), then each stage notebook as an appendix."""
    report = nbformat.v4.new_notebook()
    report.metadata = copy.deepcopy(nbformat.read(summary, as_version=4).metadata)
    front = {"title": title(params), "subtitle": "An open Justice Data Lab analysis",
             "lang": "en-GB"}  # fmt: skip
    report.cells.append(nbformat.v4.new_raw_cell("---\n" + yaml.safe_dump(front, sort_keys=False)
                                                 + "---"))  # fmt: skip
    for cell in _body_cells(summary):
        if cell.cell_type == "code":
            cell.source = "#| echo: false\n" + cell.source
        report.cells.append(cell)
    for name, letter in APPENDICES:
        cells = _body_cells(notebooks / f"{name}.ipynb")
        for cell in cells:
            if cell.cell_type == "markdown" and cell.source.startswith("# "):
                heading = re.sub(r"^# \d+ · ", "", cell.source.splitlines()[0])
                rest = "\n".join(cell.source.splitlines()[1:])
                cell.source = f"# Appendix {letter} · {heading.removeprefix('# ')}\n{rest}"
                break
        report.cells.extend(cells)
    for i, cell in enumerate(report.cells):
        cell["id"] = f"report-{i:03d}"
    return report


def _body_cells(path: Path) -> list:
    """Cells without papermill's parameter cells (the manifest keeps the parameters)."""
    cells = nbformat.read(path, as_version=4).cells
    skip = {"parameters", "injected-parameters"}
    return [copy.deepcopy(c) for c in cells if not skip & set(c.metadata.get("tags", []))]


def quarto_config(params: RunParams) -> dict:
    """``_quarto.yml``: one document, rendered from stored outputs (never re-executed)."""
    formats = {"html": {"embed-resources": True, "toc": True, "toc-depth": 2,
                        "code-fold": True, "code-summary": "Show the code",
                        "fig-cap-location": "bottom", "tbl-cap-location": "top"}}  # fmt: skip
    if "pdf" in params.report_formats:
        formats["typst"] = {"toc": True, "echo": False, "papersize": "a4"}
    return {
        "project": {"type": "default", "render": ["report.ipynb"]},
        "execute": {"enabled": False},
        "format": formats,
    }


def write_quarto_project(folder: Path, params: RunParams) -> Path:
    path = folder / "_quarto.yml"
    path.write_text(yaml.safe_dump(quarto_config(params), sort_keys=False), encoding="utf-8")
    return path


def render_with_quarto(folder: Path, quarto: str, formats: list[str]) -> Rendered:
    done = subprocess.run([quarto, "render"], cwd=folder, capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RunError(f"Quarto could not render the report:\n{tail}\nTry `renderer: nbconvert`"
                       " to get the fallback report.")  # fmt: skip
    files = tuple(p for p in (folder / "report.html", folder / "report.pdf") if p.exists())
    return Rendered("quarto", folder / "report.html", files)


# --- the nbconvert fallback -----------------------------------------------------------------


def render_with_nbconvert(source: Path, target: Path, params: RunParams) -> Path:
    """One self-contained HTML file from the report notebook, without Quarto."""
    from nbconvert import HTMLExporter

    notebook = nbformat.read(source, as_version=4)
    notebook = fallback_notebook(notebook, title(params))
    templates = str(Path(__file__).parent / "report_template")
    exporter = HTMLExporter(
        template_name="jdl", extra_template_basedirs=[templates],
        exclude_input=True, exclude_output_prompt=True, embed_images=True,
    )  # fmt: skip
    html, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title(params)}})
    target.write_text(html, encoding="utf-8")
    return target


def fallback_notebook(notebook: nbformat.NotebookNode, heading: str) -> nbformat.NotebookNode:
    """Quarto's conventions made visible for nbconvert: numbered captions with anchors and alt
    text for labelled figures and tables, resolved ``@fig-``/``@tbl-`` references, appendix code
    folded into <details> blocks, and a note saying which renderer made the file."""
    nb = copy.deepcopy(notebook)
    nb.cells = [c for c in nb.cells if c.cell_type != "raw"]
    numbers = _number_labels(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _resolve_refs(cell.source, numbers)
        elif cell.cell_type == "code":
            _caption(cell, numbers)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(_fallback_note()))
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f'<p style="font-size:2.1em;font-weight:600;margin:1rem 0 0">{heading}</p>\n\n'
        "*An open Justice Data Lab analysis*"))  # fmt: skip
    return nb


def cell_options(source: str) -> dict[str, str]:
    """Quarto's ``#| key: value`` cell options at the top of a code cell."""
    options = {}
    for line in source.splitlines():
        match = _OPTION.match(line)
        if not match:
            break
        options[match.group(1)] = match.group(2).strip().strip('"')
    return options


def _number_labels(nb) -> dict[str, str]:
    counts, numbers = {"fig": 0, "tbl": 0}, {}
    for cell in nb.cells:
        label = cell_options(cell.source).get("label", "") if cell.cell_type == "code" else ""
        kind = label.split("-")[0]
        if kind in counts:
            counts[kind] += 1
            numbers[label] = f"{'Figure' if kind == 'fig' else 'Table'} {counts[kind]}"
    return numbers


def _resolve_refs(text: str, numbers: dict[str, str]) -> str:
    return re.sub(r"@((?:fig|tbl)-[\w-]+)",
                  lambda m: f'<a href="#{m.group(1)}">{numbers.get(m.group(1), m.group(1))}</a>',
                  text)  # fmt: skip


def _caption(cell, numbers: dict[str, str]) -> None:
    options = cell_options(cell.source)
    label = options.get("label", "")
    code = "\n".join(line for line in cell.source.splitlines() if not _OPTION.match(line))
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "text/markdown" in data:
            data["text/markdown"] = _resolve_refs(data["text/markdown"], numbers)
    if label.startswith("fig-"):
        for output in cell.outputs:
            png = output.get("data", {}).pop("image/png", None)
            if png:
                alt = options.get("fig-alt", options.get("fig-cap", ""))
                output["data"] = {"text/html": (
                    f'<figure id="{label}"><img src="data:image/png;base64,{png.strip()}" '
                    f'alt="{alt}" style="max-width:100%"><figcaption><b>{numbers[label]}.</b> '
                    f"{options.get('fig-cap', '')}</figcaption></figure>")}  # fmt: skip
    elif label.startswith("tbl-"):
        cell.outputs.insert(0, nbformat.v4.new_output("display_data", data={"text/html": (
            f'<p id="{label}" class="caption"><b>{numbers[label]}.</b> '
            f"{options.get('tbl-cap', '')}</p>")}))  # fmt: skip
    elif "echo: false" not in cell.source and code.strip():
        cell.outputs.insert(
            0,
            nbformat.v4.new_output(
                "display_data",
                data={
                    "text/html": (
                        "<details><summary>Show the code</summary><pre>"
                        + code.replace("&", "&amp;").replace("<", "&lt;")
                        + "</pre></details>"
                    )
                },
            ),
        )


def _fallback_note() -> str:
    return (
        "> **About this file.** This report was rendered with **nbconvert** because Quarto was "
        f"not found on this machine. {QUARTO_HELP} The content is the same; Quarto adds the PDF."
    )
