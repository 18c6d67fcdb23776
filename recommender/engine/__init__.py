"""Pure-Python recommender engine (no Django imports).

The engine works on dense ``0..n-1`` user/item indices and ``scipy.sparse`` CSR
user x item matrices; :mod:`recommender.engine.data` maps external ids to them.
The entry point for the product is :class:`recommender.engine.pipeline.RecommenderPipeline`.
"""
