"""URLs as messages and banners show them."""

__all__ = ["without_password"]


def without_password(url: str) -> str:
    """The URL without its password: configuration may carry one, messages and banners must not.

    >>> without_password("postgresql://iotstream:secret@db:5432/iotstream")
    'postgresql://iotstream@db:5432/iotstream'
    >>> without_password("kafka://broker-1:9092")
    'kafka://broker-1:9092'
    """
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}{at}{host}" if at else url
