from tests.security.support import fast_hashing, real_hashing  # noqa: F401 (fixtures)
