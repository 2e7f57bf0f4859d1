"""forsun's benchmarks: ``uv run python -m bench [--quick] [--huge] [--compare H:TP:HP]``
(or ``nox -s bench``) from the repository root.

Every scenario runs against a real ``forsund`` that the bench starts, and every throughput
figure is written next to a baseline measured in the same run, so that a noisy machine
still gives figures that compare. Results: ``bench/results/latest.md`` and ``latest.json``
(or ``--out DIR``). README.md explains each scenario, its baseline and how to read the
table.
"""
