"""omni: an open, trainable OmniHuman-1 (reference image + text/audio/pose to human video)."""

__version__ = "0.1.0"
