"""``python tests/bench`` runs the benchmark (same as ``python tests/bench/run.py``)."""
import runpy
import sys
from pathlib import Path

sys.argv[0] = str(Path(__file__).with_name("run.py"))
runpy.run_path(sys.argv[0], run_name="__main__")
