"""Explained sketch retrieval: embed a gallery, search it by cosine similarity, score the search
per category, and explain each match in strokes with any attribution method that works on an
`EmbeddingView`.

| module | what |
|---|---|
| `gallery` | embeddings of many sketches, batched, and the `Gallery` they make |
| `search` | cosine similarity, top-k search, a query's own item excluded |
| `scores` | mAP and precision@k per category and overall |
| `explain` | which query strokes make a match similar, and which of the match's strokes match |
| `faithfulness` | deletion AUC on similarity; the match's rank after deleting the top strokes |
| `run` | the loop behind ``strokelens retrieve``: search, explain, write results and a report |
"""

from strokelens.retrieval.explain import MatchExplanations, ReferenceView, check_method, explain_matches
from strokelens.retrieval.faithfulness import deletion_curves, rank_after_deletion
from strokelens.retrieval.gallery import Gallery, build_gallery, embed_sketches, embedding_view
from strokelens.retrieval.scores import RetrievalScores, average_precision, retrieval_scores
from strokelens.retrieval.search import Matches, cosine_similarity, same_item_mask, search

__all__ = [
    "Gallery",
    "MatchExplanations",
    "Matches",
    "ReferenceView",
    "RetrievalScores",
    "average_precision",
    "build_gallery",
    "check_method",
    "cosine_similarity",
    "deletion_curves",
    "embed_sketches",
    "embedding_view",
    "explain_matches",
    "rank_after_deletion",
    "retrieval_scores",
    "same_item_mask",
    "search",
]
