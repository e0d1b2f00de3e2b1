"""Generation: reference + audio / pose / text -> video (`omni generate`, `OmniPipeline`).

inputs (reference, driving audio and pose brought to the output grid), segments (long videos
chained by motion frames), drift (per-segment colour and similarity to the reference), batch
(jobs CSV), pipeline (`OmniPipeline`, `GenerationResult`, `save_video`), cli (`omni generate`).
"""
