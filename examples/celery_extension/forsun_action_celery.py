"""The ``forsun`` entry point of the distribution forsun-action-celery
(``action_celery = "forsun_action_celery:plugin"``): the legacy extension in
``celery_extension.py`` as a plugin, plus the option its action reads. Installing the
distribution is all it takes; no ``--extension`` flag.
"""

from celery_extension import DEFAULT_BROKER, CeleryExtension
from forsun.legacy.extension import LegacyExtensionPlugin
from forsun.options import Option

plugin = LegacyExtensionPlugin(CeleryExtension, options=(
    Option("action-celery-broker", default=DEFAULT_BROKER, section="action", metavar="URL",
           help="broker of plans that give no broker param"),
))
