"""The lab is the simulated world for the demo and the tests: production code never reaches it.

``apps.lab`` may use the production apps (it speaks their protocols and seeds their tables),
never the reverse. This walks every module under ``apps/`` except ``apps/lab`` and the
``heatsite`` project package, and fails on any import of ``apps.lab`` (at module level, inside a
function or under ``TYPE_CHECKING``) and on any dotted ``apps.lab`` path in a string (a lazy
``import_module`` or a ``mock.patch`` target). Settings list ``apps.lab`` in ``INSTALLED_APPS``
so its management commands exist; that string is the one allowed.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = "apps.lab"
ALLOWED_STRINGS = {("heatsite/settings.py", "apps.lab")}  # INSTALLED_APPS


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_lab(name: str) -> bool:
    return name == LAB or name.startswith(LAB + ".")


def _is_dotted_lab_path(value: object) -> bool:
    return (
        isinstance(value, str)
        and _is_lab(value)
        and value.replace("_", "x").replace(".", "").isalnum()
    )


def lab_references(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, what) for every import of, or dotted string naming, ``apps.lab`` in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_lab(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
            if any(_is_lab(n) for n in names):
                found.append((node.lineno, target))
        elif isinstance(node, ast.Constant) and _is_dotted_lab_path(node.value):
            found.append((node.lineno, node.value))
    return found


def production_modules() -> list[Path]:
    paths = [*(ROOT / "apps").rglob("*.py"), *(ROOT / "heatsite").rglob("*.py")]
    return sorted(p for p in paths if not p.relative_to(ROOT).as_posix().startswith("apps/lab/"))


def test_no_production_module_imports_the_lab():
    offenders = []
    for path in production_modules():
        rel = path.relative_to(ROOT).as_posix()
        refs = lab_references(path.read_text(), _module(path), path.name == "__init__.py")
        offenders += [
            f"{rel}:{line}: {what}" for line, what in refs if (rel, what) not in ALLOWED_STRINGS
        ]
    assert offenders == [], "production code reaches into apps.lab:\n" + "\n".join(offenders)


def test_the_walk_covers_the_production_apps_and_skips_the_lab():
    names = {p.relative_to(ROOT).as_posix() for p in production_modules()}
    assert "apps/attestation/services.py" in names and "heatsite/settings.py" in names
    assert not any(n.startswith("apps/lab/") for n in names)


def test_every_way_of_reaching_the_lab_is_caught():
    source = """
import apps.lab.tpm.node
from apps.lab.tpm.seed import seed_lab_nodes
from apps import lab
from ..lab.meters import resume

def later():
    from apps.lab.bmc import node

patch_target = "apps.lab.tpm.node.LAB_PROFILE"
doc = "the lab's meters resume (see apps.lab.meters.resume in the docs)"
from apps.laboratory import x
"""
    found = lab_references(source, "apps.attestation.services")
    assert [line for line, _ in found] == [2, 3, 4, 5, 8, 10]
