"""An emulation of OneSpan Sign: its authentication tokens, packages and session hand-off.

Served by the sandbox beside AssureSign and Nmbrs, from its own seed (`seed.yaml` here):

- `POST /api/cs-authenticationTokens/user`, `/sender`, `/signer/multiUse`, `/signer/singleUse`
  with `Authorization: Bearer <API key>`; `GET /api/packages/{packageId}`;
- the hand-off a browser follows: `GET /access?sessionToken=` (signer tokens),
  `GET /auth?authenticationToken=` (user tokens) and `?senderAuthenticationToken=` (sender
  tokens); single-use tokens work once, every token 30 minutes;
- test controls: `POST /_sandbox/onespan/clock` `{"advance_s": N}` (tokens expire without
  sleeping), `GET /_sandbox/onespan/tokens` (kinds and use, never values).

See `service` for what is documented and what is inferred.
"""

from .seed import OneSpanSeed, load_onespan_seed
from .service import OneSpanSandbox

__all__ = ["OneSpanSandbox", "OneSpanSeed", "load_onespan_seed"]
