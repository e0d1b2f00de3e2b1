"""Provenance for generated videos: invisible watermark, metadata record, C2PA, verification."""
