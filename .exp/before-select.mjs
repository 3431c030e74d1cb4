import { selectFromStore } from '/tmp/ddps-old/dist/pipelines/rank.js';
import { ScoreStore } from '/tmp/ddps-old/dist/storage/store/index.js';
const store = ScoreStore.open('/tmp/ddps-bench-imagenet/store', { readOnly: true });
for (const ipc of [10, 50, 100]) { const t0 = performance.now(); selectFromStore(store, { ipc }); console.log(`old select IPC ${ipc}: ${(performance.now() - t0).toFixed(0)} ms`); }
await store.close();
