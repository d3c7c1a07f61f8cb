// Following one submission from Node: WatchSubmission streams its state at once, then every
// change (progress reports of its running attempt included) until COMPLETED, FAILED or
// CANCELLED.
//
//   npm ci
//   FBQ_INGEST_ADDR=127.0.0.1:50051 FBQ_GRPC_TOKEN=... node watch.mjs [--json] ID
//
// Each change is one line: status, attempt, and while ACTIVE the progress (percent and
// message); with --json, one JSON object per line with queue.proto's field names. Like
// submit_batch.mjs it needs nothing of Feedback Queue but protos/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const PROTOS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../protos');

const { values: flags, positionals } = parseArgs({
  options: { json: { type: 'boolean' } },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  console.error('usage: node watch.mjs [--json] ID');
  process.exit(2);
}

const definition = protoLoader.loadSync('feedback_queue/v1/queue.proto', {
  includeDirs: [PROTOS],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const { SubmissionService } = grpc.loadPackageDefinition(definition).feedback_queue.v1;

const address = process.env.FBQ_INGEST_ADDR || '127.0.0.1:50051';
const credentials = process.env.FBQ_TLS_CA
  ? grpc.credentials.createSsl(fs.readFileSync(process.env.FBQ_TLS_CA))
  : grpc.credentials.createInsecure();
const client = new SubmissionService(address, credentials);
const metadata = new grpc.Metadata();
if (process.env.FBQ_GRPC_TOKEN) metadata.set('authorization', `Bearer ${process.env.FBQ_GRPC_TOKEN}`);

function line(info) {
  if (flags.json) {
    const { submission, ...rest } = info; // the content may be long: not repeated per change
    return JSON.stringify({ ...rest, submitter_id: submission?.submitter_id });
  }
  const parts = [info.status, `attempt ${info.attempts}/${info.max_attempts}`];
  const progress = info.progress;
  if (info.status === 'ACTIVE' && progress) {
    if (progress.percent !== undefined && progress.percent !== null) parts.push(`${progress.percent}%`);
    if (progress.message) parts.push(progress.message);
  }
  if (info.last_error && info.status !== 'COMPLETED') parts.push(`(${info.last_error})`);
  return parts.join(' ');
}

const call = client.WatchSubmission({ id: positionals[0] }, metadata);
call.on('data', (info) => console.log(line(info)));
call.on('error', (error) => {
  console.error(`WatchSubmission failed: ${grpc.status[error.code]}: ${error.details}`);
  process.exit(1);
});
call.on('end', () => client.close());
