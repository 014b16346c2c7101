"""An emulation of the vendor's REST and legacy SOAP services, for the demo mode and the tests.

It imports nothing else from `bridge`: the bridge talks to it over HTTP like to the vendor.

Endpoints (see `rest`, `legacy` and `controls` for the details):

- REST (N from 0 to 7): `POST /api/v3.N/authentication/apiUser`,
  `POST /api/documentnow/v3.N/authentication/credentials`,
  `POST /api/documentnow/v3.N/authentication/sso`,
  `GET /api/documentnow/v3.N/users/{username}/accounts`,
  `GET /api/documentnow/v3.N/envelope/{envelopeID}/signingLinks` and
  `…/accessLinks/{ORIGINAL|INTERIM|COMPLETED}` for the seed's envelopes, with the `/l/<code>`
  links they hand out (see `envelopes`); any other path, or another method, is the vendor's
  404 `NOT_FOUND`;
- legacy SOAP 1.1: `POST /Services/DocumentNOW/v2/DocumentNOW.svc/<Service>/text` for
  each of the WSDL's 24 services: Users and Accounts emulated in full, Ping and
  ListTemplates too; every other operation, and the `Submit`, `Envelopes` and
  `DownloadTemplate` `/mtom` endpoints, answer a Server fault saying they are not emulated;
- what a deprecated REST caller does next (`documentnow`): `GET
  /api/documentnow/v3.N/templates` with a bearer or a session token, and the web UI's
  landing page `GET /ui/{page}?ssoToken=…`, which takes an SSO token once, within its 30
  seconds; `POST /_sandbox/clock` `{"advance_s": N}` moves the sandbox's clock on (a reset
  puts it back);
- test controls: `POST /_sandbox/control` with
  `{"delay_ms": int, "drip_ms": int, "fail": null | {"status": int, "body": json-or-string,
  "content_type"?: str} | "garbage" | "close", "paths": [substring, ...], "times": int}`
  (a new control replaces the previous one; `paths` defaults to every non-control path,
  `times` to every matching request; `drip_ms` sends the answer 8 bytes at a time, that
  far apart), `POST /_sandbox/reset`, `GET /_sandbox/stats`,
  `GET /_sandbox/healthz`;
- the second vendor, Nmbrs (payroll), from its own seed: its legacy SOAP API at
  `/soap/v3/<Service>.asmx`, its identity service at `/connect/…`, its REST API at `/api/…`, and
  controls at `/_sandbox/nmbrs/…` (see `nmbrs`);
- the second e-sign vendor, OneSpan Sign, from its own seed: its authentication-token
  endpoints `/api/cs-authenticationTokens/…`, `GET /api/packages/{id}`, the `/access` and
  `/auth` hand-off, and `/_sandbox/onespan/…` controls (see `onespan`).
"""

from .app import SandboxApp, make_app
from .seed import Seed, SeedError, bundled_directory_path, load_seed, parse_seed
from .server import SandboxServer, serve, serve_forever, start_in_thread

__all__ = [
    "SandboxApp",
    "SandboxServer",
    "Seed",
    "SeedError",
    "bundled_directory_path",
    "load_seed",
    "make_app",
    "parse_seed",
    "serve",
    "serve_forever",
    "start_in_thread",
]
