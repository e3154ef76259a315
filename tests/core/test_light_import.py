import subprocess
import sys


def test_import_rsgpt4v_is_light():
    code = (
        "import sys, rsgpt4v, rsgpt4v.schema, rsgpt4v.boxes, rsgpt4v.prompts; "
        "heavy = [m for m in ('torch', 'datasets', 'transformers', 'peft', 'gradio') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_load_is_resolved_lazily():
    code = "import sys, rsgpt4v; f = rsgpt4v.load; print(f.__module__, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["rsgpt4v.data", "False"]
