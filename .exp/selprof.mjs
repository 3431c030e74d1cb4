import { ScoreStore } from '../dist/storage/store/index.js';
import { selectClass } from '../dist/operators/select.js';
const store = ScoreStore.open('/tmp/ddps-bench-imagenet/store', { readOnly: true });
const N = 200;
const time = (name, f) => { const c0 = process.cpuUsage(); const t0 = performance.now(); f(); const c = process.cpuUsage(c0); console.log(name.padEnd(28), ((performance.now() - t0) / N).toFixed(3), 'ms/class wall', ((c.user + c.system) / 1000 / N).toFixed(3), 'ms/class cpu'); };
time('warm (ranking)', () => { for (let c = 0; c < N; c++) store.getClassRanking(c); });
time('getClassRanking', () => { for (let c = 0; c < N; c++) store.getClassRanking(c); });
time('classCounts', () => { for (let c = 0; c < N; c++) store.classCounts(c); });
const keys = []; for (let c = 0; c < N; c++) { const r = store.getClassRanking(c); for (let i = 0; i < 40; i++) keys.push(r.members[i * 30].key); }
time('sampleShard x40', () => { for (const k of keys) store.sampleShard(k); });
time('selectClass ipc10', () => { for (let c = 0; c < N; c++) selectClass(store, c, { ipc: 10 }); });
time('selectClass ipc100', () => { for (let c = 0; c < N; c++) selectClass(store, c, { ipc: 100 }); });
await store.close();
