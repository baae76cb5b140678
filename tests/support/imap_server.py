"""A small IMAP4rev1 server on loopback, enough of RFC 3501 for imaplib: CAPABILITY,
STARTTLS, LOGIN, SELECT, UID SEARCH UNSEEN, UID FETCH BODY.PEEK[], UID STORE +FLAGS, EXPUNGE,
NOOP, LOGOUT. Implicit TLS (IMAPS) or STARTTLS with a given certificate. Records every command,
so a test can see what the client sent and whether it was encrypted."""

from __future__ import annotations

import re
import socketserver
import ssl
import threading
from dataclasses import dataclass, field


@dataclass
class Stored:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


class Mailbox:
    def __init__(self, user: str = "parley", password: str = "s3cret"):
        self.user, self.password = user, password
        self.messages: list[Stored] = []
        self.commands: list[tuple[bool, str]] = []  # (over TLS?, command line)
        self.refuse_store = 0  # answer NO to this many STOREs (a mark that did not stick)
        self.refuse_starttls = False  # answer NO to STARTTLS
        self.lock = threading.Lock()

    def add(self, raw: bytes, *, seen: bool = False) -> int:
        with self.lock:
            uid = (self.messages[-1].uid if self.messages else 0) + 1
            self.messages.append(Stored(uid, raw, {"\\Seen"} if seen else set()))
            return uid

    def seen(self, uid: int) -> bool:
        return "\\Seen" in next(m for m in self.messages if m.uid == uid).flags

    def holds(self, uid: int) -> bool:
        return any(m.uid == uid for m in self.messages)


ATOM = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def _args(text: str) -> list[str]:
    return [a or re.sub(r"\\(.)", r"\1", q) for q, a in ATOM.findall(text)]


class Handler(socketserver.StreamRequestHandler):
    server: ImapServer

    def setup(self):
        if self.server.implicit:
            self.request = self.server.context.wrap_socket(self.request, server_side=True)
        super().setup()
        self.tls = self.server.implicit
        self.authed = False

    def send(self, line: str | bytes) -> None:
        self.wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")
        self.wfile.flush()

    def capabilities(self) -> str:
        caps = ["IMAP4rev1", "LITERAL+"]
        if self.server.context and not self.tls:
            caps.append("STARTTLS")
        if self.tls or not self.server.context:
            caps.append("AUTH=PLAIN")
        return " ".join(caps)

    def handle(self):
        box = self.server.mailbox
        self.send(f"* OK [CAPABILITY {self.capabilities()}] loopback IMAP ready")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            with box.lock:
                box.commands.append((self.tls, text))
            tag, _, rest = text.partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "UID":
                command, _, args = args.partition(" ")
                command = "UID " + command.upper()
            if command == "CAPABILITY":
                self.send(f"* CAPABILITY {self.capabilities()}")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "STARTTLS" and box.refuse_starttls:
                self.send(f"{tag} NO STARTTLS not available now")
            elif command == "STARTTLS" and self.server.context and not self.tls:
                self.send(f"{tag} OK Begin TLS negotiation now")
                self.request = self.server.context.wrap_socket(self.request, server_side=True)
                self.rfile = self.request.makefile("rb")
                self.wfile = self.request.makefile("wb")
                self.tls = True
            elif command == "LOGIN":
                user, password = (_args(args) + ["", ""])[:2]
                self.authed = user == box.user and password == box.password
                self.send(f"{tag} {'OK LOGIN completed' if self.authed else 'NO LOGIN failed'}")
            elif command == "SELECT" and self.authed:
                with box.lock:
                    self.send(f"* {len(box.messages)} EXISTS")
                self.send("* 0 RECENT")
                self.send("* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)")
                self.send("* OK [UIDVALIDITY 1] UIDs valid")
                self.send(f"{tag} OK [READ-WRITE] SELECT completed")
            elif command == "UID SEARCH" and self.authed:
                with box.lock:
                    found = [str(m.uid) for m in box.messages
                             if "UNSEEN" not in args.upper() or "\\Seen" not in m.flags]
                self.send("* SEARCH" + "".join(" " + u for u in found))
                self.send(f"{tag} OK SEARCH completed")
            elif command == "UID FETCH" and self.authed:
                uid = int(args.split(" ", 1)[0])
                with box.lock:
                    n, msg = next(((i, m) for i, m in enumerate(box.messages, 1)
                                   if m.uid == uid), (0, None))
                if msg is not None:
                    self.send(f"* {n} FETCH (UID {uid} BODY[] {{{len(msg.raw)}}}".encode()
                              + b"\r\n" + msg.raw + b")\r\n")
                self.send(f"{tag} OK FETCH completed")
            elif command == "UID STORE" and self.authed:
                uid = int(args.split(" ", 1)[0])
                with box.lock:
                    if box.refuse_store:
                        box.refuse_store -= 1
                        self.send(f"{tag} NO STORE failed")
                        continue
                    n, msg = next((i, m) for i, m in enumerate(box.messages, 1) if m.uid == uid)
                    msg.flags.update(re.findall(r"\\\w+", args))
                    flags = " ".join(sorted(msg.flags))
                self.send(f"* {n} FETCH (UID {uid} FLAGS ({flags}))")
                self.send(f"{tag} OK STORE completed")
            elif command == "EXPUNGE" and self.authed:
                with box.lock:
                    for n, msg in reversed(list(enumerate(box.messages, 1))):
                        if "\\Deleted" in msg.flags:
                            del box.messages[n - 1]
                            self.send(f"* {n} EXPUNGE")
                self.send(f"{tag} OK EXPUNGE completed")
            elif command == "NOOP":
                self.send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                self.send("* BYE loopback IMAP logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD command unknown or not allowed now")


class ImapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mailbox: Mailbox, *, context: ssl.SSLContext | None = None,
                 implicit: bool = False):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mailbox, self.context, self.implicit = mailbox, context, implicit
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
