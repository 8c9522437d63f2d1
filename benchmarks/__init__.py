"""Benchmarks of iac-mcp: overhead, token economy, concurrency, scale and start-up.

Run them all with `python -m benchmarks` (add `--quick` for a short pass). Not part of the
test run: they measure, they do not assert. Each prints a table and writes it as Markdown
into `benchmarks/results/`.
"""
