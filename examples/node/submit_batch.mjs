// Submitting to Feedback Queue from Node: one SubmitBatch, the outcome of each submission in
// it, and how to read why a call was refused.
//
//   npm ci
//   FBQ_INGEST_ADDR=127.0.0.1:50051 FBQ_GRPC_TOKEN=... node submit_batch.mjs [--submit] [--json] [REQUESTS.json]
//
// REQUESTS.json ("-": standard input) is a JSON array of SubmitRequest objects with queue.proto's field names, e.g.
//   [{"submission": {"submitter_id": "svc-a", "content": "An essay.", "idempotency_key": "e-1"}}]
// Without it a small demo batch is sent: an accepted submission, the same one again (a duplicate
// of the first), another one, and a blank one that is refused on its own.
//   --submit  send each request alone with the unary Submit instead, and show each refusal's
//             details (ErrorInfo, BadRequest, RetryInfo)
//   --json    one JSON object per line instead of text
//
// It needs nothing of Feedback Queue but protos/: queue.proto is loaded at run time (no
// generated code), and protos/feedback_queue/v1/service_config.json gives the channel its
// retry policy and timeouts. The environment is the fbq CLI's: FBQ_INGEST_ADDR, FBQ_GRPC_TOKEN,
// and for TLS FBQ_TLS_CA (with FBQ_TLS_CLIENT_CERT and FBQ_TLS_CLIENT_KEY for mutual TLS).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

import { codeName, describeRefusal, durationMs } from './rich_errors.mjs';

const PROTOS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../protos');

const { values: flags, positionals } = parseArgs({
  options: { json: { type: 'boolean' }, submit: { type: 'boolean' } },
  allowPositionals: true,
});

// --- The channel ----------------------------------------------------------------------------

const definition = protoLoader.loadSync('feedback_queue/v1/queue.proto', {
  includeDirs: [PROTOS],
  keepCase: true, // field names as in queue.proto: submitter_id, not submitterId
  longs: Number,
  enums: String, // status: 'WAITING'
  defaults: true, // duplicate: false is there, not missing
  oneofs: true, // each outcome names its set member: outcome.outcome === 'accepted' | 'error'
});
const { SubmissionService } = grpc.loadPackageDefinition(definition).feedback_queue.v1;

// The published service config: every SubmissionService call gets a 10 s deadline and is
// retried on UNAVAILABLE and RESOURCE_EXHAUSTED with exponential backoff. When the server says
// how long to wait (the "grpc-retry-pushback-ms" trailer of back-pressure), grpc-js waits that
// long instead. A retry is only safe because every submission carries an idempotency key (below).
const serviceConfig = fs.readFileSync(
  path.join(PROTOS, 'feedback_queue/v1/service_config.json'),
  'utf8',
);

function channelCredentials() {
  const ca = process.env.FBQ_TLS_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  return grpc.credentials.createSsl(
    fs.readFileSync(ca),
    read('FBQ_TLS_CLIENT_KEY'),
    read('FBQ_TLS_CLIENT_CERT'),
  );
}

const address = process.env.FBQ_INGEST_ADDR || '127.0.0.1:50051';
const client = new SubmissionService(address, channelCredentials(), {
  'grpc.service_config': serviceConfig,
});

