#!/usr/bin/env python3
"""Backend for the memory measurement and the byte-integrity check.

    holdserver.py HOST PORT CONTROL_PORT

PORT accepts TCP connections and keeps them open for as long as the peer does; whatever a
peer sends is echoed back (the idle connections of the memory test send nothing, the
integrity check sends a random blob and compares what comes back). When the peer half-closes,
the server closes its side too.

CONTROL_PORT answers every connection with the number of connections currently open on PORT
("1234\n") and closes: the harness uses it to know that all its connections really reached
the backend through the proxy, and that the proxy closed them again afterwards.
"""
import asyncio
import resource
import sys

open_count = 0


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global open_count
    open_count += 1
    try:
        while True:
            data = await reader.read(262144)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        open_count -= 1
        writer.close()


async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(f"{open_count}\n".encode())
    try:
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


async def main(host: str, port: int, control_port: int) -> None:
    hold_srv = await asyncio.start_server(hold, host, port, backlog=4096, reuse_address=True)
    ctrl_srv = await asyncio.start_server(control, host, control_port, backlog=128, reuse_address=True)
    async with hold_srv, ctrl_srv:
        await asyncio.gather(hold_srv.serve_forever(), ctrl_srv.serve_forever())


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    except KeyboardInterrupt:
        pass
