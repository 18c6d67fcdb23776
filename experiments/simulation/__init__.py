"""A traffic simulator: viewers who click what they will watch, driven through the HTTP API.

It is a client of the public API only (``/recommend``, ``/api/events/``,
``/api/experiments/``); it never imports the server's models or services, so what it
measures is what a real client would see.
"""
