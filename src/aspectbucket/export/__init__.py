"""The export stage: the pixels a trainer trains on, or content-preserving pre-crops, written atomically.

``plan`` decides every output before a pixel moves; ``pixels`` decodes, orients, resizes and crops one
image (``resample`` does the LANCZOS resize); ``run`` writes them with a journal so a stopped export
resumes.
"""

from aspectbucket.export.pixels import Anchor
from aspectbucket.export.plan import ExportMode, ExportSettings, OutputFormat, plan_export
from aspectbucket.export.run import ExportSummary, run_export

__all__ = ["Anchor", "ExportMode", "ExportSettings", "ExportSummary", "OutputFormat", "plan_export", "run_export"]
