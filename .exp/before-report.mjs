import { statSync } from 'node:fs';
import { writeReport } from '/tmp/ddps-old/dist/pipelines/report.js';
import { findChromium, loadedPage } from '/work/wt/scale/dist/scripts/chromium.js';
const out = '/tmp/ddps-bench-imagenet/old-report';
const t0 = performance.now();
const s = await writeReport({ store: '/tmp/ddps-bench-imagenet/store', selection: '/tmp/ddps-bench-imagenet/ipc10', out, maxSources: 8, clusterRows: 4, clusterThumbs: 6 });
console.log(`old report: ${s.images} images in ${((performance.now() - t0) / 1000).toFixed(0)} s, index.html ${statSync(s.index).size} bytes`);
const t1 = performance.now();
try { const page = await loadedPage(findChromium(), s.index); console.log('old index in chromium:', JSON.stringify(page), 'wall', performance.now() - t1); }
catch (e) { console.log('chromium failed after', performance.now() - t1, 'ms:', String(e).slice(0, 300)); }
