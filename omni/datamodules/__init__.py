"""Manifest Parquet files -> seeded, bucketed training batches with omni-condition dropout."""

from omni.datamodules.conditions import (
    CONDITIONS,
    ConditionRatios,
    GuidanceDrop,
    effective_rates,
)

__all__ = ["CONDITIONS", "ConditionRatios", "GuidanceDrop", "effective_rates"]
