"""Limits of the ids the service accepts: from data files, in URLs and in request bodies."""

#: The largest ``PositiveIntegerField`` on every database backend.
MAX_ID = 2_147_483_647
