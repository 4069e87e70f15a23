# Generated from chutes/_async/platform.py by scripts/unasync.py: do not edit.
"""The platform beyond calling a cord: ``client.chutes`` and ``client.account``.

Calls go to the platform API (``api_url``); the shapes and what they mean are read by
``chutes._core.platform``. See PLATFORM.md in the project for the platform's side.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Callable
from typing import Any

from .._core.errors import AuthenticationError, PermissionDeniedError, add_hint
from .._core.platform import (
    AccountInfo,
    ChuteInfo,
    ChuteStatus,
    QuotaRule,
    QuotaUsage,
    Subscription,
    UsageBucket,
    WarmupEvent,
    account_info,
    chute_id,
    chute_list_params,
    chute_page,
    chute_status,
    quota_usage,
    quotas,
    subscription,
    usage_page,
    usage_params,
)
from .._core.public import export
from .._core.targets import chute_key
from .caller import Caller

__all__ = ["Account", "Chutes"]

_ADMIN_HINT = "this call needs an account-scoped (admin) API key, not a key scoped to chutes"
_PAGE = 500  # chutes or usage buckets per page when listing


class Chutes:
    """``client.chutes``: look chutes up, list them, and warm them up.

    A chute is named ``"user/name"`` (its id is then computed locally: the platform's
    uuid5, one lookup and no name search) or given by ``id=``.
    """

    __slots__ = ("_caller",)

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def get(self, name: str | None = None, *, id: str | None = None) -> ChuteInfo:
        """One chute's details: instances, price, cords (with their body schemas).

        Raises:
            ConfigurationError: for neither or both of ``name`` and ``id``, or a bad one.
            NotFoundError: "Chute not found, or does not belong to you".
        """
        return self._caller.lookup(chute_key(name, id))

    def list(
        self,
        *,
        include_public: bool | None = None,
        name: str | None = None,
        template: str | None = None,
        exclude: str | None = None,
        include_schemas: bool | None = None,
        page_size: int = _PAGE,
    ) -> Iterator[ChuteInfo]:
        """Every chute the platform lists, page after page as they are needed (each with
        its cords, joined from the page's shared ``cord_refs``).

        Args:
            include_public: with a key, list public chutes as well as your own.
            name: only chutes whose name holds this (case-insensitive).
            template: only chutes of this template (``"vllm"``, ``"diffusion"``, ...).
            exclude: leave out chutes whose name holds this.
            include_schemas: keep the cords' request schemas (stripped by default).
            page_size: chutes per request (1 to 5000).

        Raises:
            ConfigurationError: for an invalid option.
        """
        page = 0
        while True:
            params = chute_list_params(
                include_public=include_public,
                name=name,
                template=template,
                exclude=exclude,
                include_schemas=include_schemas,
                page=page,
                limit=page_size,
            )
            found = chute_page(
                self._caller.get_json(self._caller.api(), "/chutes/", **params)
            )
            for item in found.items:
                yield item
            if not found.items or not found.has_more:
                return
            page += 1

    def status(self, name: str | None = None, *, id: str | None = None) -> ChuteStatus:
        """Whether the chute is hot now, and its instances (the quick warm-up check).

        Raises:
            NotFoundError: when the platform has no such chute.
        """
        ident = _ident(chute_key(name, id))
        caller = self._caller
        return chute_status(
            caller.get_json(caller.api(), f"/chutes/warmup/{ident}", quick="true")
        )

    def warmup(
        self,
        name: str | None = None,
        *,
        id: str | None = None,
        timeout: float | None = 600.0,
        on_status: Callable[[WarmupEvent], object] | None = None,
    ) -> WarmupEvent:
        """Ask the platform to warm the chute up, and follow it until it is hot.

        Args:
            name: ``"user/name"``.
            id: the chute's id, instead of a name.
            timeout: the most seconds to wait (the platform itself gives up after 600).
            on_status: called with each status the platform sends (``cold`` with its log
                line, then ``hot``).

        Returns:
            The ``hot`` event.

        Raises:
            APITimeoutError: when the chute is not hot within ``timeout``, or the platform's
                warm-up stream ends without saying it is.
            PaymentRequiredError: when the balance is spent.
        """
        return self._caller.warm(chute_key(name, id), timeout, on_status)


class Account:
    """``client.account``: who the key belongs to, quotas, subscription and spending.

    These calls need an account-scoped key; a key scoped to chutes gets an
    AuthenticationError or PermissionDeniedError saying so.
    """

    __slots__ = ("_caller",)

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _get(self, path: str, **params: str) -> Any:
        try:
            return self._caller.get_json(self._caller.api(), path, **params)
        except (AuthenticationError, PermissionDeniedError) as error:
            add_hint(error, _ADMIN_HINT)
            raise

    def me(self) -> AccountInfo:
        """The account: user name and id, balance, payment address, permissions."""
        return account_info(self._get("/users/me"))

    def quotas(self) -> list[QuotaRule]:
        """The account's request quotas (empty for free or invoiced accounts); a rule for
        chute ``"*"`` applies to every chute."""
        return quotas(self._get("/users/me/quotas"))

    def quota_usage(self, chute: str) -> QuotaUsage:
        """How much of its quota a chute (``"user/name"`` or an id, ``"*"`` for the global
        quota) has used."""
        ident = chute if chute == "*" else _ident(chute)
        return quota_usage(self._get(f"/users/me/quota_usage/{ident}"))

    def subscription(self) -> Subscription:
        """The subscription's spending windows (four-hour and monthly caps, in USD)."""
        return subscription(self._get("/users/me/subscription_usage"))

    def usage(
        self,
        *,
        start: _dt.date | _dt.datetime | str | None = None,
        end: _dt.date | _dt.datetime | str | None = None,
        per_chute: bool = False,
        chute: str | None = None,
    ) -> list[UsageBucket]:
        """The account's spending buckets between ``start`` and ``end``, every page joined.

        Args:
            start: the first bucket's time.
            end: the last bucket's time.
            per_chute: one bucket per chute and time.
            chute: only this chute's spending (``"user/name"`` or an id).
        """
        buckets: list[UsageBucket] = []
        page = 0
        while True:
            params = usage_params(
                start=start,
                end=end,
                per_chute=per_chute or None,
                chute_id=None if chute is None else _ident(chute),
                page=page,
                limit=_PAGE,
            )
            found = usage_page(self._get("/users/me/usage", **params))
            buckets += found.items
            if not found.items or not found.has_more:
                return buckets
            page += 1


def _ident(chute: str) -> str:
    return chute_id(chute) if "/" in chute else chute


export(__all__, globals())
