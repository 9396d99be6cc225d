// Experiment only (`npm run bench -- --nodelay`): loaded into the gateway with
// `node --import`, it turns Nagle's algorithm off on every TCP socket — the MQTT
// connections aedes accepts and KafkaJS's broker connections — neither of which
// sets TCP_NODELAY itself. It measures what a one-line change in src/ would buy
// without making it.
import net from 'node:net';

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  this.setNoDelay(true);
  return connect.apply(this, args);
};
const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (event, socket, ...rest) {
  if (event === 'connection' && socket instanceof net.Socket) socket.setNoDelay(true);
  return emit.call(this, event, socket, ...rest);
};
