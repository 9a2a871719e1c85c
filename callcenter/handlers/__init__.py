"""HTTP and WebSocket handlers: thin (parse, authorize, call a service, render).

Each module exports `routes`, built with `route()` so the OpenAPI document and
the app's table come from the same list.
"""
