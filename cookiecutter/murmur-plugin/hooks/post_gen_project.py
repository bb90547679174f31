"""Keep only the files of the chosen kind."""

from pathlib import Path

KIND = "{{ cookiecutter.__kind }}"
MODULE = Path("src") / "{{ cookiecutter.module_name }}"
KINDS = ("transport", "store", "emitter", "context", "tools", "command")

for kind in KINDS:
    if kind != KIND:
        (MODULE / f"_{kind}.py").unlink()
        (Path("tests") / f"test_{kind}.py").unlink()
