"""Open Justice Data Lab: shared linkage, matching and estimation code for the notebooks.

The notebooks in ``notebooks/`` tell the story of one organisation's analysis; the modules
here hold the logic they call. ``ARCHITECTURE.md`` says which module owns which step.
"""

__version__ = "0.1.0"
