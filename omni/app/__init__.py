"""`omni app`: a local web app (Gradio) for generation and for browsing results.

Three tabs: Generate (through `omni.generate.pipeline.OmniPipeline`), Curation (a manifest's
histograms, thumbnails, filters and per-clip playback) and Evaluation (an `omni test` result
directory's metrics, plots and side-by-side videos). The views are plain functions in
`curation_view` and `evaluation_view`; `ui` wires them to Gradio; `cli` starts the server.
"""
