"""Hugging Face Space entry point: the rsgpt4v demo (configured by RSGPT4V_DATA, RSGPT4V_MODEL, RSGPT4V_ADAPTER)."""

from rsgpt4v.demo import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch()
