"""Penny's benchmarks: `penny bench` / `python -m benchmarks` (end to end), plus component benchmarks.

corpus.py  the spoken requests (synthesized, cached under benchmarks/.cache/)
e2e.py     voice turns through the real pipeline, streaming vs sequential, at real-time pace
report.py  statistics, the terminal table, JSON, the PNG chart and the README section
"""
