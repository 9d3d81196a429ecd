"""The platform's roles, each a unit with one start/stop/health shape, and their composition into a
process (`Platform`)."""

from iotstream.roles.base import Role, ThreadedRole
from iotstream.roles.parts import Parts
from iotstream.roles.platform import ROLE_NAMES, Platform, UnknownRoleError

__all__ = ["ROLE_NAMES", "Parts", "Platform", "Role", "ThreadedRole", "UnknownRoleError"]
