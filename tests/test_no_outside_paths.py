"""Nothing the suite, the benchmarks, the Makefile or the scripts run reads a path outside the
repository: a fresh clone, alone, must pass. The only way out is the HEATSITE_VECTORS variable
(tests/vectors.py), which .ci/run points at the public vectors beside the repository.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED_DIRS = ("tests", "benchmarks", ".ci")
SCANNED_FILES = ("Makefile", "conftest.py", "manage.py", "pyproject.toml")
SKIPPED_DIRS = {"__pycache__", ".venv", ".git", "node_modules", "var"}
# What .ci/run may say: it is where the vectors beside the repository are found.
ALLOWED = {
    ".ci/run": [r"\.\./shared/testdata\b", r"\$\(dirname \"\$0\"\)/\.\.(?=\")"],
    # a traversal name the image store must refuse as a digest (never opened)
    "tests/gateways/test_image_store.py": [r'store_pin\(tmp_path, "\.\./\.\./etc/passwd"\)'],
}

UP = r"\.\.[/\\]"  # a parent-relative path segment
FORBIDDEN = [
    (re.compile(UP), "parent-relative path"),
    (re.compile(r"""(["'])\.\.\1"""), "parent directory as a path component"),
    (re.compile("HEATSITE_" + "SHARED"), "the old variable (use HEATSITE_VECTORS)"),
    (re.compile(r"""/\s*["']shared\b|["']shared[/\\]|\bshared/testdata"""), "a shared/ folder"),
    (re.compile(r"(?<![\w.])/work/"), "an absolute path of this machine"),
    (
        re.compile(r"\b(?:REPO|ROOT|REPO_ROOT|BASE_DIR|PROJECT_ROOT)(?:\.resolve\(\))?\.parent\b"),
        "the parent of the repository root",
    ),
]
_CLIMB = re.compile(
    r"Path\(__file__\)((?:\.(?:resolve|absolute)\(\)|\.parent\b(?!s)|\.parents\[\d+\])*)"
)
_DIRNAMES = re.compile(
    r"((?:os\.path\.)?dirname\(\s*)+(?:os\.path\.(?:abspath|realpath)\(\s*)?__file__"
)
_CD_SUBDIR = re.compile(r"\bcd\s+(?!/|\.\.)([\w.][\w./-]*)\s*&&")


def scanned_files() -> list[Path]:
    files = [REPO / name for name in SCANNED_FILES if (REPO / name).is_file()]
    for top in SCANNED_DIRS:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and not SKIPPED_DIRS & set(path.relative_to(REPO).parts):
                files.append(path)
    files += [
        p for p in sorted(REPO.rglob("*.sh")) if not SKIPPED_DIRS & set(p.relative_to(REPO).parts)
    ]
    return sorted(set(files))


def climb_levels(expression: str) -> int:
    """How many directories ``Path(__file__)<expression>`` goes up from the file."""
    levels = 0
    # findall gives "" for .parent and N for .parents[N] (N + 1 levels up)
    for step in re.findall(r"\.parent\b(?!s)|\.parents\[(\d+)\]", expression):
        levels += int(step) + 1 if step else 1
    return levels


def problems(relative: str, text: str) -> list[str]:
    """Each way ``text`` (the file at ``relative`` in the repository) reaches outside it."""
    depth = len(Path(relative).parts)  # levels from the file up to the repository root
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for allowed in ALLOWED.get(relative, ()):
            line = re.sub(allowed, "", line)
        cd = _CD_SUBDIR.search(line)
        if cd:  # "cd sub/dir && ../../x" stays inside when it climbs no higher than it went
            inside = len(Path(cd.group(1)).parts)
            rest = re.sub(rf"(?<![\w.])(?:{UP}){{1,{inside}}}(?!\.\.)", "", line[cd.end() :])
            line = line[: cd.end()] + rest
        for pattern, what in FORBIDDEN:
            if pattern.search(line):
                found.append(f"{relative}:{number}: {what}: {line.strip()}")
        for match in _CLIMB.finditer(line):
            if climb_levels(match.group(1)) > depth:
                found.append(f"{relative}:{number}: climbs above the repository: {line.strip()}")
        for match in _DIRNAMES.finditer(line):
            if match.group(0).count("dirname(") > depth:
                found.append(f"{relative}:{number}: climbs above the repository: {line.strip()}")
    return found


def test_nothing_reads_a_path_outside_the_repository():
    files = scanned_files()
    assert REPO / "Makefile" in files and REPO / ".ci" / "run" in files
    assert REPO / "benchmarks" / "eventlog_fuzz.py" in files
    assert len(files) > 50
    found = []
    for path in files:
        if path == Path(__file__).resolve():
            continue  # the examples below are the very patterns
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary fixtures hold no paths
        found += problems(path.relative_to(REPO).as_posix(), text)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        (
            "tests/attestation/test_x.py",
            "BASE = Path(__file__).resolve().parents[2]" + '.parent / "x"',
        ),
        ("tests/attestation/test_x.py", "BASE = Path(__file__).parent.parent.parent.parent"),
        ("benchmarks/x.py", "ROOT = Path(__file__).resolve().parents[2]"),
        ("tests/x.py", 'VECTORS = REPO.parent / "vectors"'),
        ("tests/x.py", "LOGS = ROOT.resolve().parent"),
        ("tests/x.py", 'data = open("../testdata/eventlogs/expected.json")'),
        ("tests/x.py", 'base = os.path.join(os.path.dirname(__file__), "..", "..", "x")'),
        ("tests/x.py", "base = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))"),
        ("tests/x.py", 'os.environ.get("HEATSITE_' + 'SHARED")'),
        ("tests/x.py", 'ROOT / "shared" / "testdata"'),
        ("tests/x.py", 'Path("/work/" "data")'),
        ("Makefile", "\tpython bench.py --seeds ../corpus"),
        ("Makefile", "\tcd agent && ../../outside/bin/tool"),
        (".ci/run", "export HEATSITE_VECTORS=../other/testdata"),
    ],
)
def test_each_way_out_is_caught(relative, line):
    assert problems(relative, line + "\n")


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        ("tests/attestation/test_x.py", "REPO = Path(__file__).resolve().parents[2]"),
        ("benchmarks/x.py", "ROOT = Path(__file__).resolve().parent.parent"),
        ("benchmarks/x.py", "ROOT = Path(__file__).resolve().parents[1]"),
        ("conftest.py", "ROOT = Path(__file__).parent"),
        ("tests/x.py", "children.append(int(stat.parent.name))"),
        ("tests/x.py", 'VECTORS = os.environ.get("HEATSITE_VECTORS")'),
        ("Makefile", "\tcd agent && ../$(VENV)/bin/pip-compile requirements.in"),
        (".ci/run", "[ -d ../" + 'shared/testdata ] && cd "$(dirname "$0")/.."'),
    ],
)
def test_paths_inside_the_repository_pass(relative, line):
    assert problems(relative, line + "\n") == []
