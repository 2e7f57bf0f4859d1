"""The tasks of the real Celery worker the tests start (see conftest.py).

``forsun_test.record`` appends what it received (the forsun headers, its arguments, its
queue, eta, expiry and priority) as a JSON line to the Redis list named by
``FORSUN_TEST_RECORDS``; the worker sets ``<that name>:ready`` once it consumes.
"""

import json
import os

import redis
from celery import Celery
from celery.signals import worker_ready

RECORDS = os.environ["FORSUN_TEST_RECORDS"]
store = redis.Redis(host="127.0.0.1", port=6379, db=int(os.environ["FORSUN_TEST_REDIS_DB"]))

app = Celery("forsun_celery_tests", broker=os.environ["FORSUN_TEST_BROKER"])


@app.task(bind=True, name="forsun_test.record")
def record(self, *args, **kwargs):
    request = self.request
    store.rpush(RECORDS, json.dumps({
        "forsun_key": getattr(request, "forsun_key", None),
        "forsun_ts": getattr(request, "forsun_ts", None),
        "args": args,
        "kwargs": kwargs,
        "queue": (request.delivery_info or {}).get("routing_key"),
        "priority": (request.delivery_info or {}).get("priority"),
        "eta": request.eta,
        "expires": request.expires,
    }))


@worker_ready.connect
def announce(**_):
    store.set(f"{RECORDS}:ready", "1")
