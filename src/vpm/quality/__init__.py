"""Summary quality: ROUGE-L against reference digests, length and JSON checks."""

from vpm.quality.items import Item, read_items
from vpm.quality.score import ItemScore, QualityReport, score_set

__all__ = ["Item", "ItemScore", "QualityReport", "read_items", "score_set"]
