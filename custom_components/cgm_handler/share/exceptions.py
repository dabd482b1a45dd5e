"""Exceptions raised by the Dexcom Share client."""

from datetime import timedelta


class ShareError(Exception):
    """Base error of the Dexcom Share client."""


class ShareConnectionError(ShareError):
    """The server could not be reached, or did not answer in time."""


class ShareAuthenticationError(ShareError):
    """The account name or password was rejected."""


class ShareNullSessionError(ShareAuthenticationError):
    """A login answered the null session id instead of a session.

    Share has answered wrong passwords this way, so it may count toward the lockout.
    """


class ShareAccountLockedError(ShareError):
    """Dexcom locked the account after repeated failed logins."""


class ShareInvalidArgumentError(ShareError):
    """The server rejected an argument of the request."""


class ShareServerError(ShareError):
    """The server answered with an error it did not explain."""


class ShareUnrecognizedServerError(ShareServerError):
    """The server answered with a client error that is not a Dexcom fault.

    Dexcom Share explains its client errors with a Code; a server that answers
    404 or 405 without one is most likely not a Share server at all.
    """


class ShareUnavailableError(ShareServerError):
    """Share answered with a page instead of JSON: a web firewall, maintenance, an outage.

    Dexcom's servers (and a server that has answered like Share before) answer 403, 502,
    503 or 504 with an HTML or empty body while Share is down or behind its firewall. It
    says nothing about the account: retry later, and never sign in again for it.
    """


class ShareRateLimitedError(ShareError):
    """The server answered HTTP 429: it is limiting this client's requests.

    retry_after is the wait the server asked for (its Retry-After header), or None.
    """

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        """Keep the wait the server asked for."""
        super().__init__(message)
        self.retry_after = retry_after


class ShareSessionError(ShareServerError):
    """The session stayed invalid after logging in again."""


class ShareInvalidResponseError(ShareError):
    """The server answered with a body of the wrong form."""
