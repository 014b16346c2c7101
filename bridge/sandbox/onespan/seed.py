"""Load and validate the OneSpan Sign seed: API keys (one per account) and their packages."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

# The AssureSign seed's reader: the same YAML rules and file:line messages for every seed.
from ..seed import SeedError, _index_lines, _SeedReader

BUNDLED_SEED = "seed.yaml"
# [INFERRED] OneSpan's package statuses as its Package JSON spells them.
PACKAGE_STATUSES = ("DRAFT", "SENT", "COMPLETED", "ARCHIVED", "DECLINED", "OPTED_OUT", "EXPIRED")


@dataclass(frozen=True)
class ApiKey:
    """An account's API key, and the sender it acts as."""

    key: str
    account: str
    sender: str


@dataclass(frozen=True)
class Role:
    """A signer role of a package; its id is the `signerId` the token endpoints take."""

    id: str
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class Package:
    id: str
    account: str
    name: str
    status: str
    roles: tuple[Role, ...]

    def role(self, signer_id: str) -> Role | None:
        return next((r for r in self.roles if r.id == signer_id), None)


@dataclass(frozen=True)
class OneSpanSeed:
    source: str
    api_keys: tuple[ApiKey, ...]
    packages: tuple[Package, ...]

    def package(self, package_id: str, account: str) -> Package | None:
        """The account's package with this id; another account's is as good as absent."""
        return next((p for p in self.packages if p.id == package_id and p.account == account), None)


def load_onespan_seed(path: str | None = None) -> OneSpanSeed:
    """Read and validate a seed file; None loads the bundled seed."""
    source = path or str(resources.files(__package__).joinpath(BUNDLED_SEED))
    try:
        text = (Path(path).read_text(encoding="utf-8") if path else
                resources.files(__package__).joinpath(BUNDLED_SEED).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(source, f"cannot read the seed: {exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SeedError(source, f"not valid YAML: {exc}", mark.line + 1 if mark else None) from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines, source)
    return _OneSpanReader(source, lines).read(data)


class _OneSpanReader(_SeedReader):
    """Turns the loaded YAML into a OneSpanSeed, naming file, line and item in every complaint."""

    def read(self, data: object) -> OneSpanSeed:
        top = self.mapping(data, (), ("api_keys", "packages"))
        keys = []
        for index, item in enumerate(self.items(top.get("api_keys"), ("api_keys",))):
            path: tuple[str | int, ...] = ("api_keys", index)
            fields = self.mapping(item, path, ("key", "account", "sender"))
            keys.append(ApiKey(self.text(fields, "key", path), self.text(fields, "account", path),
                               self.text(fields, "sender", path)))
        accounts = {k.account for k in keys}
        packages = []
        for index, item in enumerate(self.items(top.get("packages"), ("packages",))):
            path = ("packages", index)
            fields = self.mapping(item, path, ("id", "account", "name", "status", "roles"))
            account = self.text(fields, "account", path)
            if account not in accounts:
                raise self.fail(path, f"account {account!r} has no API key", key="account")
            status = self.text(fields, "status", path)
            if status not in PACKAGE_STATUSES:
                raise self.fail(path, f"status must be one of {', '.join(PACKAGE_STATUSES)}",
                                key="status")
            roles = []
            for number, entry in enumerate(self.items(fields.get("roles"), (*path, "roles"))):
                where = (*path, "roles", number)
                role = self.mapping(entry, where, ("id", "email", "first_name", "last_name"))
                roles.append(Role(*(self.text(role, key, where)
                                    for key in ("id", "email", "first_name", "last_name"))))
            packages.append(Package(self.text(fields, "id", path), account,
                                    self.text(fields, "name", path), status, tuple(roles)))
        return OneSpanSeed(self.source, tuple(keys), tuple(packages))
