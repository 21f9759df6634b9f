"""vidbokeh: depth-aware portrait bokeh for webcam streams, video files and photos."""
__version__ = "0.1.0"
