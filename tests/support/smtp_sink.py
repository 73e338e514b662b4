"""A real SMTP server for jim's email tests (aiosmtpd): every mail it accepts is written into
MAILDIR as one JSON file (envelope, decoded headers, text and HTML parts, and the raw message),
so that a test in any language can read it without a MIME parser.

    smtp_sink.py --port P --maildir DIR [--starttls CERT KEY | --implicit-tls CERT KEY]
                 [--auth USER:PASSWORD]

With --starttls the server refuses MAIL before STARTTLS; with --auth it refuses MAIL before a
successful AUTH (and AUTH before TLS). Prints "ready" on stdout once it listens, and runs
until killed.
"""

import argparse
import email
import email.policy
import itertools
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class JsonMaildir:
    """Writes each accepted mail as DIR/<n>.json (written aside, then renamed into place)."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "subject": str(msg["subject"] or ""),
            "from": str(msg["from"] or ""),
            "to": str(msg["to"] or ""),
            "message_id": str(msg["message-id"] or ""),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        name = "%d-%d.json" % (os.getpid(), next(self.counter))
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--auth")
    args = p.parse_args()

    kwargs = {}
    tls = args.starttls or args.implicit_tls
    if tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls[0], tls[1])
        if args.starttls:
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            # Implicit TLS: the listening socket itself speaks TLS.
            kwargs.update(ssl_context=ctx)
    if args.auth:
        user, password = args.auth.split(":", 1)

        def check(server, session, envelope, mechanism, data):
            ok = (isinstance(data, LoginPassword) and data.login == user.encode()
                  and data.password == password.encode())
            # handled=False: a refusal is answered 535 (True would leave the client hanging).
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=check, auth_required=True,
                      auth_require_tls=bool(args.starttls))
    controller = Controller(JsonMaildir(args.maildir), hostname="127.0.0.1", port=args.port,
                            **kwargs)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
