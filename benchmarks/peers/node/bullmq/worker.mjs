// One BullMQ worker process: `node worker.mjs REDIS_URL CONCURRENCY` (0: BullMQ's default, 1).
import { Worker } from 'bullmq';

import { QUEUE, mark, redisOptions } from './common.mjs';

const [url, concurrency] = process.argv.slice(2);
const options = { connection: redisOptions(url) };
if (Number(concurrency)) options.concurrency = Number(concurrency);
const worker = new Worker(QUEUE, async (job) => mark(job.data.body), options);
worker.on('error', (error) => console.error(error));

const stop = async () => {
  await worker.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
