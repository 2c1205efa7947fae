"""The clients a gunicorn master imported before the worker's gevent patch
are made to wait through gevent (linksvc.serve.cooperative_clients)."""

import subprocess
import sys

CHECK = """
import psycopg, psycopg.waiting as waiting, urllib3.util.ssl_, botocore.httpsession
from gevent import monkey
monkey.patch_all()
import gevent.ssl
from linksvc.serve import cooperative_clients
before = (waiting.wait.__name__, urllib3.util.ssl_.SSLContext is gevent.ssl.SSLContext)
cooperative_clients()
after = (
    waiting.wait.__name__,
    urllib3.util.ssl_.SSLContext is gevent.ssl.SSLContext,
    botocore.httpsession.SSLContext is gevent.ssl.SSLContext,
)
print(before, after)
"""


def test_psycopg_and_urllib3_imported_before_the_patch_wait_through_gevent():
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # Before: psycopg's blocking C wait and the unpatched SSLContext, as a
    # worker forked from linksvc serve's master had them.
    assert done.stdout.split("\n")[0] == ("('wait_c', False) ('wait_poll', True, True)")
