"""unnas: unsupervised neural architecture search experiments (DARTS space, pretext objectives, rank studies)."""

__version__ = "0.1.0"
