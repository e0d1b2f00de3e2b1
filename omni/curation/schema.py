"""Registers every column the curation steps write (import before writing a curated manifest).

Each step declares its columns beside its code; this module only imports them all, so a step
that carries earlier steps' columns through can write them. docs/manifest.md lists them.
"""

from omni.curation import cache, caption, probe, scorers, split  # noqa: F401  (registration side effects)
