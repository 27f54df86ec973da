// A webhook receiver as a platform would write one, run by internal/webhooktest against keyward:
// it verifies every delivery with the Standard Webhooks reference library (the standardwebhooks
// npm package, which nobody at keyward wrote), answers 401 to a bad signature, and drops repeats
// by webhook-id, as the specification asks receivers to.
//
// Input (environment):
//   RECEIVER_PORT     the 127.0.0.1 port to listen on (0 or unset: any free port)
//   RECEIVER_SECRETS  the endpoint's signing secrets (whsec_…), separated by commas: a delivery
//                     is good when any of them verifies it, as after a secret roll
//   RECEIVER_DIR      a folder that keeps the receiver's state across restarts:
//                       deliveries.jsonl  one line per request: {id, type, status}
//                       events.jsonl      one line per event accepted the first time:
//                                         {id, type, timestamp, data, attempt_count}
//   FAIL_FIRST        answer 500 to the first N deliveries of each message id (0: none)
//   FAIL_TYPES        with FAIL_FIRST: only for these event types (commas; unset: every type)
// Output: one line "listening http://127.0.0.1:PORT" on standard output once it serves. It exits
// when its standard input closes, so that a test process that dies does not leave it running.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { Webhook } from 'standardwebhooks';

const dir = process.env.RECEIVER_DIR;
if (!dir) throw new Error('RECEIVER_DIR is required');
const secrets = (process.env.RECEIVER_SECRETS ?? '').split(',').filter((s) => s !== '');
if (secrets.length === 0) throw new Error('RECEIVER_SECRETS is required');
const verifiers = secrets.map((s) => new Webhook(s));
const failFirst = Number(process.env.FAIL_FIRST ?? '0');
const failTypes = new Set((process.env.FAIL_TYPES ?? '').split(',').filter((s) => s !== ''));

const deliveriesFile = path.join(dir, 'deliveries.jsonl');
const eventsFile = path.join(dir, 'events.jsonl');

function readLines(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

// The state survives a restart: a message delivered before it is still a repeat after it.
const deliveries = new Map(); // webhook-id → requests that carried it, verified or not
for (const d of readLines(deliveriesFile)) deliveries.set(d.id, (deliveries.get(d.id) ?? 0) + 1);
const seen = new Set(readLines(eventsFile).map((e) => e.id));

function verify(payload, headers) {
  let last;
  for (const v of verifiers) {
    try {
      return v.verify(payload, headers);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function record(id, type, status) {
  fs.appendFileSync(deliveriesFile, JSON.stringify({ id, type, status }) + '\n');
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') return answer(res, 405, 'POST only\n');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const payload = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': req.headers['webhook-id'] ?? '',
      'webhook-timestamp': req.headers['webhook-timestamp'] ?? '',
      'webhook-signature': req.headers['webhook-signature'] ?? '',
    };
    const id = headers['webhook-id'];
    const n = (deliveries.get(id) ?? 0) + 1;
    deliveries.set(id, n);
    let event;
    try {
      event = verify(payload, headers);
    } catch (err) {
      record(id, '', 401);
      return answer(res, 401, `bad signature: ${err.message}\n`);
    }
    if (n <= failFirst && (failTypes.size === 0 || failTypes.has(event.type))) {
      record(id, event.type, 500);
      return answer(res, 500, `failing on purpose (${n} of ${failFirst})\n`);
    }
    record(id, event.type, 200);
    if (!seen.has(id)) {
      seen.add(id);
      const e = { id, type: event.type, timestamp: event.timestamp, data: event.data, attempt_count: n };
      fs.appendFileSync(eventsFile, JSON.stringify(e) + '\n');
    }
    answer(res, 200, 'ok\n');
  });
});

server.listen(Number(process.env.RECEIVER_PORT ?? '0'), '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
