"""Evaluation: metric feature extractors, pure metric functions, and the `omni test` report.

Each metric is a pure function over features (`frechet.py`, `hands.py`, the offset search in
`syncnet.py`) beside the network that extracts those features, whose weights file is an explicit
option. A metric whose weights are absent is reported as unavailable, never replaced by a proxy.
"""
