const members = Array.from({ length: 1300 }, (_, i) => ({ key: `0123_${String(i).padStart(5, '0')}`, index: i % 10, cluster: i % 32, rank: i >> 5, distance: 0.123456789012 + i, score: 0.98765432 * i, box: [12, 40, 112, 112], shard: i % 3 }));
const a = JSON.stringify({ k: 32, dim: 1280, members, order: [...Array(32).keys()] });
const b = JSON.stringify({ k: 32, dim: 1280, members: members.map(({ score, box, shard, ...m }) => m), order: [...Array(32).keys()] });
for (const [name, s] of [['with score/box/shard', a], ['plain', b]]) {
  const t0 = performance.now(); for (let i = 0; i < 200; i++) JSON.parse(s);
  const cpu = process.cpuUsage();
  console.log(name, s.length, 'bytes', ((performance.now() - t0) / 200).toFixed(3), 'ms/parse');
}
// columnar
const col = JSON.stringify({ keys: members.map((m) => m.key), index: members.map((m) => m.index), cluster: members.map((m) => m.cluster), rank: members.map((m) => m.rank), distance: members.map((m) => m.distance), score: members.map((m) => m.score), box: members.flatMap((m) => m.box) });
let t0 = performance.now(); for (let i = 0; i < 200; i++) JSON.parse(col);
console.log('columnar', col.length, ((performance.now() - t0) / 200).toFixed(3));
