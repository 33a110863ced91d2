"""proxbalance.netcheck: URLs the server may connect to."""

from __future__ import annotations

import pytest

from proxbalance.netcheck import UnsafeURLError, check_url


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434", "http://localhost:8000/v1/", "https://10.0.0.5/v1",
                                 "http://[::1]:11434", "https://api.openai.com/v1"])
def test_allowed(url):
    assert check_url(url, resolve=url.startswith("http://localhost")) == url.rstrip("/")


@pytest.mark.parametrize("url,why", [
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://169.254.10.1/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://100.100.100.200/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://224.0.0.251:5353/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0:11434", "unspecified"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://240.0.0.1/", "reserved"),
    ("ftp://127.0.0.1/", "http"),
    ("file:///etc/passwd", "http"),
    ("http://user:pw@127.0.0.1/", "user name"),
    ("http://127.0.0.1/#x", "fragment"),
    ("http://", "host"),
    ("", "non-empty"),
    ("http://no-such-host.invalid/", "does not resolve"),
])
def test_refused(url, why):
    with pytest.raises(UnsafeURLError, match=why) as info:
        check_url(url)
    assert info.value.status == 400 and info.value.code == "unsafe_url"


def test_private_can_be_refused():
    with pytest.raises(UnsafeURLError, match="private"):
        check_url("http://192.168.1.10/", allow_private=False)
    with pytest.raises(UnsafeURLError, match="private"):
        check_url("http://127.0.0.1/", allow_private=False)
    assert check_url("http://192.168.1.10/") == "http://192.168.1.10"
