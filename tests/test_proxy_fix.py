"""TRUSTED_PROXIES: whose X-Forwarded-For and X-Forwarded-Proto the app believes (README "Deploy")."""

import pytest
from flask import Flask, request

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def with_probe(app: Flask) -> Flask:
    """The app plus a route answering the client address and scheme it sees."""
    app.add_url_rule("/_probe", "probe", lambda: {"addr": request.remote_addr, "scheme": request.scheme})
    return app


@pytest.fixture
def probe(make_app):
    def build(hops: int):
        return with_probe(make_app(TRUSTED_PROXIES=hops)).test_client()

    return build


def test_forwarded_headers_are_ignored_without_trusted_proxies(probe):
    seen = probe(0).get("/_probe", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.2"}).json
    assert seen == {"addr": "10.0.0.2", "scheme": "http"}


def test_one_trusted_proxy_gives_the_client_address_and_scheme(probe):
    seen = probe(1).get("/_probe", headers=FORWARDED, environ_base={"REMOTE_ADDR": "127.0.0.1"}).json
    assert seen == {"addr": "203.0.113.7", "scheme": "https"}


def test_an_address_the_client_forged_before_the_proxy_is_not_believed(probe):
    forged = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto": "https"}
    seen = probe(1).get("/_probe", headers=forged, environ_base={"REMOTE_ADDR": "127.0.0.1"}).json
    assert seen["addr"] == "203.0.113.7"
