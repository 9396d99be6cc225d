import type { Socket } from 'node:dgram';

/**
 * Binds a UDP socket, resolving once it is bound. Why not socket.bind() alone: a socket
 * whose bind fails (a port in use) still holds its handle, and every failed start (a
 * retry, a reload) would leak one; so on failure it is closed, then the error rejects.
 * `port` 0: any free port. Call once, on a socket not yet bound.
 */
export function bindUdp(socket: Socket, port: number, host?: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', failed);
    socket.bind(port, host, () => {
      socket.off('error', failed);
      resolve();
    });
  });
}
