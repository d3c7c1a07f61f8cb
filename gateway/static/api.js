// The admin API as the dashboard sees it: every call sends the Bearer token, answers are JSON,
// and failures become ApiError with a kind the page acts on:
//   "auth"        401/403: back to sign-in
//   "forbidden"   403 ROLE_FORBIDS: the token is good, its role may not do this (a viewer's
//                 buttons): shown next to what was asked, the session goes on
//   "network"     the gateway did not answer (down, restarting, offline)
//   "unavailable" 502/503/504: the gateway answered, ingest or Redis did not
//   "http"        anything else (400, 404, 409, ...): shown next to what was asked

const TIMEOUT_MS = 10000;

export class ApiError extends Error {
  constructor(kind, status, detail) {
    super(detail);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.detail = detail;
  }
}

function kindOf(status, body) {
  if (status === 403 && body && body.reason === "ROLE_FORBIDS") return "forbidden";
  if (status === 401 || status === 403) return "auth";
  if (status === 502 || status === 503 || status === 504) return "unavailable";
  return "http";
}

async function readBody(response) {
  const type = response.headers.get("content-type") || "";
  if (response.status === 204 || !type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  // `accept` lists error statuses whose JSON body is still an answer (redis-health's 503).
  // `body`, when given, is sent as JSON.
  async request(method, path, accept = [], body = undefined) {
    let response;
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const timedOut = error && error.name === "TimeoutError";
      throw new ApiError(
        "network",
        0,
        timedOut ? "the gateway did not answer in time" : "the gateway does not answer",
      );
    }
    const answer = await readBody(response);
    if (response.ok || accept.includes(response.status)) return answer;
    const detail = (answer && answer.detail) || `${response.status} ${response.statusText}`;
    throw new ApiError(kindOf(response.status, answer), response.status, detail);
  }

  health() {
    return this.request("GET", "/api/admin/system/redis-health", [503]);
  }

  stats() {
    return this.request("GET", "/api/admin/queue/stats");
  }

  list(status, pageSize, pageToken) {
    const query = new URLSearchParams({ status, pageSize: String(pageSize) });
    if (pageToken) query.set("pageToken", pageToken);
    return this.request("GET", `/api/admin/submissions?${query}`);
  }

  get(id) {
    return this.request("GET", `/api/admin/submissions/${encodeURIComponent(id)}`);
  }

  retry(id) {
    return this.request("POST", `/api/admin/submissions/${encodeURIComponent(id)}/retry`);
  }

  retryAllFailed() {
    return this.request("POST", "/api/admin/submissions/retry-failed");
  }

  remove(id) {
    return this.request("DELETE", `/api/admin/submissions/${encodeURIComponent(id)}`);
  }

  cancel(id) {
    return this.request("POST", `/api/admin/submissions/${encodeURIComponent(id)}/cancel`);
  }

  // filter: { submitterId, fairnessKey, statuses, dryRun }
  cancelMatching(filter) {
    return this.request("POST", "/api/admin/submissions/cancel", [], filter);
  }

  pause() {
    return this.request("POST", "/api/admin/queue/pause");
  }

  resume() {
    return this.request("POST", "/api/admin/queue/resume");
  }

  fairShare(top) {
    return this.request("GET", `/api/admin/fair-share?top=${encodeURIComponent(String(top))}`);
  }

  // values: { weight, rate, max_active }, each optional.
  setQuota(key, values) {
    return this.request("PUT", `/api/admin/quotas/${encodeURIComponent(key)}`, [], values);
  }

  resetQuota(key) {
    return this.request("DELETE", `/api/admin/quotas/${encodeURIComponent(key)}`);
  }
}
