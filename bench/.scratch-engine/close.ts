import { WorkerPool } from '../../src/engine/pool.js';
const TASKS = new URL('../../test/engine/pool-tasks.ts', import.meta.url);
const pool = new WorkerPool({ size: 2 });
const pending = pool.map(TASKS, 'spin', [{ ms: 5000 }, { ms: 5000 }, { ms: 5000 }]);
pending.catch((e) => console.log('rejected', e.message));
await new Promise((r) => setTimeout(r, Number(process.argv[2] ?? 50)));
await pool.close();
console.log('closed');
