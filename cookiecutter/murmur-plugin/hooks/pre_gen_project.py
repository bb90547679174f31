"""Refuse a plugin name that cannot be a distribution, a module and an entry-point name."""

import re
import sys

NAME = "{{ cookiecutter.plugin_name }}"

if not re.fullmatch(r"[a-z][a-z0-9]*([_-][a-z0-9]+)*", NAME):
    sys.exit(
        f"ERROR: plugin_name {NAME!r} must be lower-case letters and digits, words joined by "
        "'-' or '_', starting with a letter (for example 'pigeon' or 'carrier-pigeon')"
    )
