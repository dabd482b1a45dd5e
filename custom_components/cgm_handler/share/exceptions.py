"""Exceptions raised by the Dexcom Share client."""


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


class ShareSessionError(ShareServerError):
    """The session stayed invalid after logging in again."""


class ShareInvalidResponseError(ShareError):
    """The server answered with a body of the wrong form."""
