#!/usr/bin/env python3
"""A tiny HTTP CONNECT proxy for tests: listens on 127.0.0.1 (port 0), prints "PORT n" once it
listens, and for each client reads the CONNECT head, checks basic authentication when --user is
given (407 otherwise), answers 200 and relays bytes both ways. Every request line it accepts is
printed as "CONNECT target", so a test can see its traffic went through the proxy."""
import argparse
import base64
import socket
import sys
import threading


def relay(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, expected):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 8192:
        chunk = client.recv(1024)
        if not chunk:
            client.close()
            return
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    if method != "CONNECT":
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        client.close()
        return
    if expected and headers.get("proxy-authorization") != "Basic " + expected:
        client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                       b"Proxy-Authenticate: Basic realm=\"test\"\r\n\r\n")
        client.close()
        return
    host, port = target.rsplit(":", 1)
    upstream = socket.create_connection((host.strip("[]"), int(port)))
    print("CONNECT " + target, flush=True)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=relay, args=(client, upstream), daemon=True).start()
    relay(upstream, client)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--user")
    args = parser.parse_args()
    expected = base64.b64encode(args.user.encode()).decode() if args.user else None
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print("PORT %d" % listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, expected), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
