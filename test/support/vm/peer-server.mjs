// The guest's TCP peer (runs inside a lab namespace: `ip netns exec NS node peer-server.mjs PORT`).
// One request line per connection: "get N" -> sends N bytes of a deterministic pattern and closes;
// "put" -> reads to EOF. Prints one JSON line per finished transfer on stdout:
// { op, local, remote, bytes, sha256, ms } (local = the peer address the guest connected to, which
// names the path; ms = connection accepted to last byte received / connection closed).
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: peer-server.mjs PORT');
  process.exit(2);
}

/** The download pattern: 64 KiB of a fixed xorshift32 stream, repeated. */
const block = Buffer.alloc(65536);
{
  let x = 0x9e3779b9;
  for (let i = 0; i < block.length; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    block.writeUInt32LE(x, i);
  }
}

// allowHalfOpen: the guest's nc half-closes after its request line and still reads the answer
const server = createServer({ allowHalfOpen: true }, (sock) => {
  const started = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - started) / 1e6;
  const local = sock.localAddress ?? '';
  const remote = sock.remoteAddress ?? '';
  const record = (r) => process.stdout.write(`${JSON.stringify({ local, remote, ...r })}\n`);
  let head = Buffer.alloc(0);
  let op;
  let bytes = 0;
  const hash = createHash('sha256');
  sock.on('error', (err) => record({ op: op ?? 'unknown', error: err.message, bytes, ms: ms() }));
  sock.on('data', (chunk) => {
    if (op === 'put') {
      bytes += chunk.length;
      hash.update(chunk);
      return;
    }
    if (op) return;
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    const line = head.subarray(0, nl).toString('latin1').trim();
    const rest = head.subarray(nl + 1);
    const get = /^get (\d+)$/.exec(line);
    if (get) {
      op = 'get';
      sendPattern(sock, Number(get[1]), hash, () => record({ op, bytes: Number(get[1]), sha256: hash.digest('hex'), ms: ms() }));
    } else if (line === 'put') {
      op = 'put';
      bytes += rest.length;
      hash.update(rest);
      sock.on('end', () => {
        record({ op, bytes, sha256: hash.digest('hex'), ms: ms() });
        sock.end();
      });
    } else {
      record({ op: 'bad', line });
      sock.destroy();
    }
  });
});

/** Writes n bytes of the pattern with backpressure, then ends; done() runs once the peer closed. */
function sendPattern(sock, n, hash, done) {
  let left = n;
  const pump = () => {
    while (left > 0) {
      const chunk = left >= block.length ? block : block.subarray(0, left);
      left -= chunk.length;
      hash.update(chunk);
      if (!sock.write(chunk)) return void sock.once('drain', pump);
    }
    sock.end();
  };
  sock.once('close', done);
  pump();
}

server.listen({ port, host: '::', ipv6Only: false }, () => process.stdout.write(`${JSON.stringify({ listening: port })}\n`));
