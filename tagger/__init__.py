"""tagger: the pipeline wiring and the ``tagger`` CLI (thin shell over the library packages)."""
__version__ = "0.1.0"
