"""The vendor's deprecated REST callers, kept working without a rewrite.

- `POST /api/documentnow/v3.N/authentication/credentials` (the configured paths): the
  deprecated login, carried out by a rule's `rest:` section (`login.py`); its
  `sessionToken` is a bridge token.
- `/api/documentnow/…` with `Authorization: X-AS-UserSessionToken <token>`: forwarded to the
  modern host with the bearer the token stands for and its `X-AS-UserContext`, the answer
  streamed back unchanged (`bridge/upstream/forward.py`); any other call (a bearer already)
  passes through untouched. Only the paths `rest_facade.forward` allows are forwarded.
- `POST /v1/sso`: the web-UI hand-off (`sso.py`).
"""
