"""OAuth2 grants for REST upstreams (Nmbrs'): obtained by `soap-bridge connect`, kept sealed in
the store per debtor, refreshed once for the fleet, and lent to rule steps that say `grant:`.

- `settings`: the `grants:` configuration section;
- `oauth`: the authorization-code flow with PKCE and the refresh grant (authlib builds the
  messages; `bridge/upstream/identity.py` sends them);
- `records`: the store layout and the atomic lease/rotate/end/save changes;
- `keeper`: a provider's grants at run time (the engine's `Authorizer`), `/readyz` warnings;
- `connect`: the flow run once and stored; `callback`: its loopback listener;
- `commands`: `soap-bridge connect` and `soap-bridge nmbrs grants`; `demo`: demo credentials.
"""
