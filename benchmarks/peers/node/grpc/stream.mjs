// A SubmitStream load generator in Node (grpc-js), for benchmarks/peers/ours.py: the Python
// client costs more CPU per message than our ingest service does, so it would measure itself.
//   node stream.mjs --address HOST:PORT --jobs N --streams K --content-chars C
// Loads protos/ at run time (no generated code); K streams on one channel share the N
// submissions; prints one JSON line: {"jobs_per_s": ...}. Every reply must be `accepted`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const { values } = parseArgs({
  options: {
    address: { type: 'string' },
    jobs: { type: 'string' },
    streams: { type: 'string', default: '1' },
    'content-chars': { type: 'string' },
  },
});
const jobs = Number(values.jobs);
const streams = Number(values.streams);

const definition = protoLoader.loadSync('feedback_queue/v1/queue.proto', {
  includeDirs: [path.join(ROOT, 'protos')],
  keepCase: true,
  longs: Number,
  enums: Number,
});
const { SubmissionService } = grpc.loadPackageDefinition(definition).feedback_queue.v1;
const client = new SubmissionService(values.address, grpc.credentials.createInsecure());
const request = {
  submission: { submitter_id: 'bench-user', content: 'x'.repeat(Number(values['content-chars'])) },
};

// One stream of `count` submissions, written as fast as flow control lets; resolves with the
// number accepted.
function stream(count) {
  return new Promise((resolve, reject) => {
    const call = client.SubmitStream();
    let accepted = 0;
    call.on('data', (reply) => {
      if (reply.accepted) accepted += 1;
    });
    call.on('end', () => resolve(accepted));
    call.on('error', reject);
    let sent = 0;
    const write = () => {
      while (sent < count) {
        sent += 1;
        if (!call.write(request)) {
          call.once('drain', write);
          return;
        }
      }
      call.end();
    };
    write();
  });
}

await new Promise((resolve, reject) =>
  client.waitForReady(Date.now() + 30_000, (error) => (error ? reject(error) : resolve())),
);
const shares = Array.from({ length: streams }, (_, i) =>
  Math.floor(jobs / streams) + (i < jobs % streams ? 1 : 0),
);
const started = performance.now();
const accepted = (await Promise.all(shares.map(stream))).reduce((a, b) => a + b, 0);
const seconds = (performance.now() - started) / 1000;
client.close();
if (accepted !== jobs) {
  console.error(`only ${accepted} of ${jobs} accepted`);
  process.exit(1);
}
console.log(JSON.stringify({ jobs_per_s: jobs / seconds }));
