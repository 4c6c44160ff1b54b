"""Stage 4: analyses over a verified graph; each returns results keyed by node name."""

from .costs import mac_counts, param_counts, totals
from .receptive_field import ReceptiveField, receptive_fields

__all__ = ["ReceptiveField", "mac_counts", "param_counts", "receptive_fields", "totals"]
