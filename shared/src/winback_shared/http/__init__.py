"""HTTP plumbing shared by the services: app factory, API keys, problem+json errors."""

from winback_shared.http.app import create_app
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError

__all__ = ["ProblemError", "create_app", "require_role"]
