"""Webhook URL safety: refuse non-public addresses, and connect only to an address checked.

A webhook's host name is resolved once per delivery batch and every address it resolves to must
be public, unless an admin allowed private addresses for the endpoint. The POST then goes to
the first of those addresses through a transport adapter that keeps the name for the Host
header, the TLS server name (SNI) and the certificate check, so a name that resolves to a public
address when checked and to a private one when connecting (DNS rebinding) cannot reach the
private one: nothing resolves the name a second time.
"""

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter


class UnsafeURL(ValueError):
    """A webhook URL that must not be called (scheme or a non-public address)."""


class UnresolvableURL(ValueError):
    """A webhook host name that does not resolve right now."""


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for flag in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{flag}"):
            return flag.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None


def _host_and_port(url: str) -> tuple[str, int]:
    """Return the host and port of an http(s) URL, refusing anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs are allowed")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("credentials in the URL are not allowed; the payload is signed instead")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeURL(f"bad port: {exc}") from exc
    return parts.hostname, port


def checked_addresses(url: str) -> list[str]:
    """Return every address a webhook URL's host resolves to, refusing any that is not public.

    A name with one public and one private address is refused too.
    """
    host, port = _host_and_port(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableURL(f"cannot resolve {host}: {exc}") from exc
    if not infos:
        raise UnresolvableURL(f"cannot resolve {host}")
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        problem = _address_problem(ipaddress.ip_address(address))
        if problem:
            raise UnsafeURL(
                f"{host} resolves to {problem} address {address}; "
                "an admin may allow private addresses for this endpoint explicitly"
            )
        addresses.append(address)
    return list(dict.fromkeys(addresses))


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Refuse a webhook URL that is not http(s) or whose host resolves to a non-public address."""
    if allow_private:
        _host_and_port(url)
        return
    checked_addresses(url)


class PinnedAddressAdapter(HTTPAdapter):
    """Send every request to one address checked beforehand, keeping the URL's host name.

    The connection goes to the address; the Host header, SNI and the certificate check use the
    name from the URL, as they would without the adapter.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        """Return the connection pool key for the pinned address, TLS checked against the name."""
        found = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params: dict[str, Any] = dict(found[0])
        pool_kwargs: dict[str, Any] = dict(found[1])
        name = host_params["host"]
        host_params["host"] = self.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        """Send the request with the Host header the URL names (not the pinned address)."""
        request.headers["Host"] = urlsplit(request.url or "").netloc
        return super().send(request, *args, **kwargs)


def new_http_session() -> requests.Session:
    """Return a requests session that ignores proxy and .netrc settings from the environment."""
    http = requests.Session()
    # Environment proxies would bypass the address check and .netrc would leak credentials.
    http.trust_env = False
    return http


def pinned_session(address: str) -> requests.Session:
    """Return a session whose every request connects to address (see PinnedAddressAdapter)."""
    http = new_http_session()
    adapter = PinnedAddressAdapter(address)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http
