// Reading why Feedback Queue refused a call: the google.rpc.Status details of a gRPC error.
//
// Every refusal carries, besides its status code and message, a serialized google.rpc.Status in
// the standard `grpc-status-details-bin` trailer. Its `details` are google.protobuf.Any values:
//   google.rpc.ErrorInfo   always: domain "feedback-queue" and a stable `reason` to branch on
//                          (INVALID_FIELD, IDEMPOTENCY_KEY_CONFLICT, QUEUE_FULL, ...)
//   google.rpc.BadRequest  for INVALID_ARGUMENT (and a key conflict): the field at fault
//   google.rpc.RetryInfo   for back-pressure: how long to wait before trying again
// grpc-js hands the trailer over as raw bytes; the message types come from the googleapis
// protos that the `google-proto-files` package ships, decoded with protobufjs.
import grpc from '@grpc/grpc-js';
import protoFiles from 'google-proto-files';

const DETAILS_TRAILER = 'grpc-status-details-bin';
const googleRpc = protoFiles.loadSync([
  protoFiles.getProtoPath('rpc', 'status.proto'),
  protoFiles.getProtoPath('rpc', 'error_details.proto'),
], { keepCase: true });
const Status = googleRpc.lookupType('google.rpc.Status');
const asObject = { longs: Number, enums: String, defaults: true };

// grpc.status maps names to numbers; this maps them back ("RESOURCE_EXHAUSTED" for 8).
const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, n]) => [n, name]));

export function codeName(code) {
  return CODE_NAMES[code] ?? String(code);
}

// A google.protobuf.Duration as milliseconds (seconds may arrive as a number or a string).
export function durationMs(duration) {
  if (!duration) return null;
  return Number(duration.seconds ?? 0) * 1000 + Math.round(Number(duration.nanos ?? 0) / 1e6);
}

// The google.rpc.Status details of a failed call, or [] when the server sent none (a refusal
// made by gRPC itself, e.g. DEADLINE_EXCEEDED, has none).
export function statusDetails(error) {
  const raw = error.metadata?.get(DETAILS_TRAILER) ?? [];
  if (raw.length === 0) return [];
  const status = Status.decode(raw[0]);
  return status.details.map((any) => {
    // type_url is "type.googleapis.com/google.rpc.ErrorInfo": the part after the last "/" names
    // the message type.
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = googleRpc.lookupType(typeName);
    return { type: typeName, ...type.toObject(type.decode(any.value), asObject) };
  });
}

// Everything a caller needs to decide what to do with a refused call, as a plain object.
export function describeRefusal(error) {
  const details = statusDetails(error);
  const find = (type) => details.find((detail) => detail.type === type);
  const errorInfo = find('google.rpc.ErrorInfo');
  const badRequest = find('google.rpc.BadRequest');
  const retryInfo = find('google.rpc.RetryInfo');
  const trailer = (key) => error.metadata?.get(key)?.[0] ?? null;
  return {
    code: error.code,
    code_name: codeName(error.code),
    message: error.details,
    error_info: errorInfo
      ? { reason: errorInfo.reason, domain: errorInfo.domain, metadata: errorInfo.metadata }
      : null,
    bad_request: (badRequest?.field_violations ?? []).map(({ field, description }) => ({
      field,
      description,
    })),
    retry_info: retryInfo ? { retry_delay_ms: durationMs(retryInfo.retry_delay) } : null,
    // The same wait as plain trailers: "retry-after-ms" for any HTTP-minded client, and
    // "grpc-retry-pushback-ms", which gRPC's own retry policy honours (gRFC A6).
    trailers: {
      'retry-after-ms': trailer('retry-after-ms'),
      'grpc-retry-pushback-ms': trailer('grpc-retry-pushback-ms'),
    },
  };
}
