"""Conditional similarity (the GeneCIS protocol): queries, Recall@k on any scorer, per-condition
notion spaces, and a demo-world twin of the benchmark on ``dataset=shapes``."""
from indirect.conditional.benchmark import build_scorers, evaluate_methods, remembered
from indirect.conditional.metrics import TOP_K, evaluate_scorer, hit_probabilities
from indirect.conditional.queries import Query, check_queries
from indirect.conditional.scorers import METHODS, EmbeddingTable, NotionScorer, clip_scorer, image_text_scorer, text_scorer
from indirect.conditional.shapes_queries import OTHER_FACTOR, change_queries, demo_queries, focus_queries
from indirect.conditional.spaces import ConditionSpaces, DemoSpaces, GenecisSpaces

__all__ = [
    "METHODS", "OTHER_FACTOR", "TOP_K", "ConditionSpaces", "DemoSpaces", "EmbeddingTable", "GenecisSpaces",
    "NotionScorer", "Query", "build_scorers", "change_queries", "check_queries", "clip_scorer", "demo_queries",
    "evaluate_methods", "evaluate_scorer", "focus_queries", "hit_probabilities", "image_text_scorer", "remembered",
    "text_scorer",
]
