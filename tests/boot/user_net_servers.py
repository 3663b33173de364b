"""Servers on the emulated host for the user-mode networking boot test.

Run inside L1 as ``python3 user_net_servers.py DNS_ADDRESS NAME ANSWER HTTP_PORT TOKEN``:
a DNS server on DNS_ADDRESS:53 answering NAME's A query with ANSWER (and nothing,
NOERROR, for everything else), and an HTTP server on 127.0.0.1:HTTP_PORT serving
TOKEN at /token. It prints SERVERS-READY once both listen.
"""

from __future__ import annotations

import http.server
import socket
import struct
import sys
import threading

TYPE_A, CLASS_IN = 1, 1
FLAGS_ANSWER = 0x8180  # a response, recursion desired and available, NOERROR
TTL = 60


def question_end(packet: bytes) -> int:
    """The offset after the first question's QTYPE and QCLASS."""
    offset = 12
    while packet[offset]:
        offset += 1 + packet[offset]
    return offset + 1 + 4


def qname(packet: bytes) -> str:
    labels, offset = [], 12
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    return ".".join(labels).lower()


def answer(packet: bytes, name: str, address: str) -> bytes:
    end = question_end(packet)
    qtype, _ = struct.unpack(">HH", packet[end - 4 : end])
    hit = qtype == TYPE_A and qname(packet) == name
    header = packet[:2] + struct.pack(">HHHHH", FLAGS_ANSWER, 1, int(hit), 0, 0)
    reply = header + packet[12:end]
    if hit:  # a pointer to the question's name, then the A record
        reply += struct.pack(">HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4)
        reply += socket.inet_aton(address)
    return reply


def serve_dns(sock: socket.socket, name: str, address: str) -> None:
    while True:
        packet, peer = sock.recvfrom(512)
        try:
            sock.sendto(answer(packet, name, address), peer)
        except (IndexError, struct.error):
            continue


def main() -> None:
    dns_address, name, address, port, token = sys.argv[1:6]
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind((dns_address, 53))

    class Token(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the handler's name)
            body = token.encode() if self.path == "/token" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    web = http.server.HTTPServer(("127.0.0.1", int(port)), Token)
    threading.Thread(target=serve_dns, args=(dns, name.lower(), address), daemon=True).start()
    print("SERVERS-READY", flush=True)
    web.serve_forever()


if __name__ == "__main__":
    main()
