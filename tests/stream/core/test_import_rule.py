"""The import rule of docs/architecture.md's map: the pure core (stream/core/: records,
validation, sessions, clusters, learning, policy, shards, evaluate) and the settings it reads
(stream/config.py) import no Kafka client, no RocksDB and no part of the worker; of Faust only
the records of stream/core/models.py do."""

import ast
from pathlib import Path

import pytest

STREAM = Path(__file__).parents[3] / "stream"
CORE = ["config.py", *sorted(str(p.relative_to(STREAM)) for p in (STREAM / "core").rglob("*.py"))]
CORE_MODULES = {"stream." + name[:-3].replace("/", ".").removesuffix(".__init__") for name in CORE}
FORBIDDEN = ("kafka", "aiokafka", "rocksdict", "mode", "faust")
FAUST_ALLOWED = {"core/models.py"}  # the records are faust.Record, for the topics' serializers


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("name", CORE)
def test_the_core_imports_only_the_core(name):
    names = imported(STREAM / name)
    forbidden = {n for n in names if n.split(".")[0] in FORBIDDEN
                 and not (name in FAUST_ALLOWED and n == "faust")}
    assert not forbidden, f"stream/{name} imports {sorted(forbidden)}"
    outside = {n for n in names if n.startswith("stream") and n not in CORE_MODULES}
    assert not outside, f"stream/{name} imports the worker or tools: {sorted(outside)}"
