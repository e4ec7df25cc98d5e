"""The house rules of docs/architecture.md, checked on the source: the store is the contract between
the LLM side and the trainer, SQL lives in store/, and no module grows past 400 lines."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("semacdr_cli", "trainer")
LLM_LIBRARIES = ("transformers", "vllm", "openai", "xgrammar", "sentence_transformers", "gguf", "accelerate")
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b",
    re.IGNORECASE | re.DOTALL,
)


def modules(*packages):
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def string_constants(path: Path) -> list[tuple[int, str]]:
    return [
        (n.lineno, n.value)
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def test_the_trainer_imports_no_llm_library_and_nothing_of_the_llm_side():
    bad = []
    for path in modules("trainer"):
        for name in imports(path):
            root = name.split(".")[0]
            if root in LLM_LIBRARIES or name.startswith("semacdr_cli.llm"):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad


def test_the_cli_reaches_the_trainer_only_through_its_api():
    bad = []
    for path in modules("semacdr_cli"):
        for name in imports(path):
            if (
                name.startswith("trainer")
                and name not in ("trainer", "trainer.api")
                and not name.startswith("trainer.api.")
            ):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad


def test_only_the_store_package_holds_sql():
    bad = []
    for path in modules(*PACKAGES, "bench"):
        if path.parent.name == "store" and path.parent.parent.name == "semacdr_cli":
            continue
        for line, text in string_constants(path):
            if SQL.search(text):
                bad.append(f"{path.relative_to(ROOT)}:{line}")
    assert not bad, bad


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules(*PACKAGES)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


def test_the_sql_rule_catches_a_query_outside_the_store(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('q = "SELECT id FROM runs WHERE id = ?"\nwords = "select the best update"\n')
    hits = [line for line, text in string_constants(probe) if SQL.search(text)]
    assert hits == [1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages) -> dict[str, set[str]]:
    """module -> the modules of ``packages`` it imports (anywhere in the file; ``from P import m`` counts
    as importing the module P.m when there is one, else P)."""
    paths = {module_name(p) if root == ROOT else ".".join(p.relative_to(root).with_suffix("").parts): p
             for pk in packages for p in sorted((root / pk).rglob("*.py"))}  # fmt: skip
    paths = {k.removesuffix(".__init__"): v for k, v in paths.items()}
    graph = {}
    for name, path in paths.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name in paths}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    out |= {full} if full in paths else ({node.module} if node.module in paths else set())
        graph[name] = out - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_anywhere_in_the_packages():
    assert circles(import_graph(ROOT, PACKAGES)) == []


def test_the_circle_check_finds_a_circle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    assert circles(import_graph(tmp_path, ["pkg"])) == [["pkg.a", "pkg.b"]]


def test_the_repository_speaks_of_dates_and_commits_not_of_how_the_work_was_organised():
    import subprocess

    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    pattern = re.compile(r"\bsessions?[ -]\d", re.IGNORECASE)
    bad = []
    for name in files:
        if name.startswith("tests/fixtures/") or not name.endswith(
            (".py", ".md", ".json", ".toml", ".txt", ".sh")
        ):
            continue
        if not (ROOT / name).is_file():  # deleted in the working tree
            continue
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        bad += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}" for m in pattern.finditer(text)]
    assert not bad, bad
