"""Security headers on every response the app sends: a Content-Security-Policy and the rest.

Pages get a policy that allows only this site's own files: no inline script or style, no
eval, no plugins, no framing. Anything else (JSON, avatars, static files) gets a policy that
allows nothing, so a response opened on its own in a browser can neither run nor load anything.
Strict-Transport-Security goes out only in production and only over HTTPS (behind nginx,
request.is_secure needs TRUSTED_PROXIES to believe X-Forwarded-Proto).

deploy/nginx.conf adds the same headers (not the CSP) to what nginx serves itself; tests check
that both agree and that every response through nginx carries each header once.
"""

from flask import Flask, Response, current_app, request

PAGE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    # data: for the SVG icons inside Bootstrap's CSS (close buttons, selects, checkboxes);
    # blob: for the avatar preview on /profile (an object URL of the chosen file).
    "img-src": "'self' data: blob:",
    # 'self' covers the same-origin ws:/wss: of Socket.IO too (CSP level 3, which Chromium,
    # Firefox and Safari follow). CORS_ORIGINS is about other sites connecting to us, not this.
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
OTHER_POLICY = {"default-src": "'none'", "frame-ancestors": "'none'"}

# The same for every response, pages or not (nginx sends these values on its own files too).
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Nothing of a URL leaves the site: invite links carry their code in the path.
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def policy_text(policy: dict[str, str]) -> str:
    """A policy as the header spells it: "directive value; directive value"."""
    return "; ".join(f"{directive} {value}" for directive, value in policy.items())


PAGE_CSP = policy_text(PAGE_POLICY)
OTHER_CSP = policy_text(OTHER_POLICY)


def add_security_headers(response: Response) -> Response:
    """Add the headers a view did not set itself."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP if response.mimetype == "text/html" else OTHER_CSP)
    for name, value in COMMON_HEADERS.items():
        headers.setdefault(name, value)
    max_age = current_app.config["HSTS_MAX_AGE"]
    if max_age and request.is_secure:
        headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
    return response


def init_headers(app: Flask) -> None:
    """Send the security headers on every response, errors included."""
    app.after_request(add_security_headers)
