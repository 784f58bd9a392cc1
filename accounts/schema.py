"""OpenAPI: the stateless JWT of the list endpoints as a security scheme of its own.

drf-spectacular names both simplejwt classes `jwtAuth`, so `check --deploy` warns about two
components with one name; the token is the same, only the server side check differs.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class StatelessJwtScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.CachedStatelessJWTAuthentication"
    name = "jwtStatelessAuth"
    priority = 1
