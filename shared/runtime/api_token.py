"""The API token of a local deployment: $TITAN_HOME/api-token, mode 0600, made once.

A deployment sets TITAN_API_TOKEN (from a Secret); on a laptop nobody should have to, so the
first thing that needs a token (`titan infra up` / `up` / `demo`, a service started without
TITAN_API_TOKEN) generates one here, and the CLI and `titan.client` read the same file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

API_TOKEN_ENV = "TITAN_API_TOKEN"
API_TOKEN_FILE = "api-token"
# 32 random bytes: the same strength as the role passwords of the local infrastructure.
_TOKEN_BYTES = 32


def api_token_path(home: Path) -> Path:
    return home / API_TOKEN_FILE


def read_local_api_token(home: Path) -> SecretStr | None:
    """The token stored under `home`, or None when there is none (or it is empty)."""
    try:
        text = api_token_path(home).read_text(encoding="ascii").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return SecretStr(text) if text else None


def resolve_api_token(home: Path) -> SecretStr | None:
    """The token a caller sends: TITAN_API_TOKEN, else the local one under `home`, else None
    (a service that wants one then answers 401 and says how to get it)."""
    from_env = os.environ.get(API_TOKEN_ENV, "").strip()
    return SecretStr(from_env) if from_env else read_local_api_token(home)


def ensure_local_api_token(home: Path) -> SecretStr:
    """The token under `home`, generated first if there is none.

    Services of one `titan up` start together: the file appears whole or not at all (written
    aside with 0600, then hard-linked into place, which fails if another process won), so
    every process ends up with the same token and none ever reads a half-written file.
    """
    found = read_local_api_token(home)
    if found is not None:
        return found
    home.mkdir(parents=True, exist_ok=True)
    target = api_token_path(home)
    aside = home / f".{API_TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(_TOKEN_BYTES) + "\n")
        # If another process made it first, theirs is the token.
        with contextlib.suppress(FileExistsError):
            os.link(aside, target)
    finally:
        aside.unlink(missing_ok=True)
    token = read_local_api_token(home)
    if token is None:
        raise RuntimeError(f"{target} exists but holds no token; delete it to make a new one")
    return token
