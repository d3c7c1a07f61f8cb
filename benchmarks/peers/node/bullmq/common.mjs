// The Node side of benchmarks/peers/common.py: the same payload, marks and measures.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const PAYLOAD_CHARS = 200;
export const QUEUE = 'bench';
export const MARKS_ENV = 'FBQ_PEERS_MARKS';
const WAIT_TIMEOUT_MS = 600_000;

// Wall-clock seconds with microseconds, on the same clock as Python's time.time().
export const now = () => (performance.timeOrigin + performance.now()) / 1000;

export function payload(submitted) {
  const head = submitted === undefined ? '' : `${submitted.toFixed(6)}|`;
  return head + 'x'.repeat(PAYLOAD_CHARS - head.length);
}

let marksFd = null;

// The whole job: note when it started, in this process's own marks file.
export function mark(body) {
  const started = now();
  if (marksFd === null) {
    marksFd = fs.openSync(path.join(process.env[MARKS_ENV], `${process.pid}.marks`), 'a');
  }
  fs.writeSync(marksFd, `${started.toFixed(6)} ${body.slice(0, 24)}\n`);
}

export function readMarks(folder) {
  const found = [];
  for (const name of fs.readdirSync(folder)) {
    if (!name.endsWith('.marks')) continue;
    for (const line of fs.readFileSync(path.join(folder, name), 'utf8').split('\n')) {
      const space = line.indexOf(' ');
      if (space > 0) found.push([Number(line.slice(0, space)), line.slice(space + 1)]);
    }
  }
  return found;
}

export function drainRate(marks) {
  const starts = marks.map(([start]) => start).sort((a, b) => a - b);
  return (starts.length - 1) / (starts[starts.length - 1] - starts[0]);
}

export function latencyStats(marks) {
  const waits = marks
    .filter(([, head]) => head.includes('|'))
    .map(([start, head]) => (start - Number(head.split('|')[0])) * 1000)
    .sort((a, b) => a - b);
  if (waits.length === 0) throw new Error('no latency payload was started');
  const mid = waits.length / 2;
  const p50 = waits.length % 2 ? waits[Math.floor(mid)] : (waits[mid - 1] + waits[mid]) / 2;
  const p99 = waits[Math.min(waits.length - 1, Math.round(0.99 * (waits.length - 1)))];
  return { p50_ms: p50, p99_ms: p99, max_ms: waits[waits.length - 1], samples: waits.length };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A worker process (worker.mjs) with its own marks folder; stopped with its process group.
export class WorkerProcess {
  constructor(args) {
    this.folder = fs.mkdtempSync(path.join(os.tmpdir(), 'fbq-peers-'));
    const log = fs.openSync(path.join(this.folder, 'worker.log'), 'w');
    const script = new URL('./worker.mjs', import.meta.url).pathname;
    this.child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, [MARKS_ENV]: this.folder },
      stdio: ['ignore', log, log],
      detached: true,
    });
    this.exited = false;
    this.child.on('exit', () => {
      this.exited = true;
    });
    fs.closeSync(log);
  }

  async wait(count) {
    const deadline = Date.now() + WAIT_TIMEOUT_MS;
    for (;;) {
      const marks = readMarks(this.folder);
      if (marks.length >= count) return marks;
      if (this.exited || Date.now() > deadline) {
        const tail = fs.readFileSync(path.join(this.folder, 'worker.log'), 'utf8').slice(-2000);
        throw new Error(`${marks.length} of ${count} jobs started; worker log:\n${tail}`);
      }
      await sleep(20);
    }
  }

  async stop() {
    if (!this.exited) {
      const gone = new Promise((resolve) => this.child.on('exit', resolve));
      process.kill(-this.child.pid, 'SIGTERM');
      const timer = setTimeout(() => process.kill(-this.child.pid, 'SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    fs.rmSync(this.folder, { recursive: true, force: true });
  }
}

// Submit latency payloads at `rate` per second for `seconds`; how many.
export async function producePaced(rate, seconds, submit) {
  const count = Math.round(rate * seconds);
  const start = performance.now() + 50;
  for (let i = 0; i < count; i += 1) {
    const delay = start + (i * 1000) / rate - performance.now();
    if (delay > 0) await sleep(delay);
    await submit(payload(now()));
  }
  return count;
}

export function redisOptions(url) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    db: Number(parsed.pathname.slice(1) || 0),
    maxRetriesPerRequest: null,
  };
}

export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
