"""Deletes the Redis keys of one chaos run: redis_forget.py HOST PORT PREFIX (keys PREFIX:*).

Speaks RESP over a socket, so that the script needs no redis-cli. Standard library only.
"""

import socket
import sys


def command(sock, f, *args):
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    sock.sendall(b"".join(parts))
    return reply(f)


def reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind in (b"+", b":"):
        return rest.decode()
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        return [reply(f) for _ in range(int(rest))]
    raise RuntimeError(f"unexpected reply {line!r}")


def main(host, port, prefix):
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        f = sock.makefile("rb")
        cursor, deleted = "0", 0
        while True:
            cursor, keys = command(sock, f, "SCAN", cursor, "MATCH", f"{prefix}:*", "COUNT", 1000)
            if keys:
                deleted += int(command(sock, f, "DEL", *keys))
            if cursor == "0":
                break
    print(f"redis: deleted {deleted} keys under {prefix}:")


if __name__ == "__main__":
    main(*sys.argv[1:4])
