"""The baseline: a bare Flask app serving files with send_from_directory."""

import os

from flask import Flask
from flask import send_from_directory


def create() -> Flask:
    app = Flask(__name__)
    root = os.environ["BENCH_PROTECTED_DIR"]

    @app.route("/f/<path:name>")
    def serve(name: str):
        return send_from_directory(root, name)

    return app
