"""The import rule of docs/architecture.md's map: the pure core (records, validation,
sessions, clusters, learning, policy, shards, snapshots, evaluate) imports no Kafka client,
no RocksDB and no part of the worker; of Faust only the records of stream/models.py do."""

import ast
from pathlib import Path

import pytest

STREAM = Path(__file__).parents[2] / "stream"
CORE = ["models.py", "validation.py", "sessions.py", "clusters.py", "cluster_suggest.py",
        "policy.py", "shard.py", "snapshots.py", "evaluate.py", "config.py", "progress.py",
        *(f"learning/{p.name}" for p in sorted((STREAM / "learning").glob("*.py")))]
CORE_MODULES = {"stream." + name[:-3].replace("/", ".") for name in CORE} | {"stream.learning"}
FORBIDDEN = ("kafka", "aiokafka", "rocksdict", "mode", "faust")
FAUST_ALLOWED = {"models.py"}  # the records are faust.Record, for the topics' serializers


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
