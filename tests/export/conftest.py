from tests.zoo.conftest import zoo_env  # noqa: F401  (the isolated registry and cache)
