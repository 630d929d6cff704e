"""Benchmarks behind `bank-pipeline bench ...`: each prints our figures next to a baseline measured in the
same run, against the same server, and their ratio."""
