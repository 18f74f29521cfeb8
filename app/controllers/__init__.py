"""Blueprints: parse the request, authorize, call one service, serialize."""
