"""Chute addressing: names -> slugs -> base URLs, and path joining.

Rule: this module is the security boundary for hosts. Every base URL is rebuilt from
validated parts, every path is checked segment by segment, and the joined URL's host is
compared with the target's host, so no input can send a request (and the key) elsewhere.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final
from urllib.parse import unquote, urlsplit

import attrs

from .errors import ConfigurationError
from .public import export

__all__ = ["slugify"]

MAX_SLUG: Final = 58
_NAME_PART: Final = re.compile(r"^[A-Za-z0-9_.\-]+$")
_LABEL: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_LABEL: Final = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_UUID: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_NON_SLUG: Final = re.compile(r"[^a-z0-9]+")
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# Anything at or below space, DEL, backslash and non-ASCII: none belongs in a URL as typed.
_BAD_URL_CHAR: Final = re.compile(r"[\x00-\x20\x7f\\]|[^\x00-\x7f]")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_CHARS: Final = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")


@attrs.frozen
class Target:
    """Where a chute lives: its base URL (no trailing slash) and the host it must stay on.

    Attributes:
        base_url: the URL its paths are joined to.
        host: the host every request must stay on.
        chute: the platform's name for it (``user/name`` or its id), when it was addressed
            by one: what its warm-up and its details are looked up by.
        resolve: look the chute's real slug up (once per client) before the first call.
    """

    base_url: str
    host: str
    # Where it lives is what makes two targets the same; these only tell how it is known.
    chute: str | None = attrs.field(default=None, eq=False)
    resolve: bool = attrs.field(default=False, eq=False)

    def join(self, path: str) -> str:
        """The absolute URL of ``path`` on this chute (see :func:`join_url`)."""
        return join_url(self, path)


def slugify(name: str) -> str:
    """The platform's slug for ``"{username}/{chute name}"`` (python-slugify's rule).

    Lower-case; each run of characters other than ``a-z0-9`` becomes one ``-``; leading and
    trailing ``-`` dropped; cut to 58 characters; a ``-`` left at the end of the cut dropped.
    """
    slug = _NON_SLUG.sub("-", name.lower()).strip("-")
    return slug[:MAX_SLUG].strip("-")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigurationError("a chute name must be a non-empty 'username/chute-name' string")
    username, sep, chute = name.partition("/")
    if not sep:
        raise ConfigurationError(
            f"chute name {name!r} must be 'username/chute-name'; "
            "for a subdomain slug use chute(slug=...)"
        )
    for segment in [username, *chute.split("/")]:
        if not segment or not _NAME_PART.fullmatch(segment) or segment in (".", ".."):
            raise ConfigurationError(
                f"invalid chute name {name!r}: each part may hold only ASCII letters, digits, "
                "'_', '.' and '-' (no spaces, '@', '#', empty or '..' segments)"
            )
    return name


def chute_key(name: str | None, id: str | None) -> str:
    """The platform's key for a chute given by exactly one of ``"user/name"`` or ``id=``.

    Raises:
        ConfigurationError: for neither or both, or an invalid name or id.
    """
    if (name is None) == (id is None):
        raise ConfigurationError("give a chute's name ('user/name') or id=, exactly one")
    if name is not None:
        return _check_name(name)
    if not isinstance(id, str) or not _UUID.fullmatch(id):
        raise ConfigurationError(f"invalid chute id {id!r}: chute ids are UUIDs")
    return id.lower()


def resolve_target(
    name: str | None = None,
    *,
    slug: str | None = None,
    id: str | None = None,
    url: str | None = None,
    domain: str,
    api_url: str,
) -> Target:
    """Turn exactly one addressing form into a :class:`Target`.

    Args:
        name: ``"username/chute-name"``, slugified like the platform does.
        slug: an explicit subdomain slug (one DNS label), for slugs with a clash suffix.
        id: a chute UUID, reached at ``{api_url}/chutes/{id}``.
        url: any absolute http(s) base URL.
        domain: the platform domain for names and slugs (``chutes.ai``).
        api_url: the validated API base URL.

    Raises:
        ConfigurationError: for zero or several forms, or an invalid value.
    """
    given = [
        k for k, v in (("name", name), ("slug", slug), ("id", id), ("url", url)) if v is not None
    ]
    if len(given) != 1:
        raise ConfigurationError(
            "give exactly one of a name, slug=, id= or url= to address a chute"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if name is not None:
        label = slugify(_check_name(name))
        if not label:
            raise ConfigurationError(f"chute name {name!r} has no letters or digits to make a slug")
        return attrs.evolve(_subdomain(label, domain), chute=name)
    if slug is not None:
        if not isinstance(slug, str) or not _LABEL.fullmatch(slug):
            raise ConfigurationError(
                f"invalid slug {slug!r}: a slug is one DNS label of lower-case letters, digits "
                "and inner '-', at most 63 characters"
            )
        return _subdomain(slug, domain)
    if id is not None:
        if not isinstance(id, str) or not _UUID.fullmatch(id):
            raise ConfigurationError(f"invalid chute id {id!r}: chute ids are UUIDs")
        return attrs.evolve(_from_base(f"{api_url}/chutes/{id.lower()}"), chute=id.lower())
    assert url is not None
    return _from_base(normalize_base_url(url, what="url"))


def subdomain(label: str, domain: str) -> Target:
    """The target of the chute whose slug is ``label``.

    Raises:
        ConfigurationError: for a label that is not one DNS label.
    """
    if not _LABEL.fullmatch(label):
        raise ConfigurationError(f"invalid slug {label!r}")
    return _subdomain(label, domain)


def _subdomain(label: str, domain: str) -> Target:
    host = f"{label}.{domain}"
    return Target(base_url=f"https://{host}", host=host)


def _from_base(base_url: str) -> Target:
    host = urlsplit(base_url).hostname
    assert host is not None
    return Target(base_url=base_url, host=host)


def _check_host(host: str, what: str, original: str) -> str:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else "invalid")
        except ValueError:
            raise ConfigurationError(f"{what} {shown(original)} has an invalid IPv6 host") from None
        return host
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ConfigurationError(f"{what} {shown(original)} has an invalid host name")
    return host


_USERINFO: Final = re.compile(r"(?<=://)[^/?#]*@")


def shown(url: str) -> str:
    """``url`` as an error may show it: any user info (a password) replaced by ``***@``."""
    return repr(_USERINFO.sub("***@", url))


def normalize_base_url(value: object, *, what: str) -> str:
    """Validate an absolute http(s) base URL and rebuild it from its checked parts.

    User info, queries and fragments are refused because they are how a crafted string
    moves the real host (``https://good@evil``, ``https://evil#good``).

    Raises:
        ConfigurationError: naming ``what`` and the problem.
    """
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty absolute http(s) URL")
    if _BAD_URL_CHAR.search(value):
        raise ConfigurationError(
            f"{what} {shown(value)} holds spaces, control characters, backslashes or non-ASCII"
        )
    try:
        parts = urlsplit(value)
        port_number = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{what} {shown(value)} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not value.lower().startswith(f"{scheme}://"):
        raise ConfigurationError(
            f"{what} {shown(value)} must be an absolute http:// or https:// URL"
        )
    if "@" in parts.netloc:
        raise ConfigurationError(f"{what} {shown(value)} must not hold user info ('@')")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigurationError(f"{what} {shown(value)} must not hold a query or fragment")
    netloc = parts.netloc.lower()
    host = netloc.rpartition(":")[0] if port_number is not None or netloc.endswith(":") else netloc
    if netloc.endswith("]"):
        host = netloc
    if port_number is not None and not 0 < port_number < 65536:
        raise ConfigurationError(f"{what} {shown(value)} has an invalid port")
    port = f":{port_number}" if port_number is not None else ""
    _check_host(host, what, value)
    path = parts.path.rstrip("/")
    if path:
        _check_path(path, what=f"the path of {what} {shown(value)}")
    return f"{scheme}://{host}{port}{path}"


def _check_path(path: str, *, what: str) -> None:
    if _BAD_URL_CHAR.search(path):
        raise ConfigurationError(
            f"{what} holds spaces, control characters, backslashes or non-ASCII; "
            "percent-encode them"
        )
    if "?" in path or "#" in path:
        raise ConfigurationError(f"{what} must not hold '?' or '#'; pass query values as params=")
    if not _PATH_CHARS.fullmatch(path) or _BAD_PERCENT.search(path):
        raise ConfigurationError(f"{what} holds characters that are not valid in a URL path")
    for segment in path.split("/"):
        if unquote(segment) in (".", ".."):
            raise ConfigurationError(f"{what} must not hold '.' or '..' segments")


def join_url(target: Target, path: str) -> str:
    """The absolute URL for ``path`` on ``target``; ``"x"`` and ``"/x"`` are the same.

    Cached (the benchmark's S1 shows the checks cost about 2% of a local call): a handle
    calls the same few cords again and again, and a (target, path) pair always joins alike.

    Raises:
        ConfigurationError: for absolute URLs, ``//host`` paths, ``..`` segments, control
            characters, or anything else that is not a plain relative path.
    """
    if not isinstance(path, str):
        raise ConfigurationError(f"a path must be a str, got {type(path).__name__}")
    return _join(target, path)


@functools.lru_cache(maxsize=1024)
def _join(target: Target, path: str) -> str:
    if path.startswith("//") or _SCHEME.match(path):
        raise ConfigurationError(
            f"path {path!r} must be relative to the chute; absolute URLs and '//host' are refused"
        )
    _check_path(path, what=f"path {path!r}")
    url = f"{target.base_url}/{path.removeprefix('/')}"
    # Defence in depth: whatever slipped past the checks above must still land on our host.
    if urlsplit(url).hostname != target.host.strip("[]"):
        raise ConfigurationError(f"path {path!r} would leave the chute's host")
    return url


export(__all__, globals())
