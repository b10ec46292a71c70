"""The benchmark of issue 6 (``make bench``): see tests/bench/README.md."""
