from . import oauth
from . import notifications