// The token goes with each call as metadata. (grpc-js refuses call credentials on a plaintext
// channel, and a local ingest is usually plaintext; metadata works on both.)
function callMetadata() {
  const metadata = new grpc.Metadata();
  const token = process.env.FBQ_GRPC_TOKEN;
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

function call(method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, callMetadata(), (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

// --- The requests ---------------------------------------------------------------------------

function demoRequests() {
  const essay = {
    submitter_id: 'node-example',
    content: 'An essay about queues.',
    idempotency_key: `node-example-${randomUUID()}`,
  };
  return [
    { submission: essay },
    { submission: essay }, // the same key and payload: the first one's id, duplicate: true
    { submission: { submitter_id: 'node-example', content: 'A second essay.' } },
    { submission: { submitter_id: 'node-example', content: '   ' } }, // blank: refused alone
  ];
}

// Every submission gets an idempotency key before it is sent, so that a retry (grpc-js's own,
// from the service config, or yours after a refusal) can never enqueue it twice: the server
// answers the first one's id with duplicate: true. Keep the key to retry with it.
function withKeys(requests) {
  return requests.map((request) => {
    const submission = request.submission ?? {};
    if (submission.idempotency_key) return request;
    return { ...request, submission: { ...submission, idempotency_key: randomUUID() } };
  });
}

// --- The calls ------------------------------------------------------------------------------

// One call for all of them. The call is OK when the batch was processed, even if some items were
// refused: each outcome says, in request order. Refused items carry what a unary Submit would
// have answered (code, message, field, reason); back-pressure adds retry_after. Retry those with
// RESOURCE_EXHAUSTED or UNAVAILABLE after retry_after, with the same keys; fix the others.
async function submitBatch(requests) {
  let reply;
  try {
    reply = await call('SubmitBatch', { requests });
  } catch (error) {
    // The batch as a whole was refused and nothing was enqueued: more than FBQ_MAX_BATCH items,
    // a missing token, the server unreachable after the retries...
    if (error.code === undefined) throw error;
    emit({ call: 'SubmitBatch', refusal: describeRefusal(error) });
    return;
  }
  reply.outcomes.forEach((outcome, index) => {
    const line = { call: 'SubmitBatch', index, key: requests[index].submission.idempotency_key };
    if (outcome.outcome === 'accepted') {
      const { id, status, duplicate } = outcome.accepted;
      emit({ ...line, accepted: { id, status, duplicate } });
    } else {
      const { code, message, field, reason, retry_after } = outcome.error;
      const error = { code, code_name: codeName(code), message, field, reason };
      emit({ ...line, error: { ...error, retry_after_ms: durationMs(retry_after) } });
    }
  });
  emit({ call: 'SubmitBatch', accepted: reply.accepted, refused: reply.refused });
}

// One call per request: a refusal is the call's error, with google.rpc.Status details.
async function submitEach(requests) {
  for (const [index, request] of requests.entries()) {
    const line = { call: 'Submit', index, key: request.submission.idempotency_key };
    const started = performance.now();
    try {
      const { id, status, duplicate } = await call('Submit', request);
      line.accepted = { id, status, duplicate };
    } catch (error) {
      if (error.code === undefined) throw error;
      line.refusal = describeRefusal(error);
    }
    // How long the call took, the service config's retries included.
    line.elapsed_ms = Math.round(performance.now() - started);
    emit(line);
  }
}

// --- Output ---------------------------------------------------------------------------------

function emit(line) {
  console.log(flags.json ? JSON.stringify(line) : text(line));
}

function text(line) {
  const where = `${line.call}${line.index === undefined ? '' : ` [${line.index}]`}`;
  if (line.accepted && line.index !== undefined) {
    const { id, status, duplicate } = line.accepted;
    return `${where} accepted ${id} ${status}${duplicate ? ' (duplicate of an earlier one)' : ''}`;
  }
  if (line.error) {
    const { code_name, reason, message, retry_after_ms } = line.error;
    const wait = retry_after_ms === null ? '' : ` (retry after ${retry_after_ms} ms)`;
    return `${where} refused ${code_name} ${reason}: ${message}${wait}`;
  }
  if (line.refusal) {
    const { code_name, message, error_info, bad_request, retry_info } = line.refusal;
    const lines = [`${where} refused ${code_name}: ${message}`];
    if (error_info) lines.push(`    ErrorInfo   ${error_info.reason} (${error_info.domain})`);
    for (const { field } of bad_request) lines.push(`    BadRequest  ${field}`);
    if (retry_info) lines.push(`    RetryInfo   retry in ${retry_info.retry_delay_ms} ms`);
    return lines.join('\n');
  }
  return `${where}: ${line.accepted} accepted, ${line.refused} refused`;
}

// --- Main -----------------------------------------------------------------------------------

const file = positionals[0];
const read = (name) => fs.readFileSync(name === '-' ? process.stdin.fd : name, 'utf8');
const requests = withKeys(file ? JSON.parse(read(file)) : demoRequests());
try {
  await (flags.submit ? submitEach(requests) : submitBatch(requests));
} finally {
  client.close();
}
