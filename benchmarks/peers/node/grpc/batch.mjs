// A SubmitBatch load generator in Node (grpc-js), for benchmarks/peers/ours.py: the bulk call
// of our API measured the way BullMQ's addBulk is (node/bullmq/bench.mjs: chunks of 1,000).
//   node batch.mjs --address HOST:PORT --jobs N --batch B --in-flight K --content-chars C
// Loads protos/ at run time (no generated code); sends the N submissions as SubmitBatch calls of
// B (FBQ_MAX_BATCH's default, 1,000), at most K calls at a time on one channel (1: each awaited
// before the next, as addBulk is); prints one JSON line: {"jobs_per_s": ...}. Every outcome must
// be `accepted`.
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
    batch: { type: 'string', default: '1000' },
    'in-flight': { type: 'string', default: '1' },
    'content-chars': { type: 'string' },
  },
});
const jobs = Number(values.jobs);
const batch = Number(values.batch);
const inFlight = Number(values['in-flight']);

const definition = protoLoader.loadSync('feedback_queue/v1/queue.proto', {
  includeDirs: [path.join(ROOT, 'protos')],
  keepCase: true,
  longs: Number,
  enums: Number,
});
const { SubmissionService } = grpc.loadPackageDefinition(definition).feedback_queue.v1;
// A batch of 1,000 is about 200 KB, well within the 4 MiB message limits (FBQ_MAX_BATCH_BYTES).
const client = new SubmissionService(values.address, grpc.credentials.createInsecure());
const request = {
  submission: { submitter_id: 'bench-user', content: 'x'.repeat(Number(values['content-chars'])) },
};

function submitBatch(count) {
  const requests = Array.from({ length: count }, () => request);
  return new Promise((resolve, reject) => {
    client.SubmitBatch({ requests }, (error, reply) => {
      if (error) reject(error);
      else resolve(reply.accepted);
    });
  });
}

// K workers take the next chunk until none is left; resolves with the number accepted.
async function sender(next) {
  let accepted = 0;
  for (let count = next(); count > 0; count = next()) accepted += await submitBatch(count);
  return accepted;
}

await new Promise((resolve, reject) =>
  client.waitForReady(Date.now() + 30_000, (error) => (error ? reject(error) : resolve())),
);
let left = jobs;
const next = () => {
  const count = Math.min(batch, left);
  left -= count;
  return count;
};
const started = performance.now();
const senders = Array.from({ length: inFlight }, () => sender(next));
const accepted = (await Promise.all(senders)).reduce((a, b) => a + b, 0);
const seconds = (performance.now() - started) / 1000;
client.close();
if (accepted !== jobs) {
  console.error(`only ${accepted} of ${jobs} accepted`);
  process.exit(1);
}
console.log(JSON.stringify({ jobs_per_s: jobs / seconds }));
