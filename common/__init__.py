"""Plumbing shared by the VideoRec apps: bulk writes, API conventions, caching, guards,
monitoring and id limits.

The apps (``ingestion``, ``recommender``) import from here; nothing here imports an app or
the project package, so any app can use it. It holds no models and needs no entry in
``INSTALLED_APPS``.
"""
