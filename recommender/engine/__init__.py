"""Pure-Python recommender engine (no Django imports).

The engine works on dense ``0..n-1`` user/item indices and ``scipy.sparse`` CSR
user x item matrices; :mod:`recommender.engine.data` maps external ids to them.
The product trains with :mod:`recommender.engine.training` (``fit_sources``, then
``fit_ranker``), which returns a :class:`recommender.engine.model.RecommenderModel`;
:func:`recommender.engine.scoring.recommend` serves it, :mod:`~recommender.engine.artifacts`
stores it and :mod:`~recommender.engine.recall_tables` exports its recall tables.
"""
