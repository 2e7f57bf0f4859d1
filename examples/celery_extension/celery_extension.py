"""A forsun extension, in the original forsun's extension style: the ``celery`` action sends
a Celery task when a plan fires.

Load it with ``forsund --extension-path=./ --extension=celery_extension.CeleryExtension``,
or install the distribution ``forsun-action-celery`` (its entry point loads it with no
flag; see ``forsun_action_celery.py`` and README.md).

The task is sent by name with ``send_task``: forsund never imports the task's code. The
plan's key and due second travel as the message headers ``forsun_key`` and ``forsun_ts``
(a bound task reads ``self.request.forsun_key``), so the task's own arguments stay exactly
``args`` and ``kwargs``. Publishing waits for the broker's confirmation.
"""

import asyncio
import functools
import json
import logging
import threading

from forsun.action.action import Action, ActionExecuteRetry, ExecuteActionError
from forsun.extension import Extension

#: Broker used when neither the plan's ``broker`` param nor ``--action-celery-broker`` says.
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"

#: Seconds to wait for a broker connection (and its handshake) before giving up.
CONNECT_TIMEOUT = 4.0

#: How often a publish is tried again on a broken connection before asking for a retry.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5,
                        "interval_max": 0.5}

log = logging.getLogger(__name__)


class CeleryAction(Action):
    """Params: ``method`` (task name, required), ``args`` (JSON list), ``kwargs`` (JSON
    object), ``broker``, ``queue``, ``priority`` (0-255), ``countdown`` (seconds before a
    worker may run it), ``expires`` (seconds after which a worker discards it).

    One Celery app (with its pool of broker connections) per broker URL, shared by every
    firing and closed when the extension is uninitialised.
    """

    required_params = ("method",)

    _apps = {}
    _apps_lock = threading.Lock()

    async def execute(self, *args, **kwargs):
        broker = self.params.get("broker") or self.default_broker()
        method = self.params.get("method", "")
        if not method:
            raise ExecuteActionError("celery: params.method (the task name) is required")
        options = self.send_options()
        options["headers"] = {"forsun_key": self.plan.key, "forsun_ts": self.ts}
        loop = asyncio.get_running_loop()
        send = functools.partial(self.send, broker, method, options)
        task_id = await loop.run_in_executor(None, send)
        log.debug("celery %s: sent %s for %s (due %s) as task %s", self.safe(broker), method,
                  self.plan.key, self.ts, task_id)

    def default_broker(self):
        options = self.options if self.options is not None else {}
        return options.get("action_celery_broker") or DEFAULT_BROKER

    def send_options(self):
        """``send_task`` keyword arguments from the params (ExecuteActionError if invalid)."""
        options = {
            "args": self.json_param("args", list, []),
            "kwargs": self.json_param("kwargs", dict, {}),
        }
        if self.params.get("queue"):
            options["queue"] = self.params["queue"]
        for name, convert in (("priority", int), ("countdown", float), ("expires", float)):
            raw = self.params.get(name, "")
            if raw == "":
                continue
            try:
                options[name] = convert(raw)
            except ValueError:
                raise ExecuteActionError(f"celery: params.{name}: {raw!r} is not a number") \
                    from None
        if not 0 <= options.get("priority", 0) <= 255:
            raise ExecuteActionError(f"celery: params.priority: {options['priority']} is "
                                     f"not in 0..255")
        return options

    def json_param(self, name, kind, default):
        raw = self.params.get(name, "")
        if raw == "":
            return default
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ExecuteActionError(f"celery: params.{name} is not JSON: {exc}") from None
        if not isinstance(value, kind):
            expected = "a JSON list" if kind is list else "a JSON object"
            raise ExecuteActionError(f"celery: params.{name} must be {expected}")
        return value

    @classmethod
    def send(cls, broker, method, options):
        """Publish the task (blocking: runs in the thread pool); returns its id."""
        from kombu.exceptions import OperationalError

        try:
            result = cls.app(broker).send_task(method, retry=True,
                                               retry_policy=PUBLISH_RETRY_POLICY, **options)
        except (OperationalError, OSError) as exc:
            raise ActionExecuteRetry(f"celery {cls.safe(broker)}: {exc}") from exc
        return result.id

    @classmethod
    def app(cls, broker):
        with cls._apps_lock:
            app = cls._apps.get(broker)
            if app is None:
                from celery import Celery

                app = Celery("forsun", broker=broker, set_as_current=False)
                app.conf.broker_connection_timeout = CONNECT_TIMEOUT
                app.conf.broker_transport_options = {"confirm_publish": True}
                cls._apps[broker] = app
            return app

    @classmethod
    def close_apps(cls):
        """Drop the apps and close their connections (kombu pools them per broker URL,
        process-wide)."""
        from kombu import pools

        with cls._apps_lock:
            apps, cls._apps = cls._apps, {}
            for app in apps.values():
                app.close()
            pools.reset()

    @staticmethod
    def safe(broker):
        """The broker URL without its password, for messages."""
        from kombu.utils.url import maybe_sanitize_url

        return maybe_sanitize_url(broker)


class CeleryExtension(Extension):
    name = "celery"

    def register(self):
        self.register_action("celery", CeleryAction)

    def uninit(self):
        CeleryAction.close_apps()
