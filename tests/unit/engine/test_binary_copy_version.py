"""Binary COPY needs one major version on both servers: read from the server's version text."""

from gaussdb_batch.hooks.detect import major_version as _major


def test_the_major_version_is_the_first_number_of_the_version_text():
    assert _major("PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc 12.2.0") == "15"
    assert _major("PostgreSQL 9.6.24 on x86_64-pc-linux-gnu") == "9"
    assert _major("PostgreSQL 16devel") == "16"
    assert _major("PostgreSQL 15.18") != _major("PostgreSQL 16.1")
    assert _major("") is None
