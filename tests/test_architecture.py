"""The import graph goes one way: datasets -> items <- codecs; the latent datasets sit on top
of the public API like the CLI, and nothing in the package imports them.

Every import statement of the package is read (function-level ones included, since the lazy
imports are where back-edges hide) and resolved to an ``omnicodec`` module.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "omnicodec"

# layer -> the omnicodec packages and modules it must never import
FORBIDDEN = {
    "items": {"codecs", "datasets", "models", "api", "container", "entropy", "cli", "registry"},
    "errors": {"codecs", "datasets", "models", "api", "items", "container", "entropy", "cli"},
    "limits": {"codecs", "datasets", "models", "api", "container", "entropy", "cli"},
    "container": {"codecs", "datasets", "models", "api", "entropy", "cli", "registry"},
    "entropy": {"codecs", "datasets", "models", "api", "container", "cli", "registry"},
    "datasets": {"codecs", "models", "api", "cli", "registry"},
    "metrics": {"codecs", "models", "api", "cli"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(source: str, package: str) -> set[str]:
    """The omnicodec modules that ``source``, a module of ``package``, imports (as dotted names
    below ``omnicodec``; a ``from X import name`` also counts as importing ``X.name``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t[len("omnicodec."):] for t in targets if t.startswith("omnicodec.")}
    return found


# modules that sit on top of the public API, as the CLI does (only the CLI imports them): the
# latent datasets, the tree archiver, codec bench, codec grep and the zarr codecs encode and decode through
# omnicodec.api
ON_TOP = {"datasets/latents.py": "latents", "archive.py": "archive", "bench.py": "bench", "arrays.py": "arrays",
          "grep.py": "grep"}
FORBIDDEN["latents"] = {"cli"}
FORBIDDEN["archive"] = {"cli"}
FORBIDDEN["bench"] = {"cli"}
FORBIDDEN["arrays"] = {"cli"}
FORBIDDEN["grep"] = {"cli"}


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return ON_TOP.get(rel.as_posix(), rel.with_suffix("").parts[0])


def test_imports_go_one_way():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target in imports_of(path.read_text(), package):
            owner = next((layer for file, layer in ON_TOP.items()
                          if (m := _module_name(PACKAGE / file)[len("omnicodec."):]) == target
                          or target.startswith(m + ".")), None)  # the on-top module imported, if any
            on_top = owner is not None and layer_of(path) not in ("cli", owner)
            if target.split(".")[0] in FORBIDDEN.get(layer_of(path), ()) or on_top:
                bad.append(f"{path.relative_to(PACKAGE)} imports omnicodec.{target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from ..codecs.base import Codec", {"codecs.base", "codecs.base.Codec"}),
    ("from . import items", {"datasets", "datasets.items"}),
    ("def f():\n    import omnicodec.codecs.png", {"codecs.png"}),
])
def test_import_reader_sees_every_form(source, expected):
    """The checker above finds relative, package-relative and function-level imports."""
    assert imports_of(source, "omnicodec.datasets") == expected
