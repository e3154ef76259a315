from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parents[1]


def test_test_modules_have_unique_basenames():
    """pytest imports test modules by basename (no __init__.py): two with one name break collection."""
    names = Counter(p.name for p in TESTS.rglob("*.py") if "data" not in p.relative_to(TESTS).parts)
    names.pop("conftest.py", None)
    assert [n for n, c in names.items() if c > 1] == []
