#!/usr/bin/env python3
"""Execute a Jupyter notebook headless and save the executed copy.

Usage: python notebooks/run_notebook.py NOTEBOOK.ipynb OUT.ipynb

The notebook runs in a `python3` kernel started from the current working directory (so relative
paths in its inputs resolve as in the shell); the kernel inherits this process's environment,
which is how the notebook gets its inputs (e.g. CLAP_CAPTIONS, CLAP_CLIPS, CLAP_PLOTS_DIR).
Each cell may run for at most 600 s. The executed copy is written to OUT.ipynb even when a
cell fails; the exit status is then 1 and the failing cell's error is printed on stderr.
"""
import argparse
import os
import re
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

CELL_TIMEOUT_S = 600
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def failing_cell(nb):
    """Index (0-based among all cells) and source of the first code cell with an error output."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i, cell.source
    return None, None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Execute a notebook headless with nbclient.")
    ap.add_argument("notebook", help="notebook to execute")
    ap.add_argument("output", help="where to write the executed copy")
    args = ap.parse_args(argv)

    nb = nbformat.read(args.notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": os.getcwd()}},
    )
    status = 0
    try:
        client.execute()
    except CellExecutionError as e:
        index, _ = failing_cell(nb)
        where = f"cell {index} (0-based, markdown cells counted)" if index is not None else "a cell"
        print(f"error: {args.notebook}: {where} failed: {e.ename}: {e.evalue}\n", file=sys.stderr)
        print(ANSI_ESCAPE.sub("", str(e)), file=sys.stderr)
        status = 1
    except (CellTimeoutError, DeadKernelError) as e:
        print(f"error: {args.notebook}: {type(e).__name__}: {e}", file=sys.stderr)
        status = 1
    finally:
        out_dir = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(out_dir, exist_ok=True)
        nbformat.write(nb, args.output)
    if status == 0:
        print(f"executed {args.notebook} -> {args.output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
