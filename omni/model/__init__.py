"""The network and its maths as plain `nn.Module`s and functions (no Lightning here).

presets (MMDiTConfig, PRESETS), flow (path, timestep sampling), conditions (Conditions),
mmdit (OmniMMDiT), sampler (Euler/Heun with multi-condition CFG), adapters (audio, text, vae),
omni_model (OmniModel bundle with save/load), convert (importers, export).
"""
