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
