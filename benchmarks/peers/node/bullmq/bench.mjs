// BullMQ adapter: the protocol of benchmarks/peers/common.py, one JSON line per command.
//   node bench.mjs --redis URL enqueue --jobs N [--bulk] | drain --jobs N --concurrency C
//                  | latency --rate R --seconds S --concurrency C | memory --jobs N | versions
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

import { Queue } from 'bullmq';
import IORedis from 'ioredis';

import {
  QUEUE,
  WorkerProcess,
  drainRate,
  emit,
  latencyStats,
  payload,
  producePaced,
  redisOptions,
} from './common.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    jobs: { type: 'string', default: '0' },
    bulk: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '0' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
  },
});
const [command] = positionals;
const jobs = Number(values.jobs);

function versions() {
  const require = createRequire(import.meta.url);
  const version = (name) =>
    JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  return { bullmq: version('bullmq'), ioredis: version('ioredis'), node: process.versions.node };
}

async function enqueue(queue, count, bulk) {
  if (!bulk) {
    for (let i = 0; i < count; i += 1) await queue.add('job', { body: payload() });
    return;
  }
  for (let start = 0; start < count; start += 1000) {
    const size = Math.min(1000, count - start);
    await queue.addBulk(Array.from({ length: size }, () => ({ name: 'job', data: { body: payload() } })));
  }
}

async function usedMemory(client) {
  const info = await client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

async function main() {
  if (command === 'versions') return emit(versions());
  const client = new IORedis(redisOptions(values.redis));
  await client.flushall();
  const queue = new Queue(QUEUE, { connection: redisOptions(values.redis) });
  const worker = () => new WorkerProcess([values.redis, values.concurrency]);
  try {
    if (command === 'enqueue') {
      const started = performance.now();
      await enqueue(queue, jobs, values.bulk);
      emit({ jobs_per_s: jobs / ((performance.now() - started) / 1000) });
    } else if (command === 'drain') {
      await enqueue(queue, jobs, true);
      const run = worker();
      try {
        emit({ jobs_per_s: drainRate(await run.wait(jobs)) });
      } finally {
        await run.stop();
      }
    } else if (command === 'latency') {
      await enqueue(queue, 1, false);
      const run = worker();
      try {
        await run.wait(1);
        const submit = (body) => queue.add('job', { body });
        const count = await producePaced(Number(values.rate), Number(values.seconds), submit);
        emit(latencyStats(await run.wait(1 + count)));
      } finally {
        await run.stop();
      }
    } else if (command === 'memory') {
      // One job first, uncounted: it loads the Lua scripts and makes the per-queue keys.
      await enqueue(queue, 1, true);
      const before = await usedMemory(client);
      await enqueue(queue, jobs, true);
      emit({ bytes_per_job: ((await usedMemory(client)) - before) / jobs });
    } else {
      throw new Error(`unknown command ${command}`);
    }
  } finally {
    await queue.close();
    client.disconnect();
  }
}

await main();
