"""The lab is the simulated world for the demo and the tests: production code never reaches it.

``apps.lab`` may use the production apps (it speaks their protocols and seeds their tables),
never the reverse. This walks every module under ``apps/`` except ``apps/lab`` and the
``heatsite`` project package, and fails on any import of ``apps.lab`` (at module level, inside a
function or under ``TYPE_CHECKING``) and on any dotted ``apps.lab`` path in a string (a lazy
``import_module`` or a ``mock.patch`` target). Settings list ``apps.lab`` in ``INSTALLED_APPS``
so its management commands exist; that string is the one allowed.

The other direction, lab code left inside a production app, fails too: a production module or
command named ``lab`` / ``lab_*`` (it belongs in ``apps/lab``, commands in
``apps/lab/management/commands``), and a production module that ``apps.lab`` imports but no
production module imports or names (it is lab code, whatever its name).
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


def _is_dotted_path(value: object, under: str) -> bool:
    return (
        isinstance(value, str)
        and (value == under or value.startswith(under + "."))
        and value.replace("_", "x").replace(".", "").isalnum()
    )


def _is_dotted_lab_path(value: object) -> bool:
    return _is_dotted_path(value, LAB)


def _from_target(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def lab_references(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, what) for every import of, or dotted string naming, ``apps.lab`` in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_lab(a.name)]
        elif isinstance(node, ast.ImportFrom):
            target = _from_target(node, package)
            names = [target] + [f"{target}.{a.name}" for a in node.names]
            if any(_is_lab(n) for n in names):
                found.append((node.lineno, target))
        elif isinstance(node, ast.Constant) and _is_dotted_lab_path(node.value):
            found.append((node.lineno, node.value))
    return found


def referenced_names(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every dotted name ``source`` imports (``from a import b`` gives ``a.b``) or names in a
    string starting with ``apps.`` (a Celery task path, a ``mock.patch`` target), each with its
    prefixes: importing ``a.b.c`` imports the packages ``a.b`` and ``a``."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = _from_target(node, package)
            names |= {target} | {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Constant) and _is_dotted_path(node.value, "apps"):
            names.add(node.value)
    return {prefix for name in names for prefix in _prefixes(name)}


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def lab_only_modules(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Production modules ``apps.lab`` uses that no production module imports or names.

    ``sources`` maps every module under ``apps/`` and ``heatsite/`` (the lab's included) to
    ``(source, is_package)``.
    """
    used_by_lab: set[str] = set()
    used_by_production: set[str] = set()
    for module, (source, is_package) in sources.items():
        names = referenced_names(source, module, is_package) - {module}
        (used_by_lab if _is_lab(module) else used_by_production).update(names)
    return sorted(m for m in sources if not _is_lab(m) and m in used_by_lab - used_by_production)


def is_named_for_the_lab(rel: str) -> bool:
    """True if the module in ``rel`` (a repository path) or a folder on the way is ``lab*``:
    ``lab`` or ``lab_...``, not ``labels``."""
    parts = Path(rel).with_suffix("").parts[1:]
    return any(part == "lab" or part.startswith("lab_") for part in parts)


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


def test_no_production_module_or_command_is_named_for_the_lab():
    offenders = [
        p.relative_to(ROOT).as_posix()
        for p in production_modules()
        if is_named_for_the_lab(p.relative_to(ROOT).as_posix())
    ]
    assert offenders == [], (
        "lab code inside a production app (move it to apps/lab/, management commands to "
        "apps/lab/management/commands/):\n" + "\n".join(offenders)
    )


def test_no_production_module_is_used_only_by_the_lab():
    paths = [*(ROOT / "apps").rglob("*.py"), *(ROOT / "heatsite").rglob("*.py")]
    sources = {_module(p): (p.read_text(), p.name == "__init__.py") for p in paths}
    offenders = lab_only_modules(sources)
    assert offenders == [], (
        "imported by apps.lab but by no production module: lab code, move it into apps/lab/:\n"
        + "\n".join(offenders)
    )


def test_lab_code_in_a_production_app_is_recognised():
    assert is_named_for_the_lab("apps/attestation/lab_tpm.py")
    assert is_named_for_the_lab("apps/attestation/management/commands/lab_control.py")
    assert is_named_for_the_lab("apps/heat/lab.py")
    assert is_named_for_the_lab("apps/heat/lab/__init__.py")
    assert not is_named_for_the_lab("apps/hardware/labels.py")
    assert not is_named_for_the_lab("apps/heat/collab_lab.py")

    sources = {
        "apps.attestation": ("", True),
        "apps.attestation.lab_tpm": ("", False),
        "apps.attestation.predict": ("", False),
        "apps.attestation.ports": ("", False),
        "apps.attestation.tasks": ("", False),
        "apps.attestation.services": ("from .predict import predict", False),
        "heatsite.settings": ('BEAT = {"sweep": "apps.attestation.tasks.sweep"}', False),
        "apps.attestation.verifier": (
            "from apps.attestation import ports\nfrom apps.attestation.tcg.tpm2tools import q",
            False,
        ),
        "apps.attestation.tcg": ("", True),
        "apps.attestation.tcg.tpm2tools": ("", False),
        "apps.lab.tpm.node": (
            "from apps.attestation import lab_tpm, ports\n"
            "from apps.attestation.tcg import tpm2tools\n"
            "from apps.attestation.predict import predict\n"
            "from apps.attestation.tasks import sweep",
            False,
        ),
    }
    assert lab_only_modules(sources) == ["apps.attestation.lab_tpm"]
