/**
 * The report's stylesheet and page script, written once to `assets/` and shared by every page (a
 * thousand class pages load them from the browser's cache).
 */

export const CSS = `
:root{--fg:#1d2430;--muted:#5d6778;--line:#e4e8ee;--bg:#f4f6f9;--card:#fff;--accent:#3b528b}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#1d2430;color:#fff;padding:24px 32px}
header h1{margin:0 0 4px;font-size:24px}
header .sub{color:#b9c2cf;margin:0 0 16px;overflow-wrap:anywhere}
header code{color:#fff}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:rgba(255,255,255,.09);border-radius:8px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}
.card span{color:#b9c2cf;font-size:11px;text-transform:uppercase;letter-spacing:.05em}
main{max-width:1240px;margin:0 auto;padding:8px 32px 48px}
section,nav.toc{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:20px 0}
h2{margin:0 0 4px;font-size:18px}
h3{font-size:12px;margin:18px 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}
.idx{display:inline-block;min-width:2.2em;padding:0 6px;border-radius:4px;background:#eef1f6;color:var(--muted);font-size:.85em;text-align:center}
.toc ol{list-style:none;padding:0;margin:8px 0 0;display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:4px 16px}
.toc li{display:flex;justify-content:space-between;gap:8px;border-bottom:1px dotted var(--line);padding:2px 0}
.toc small,.meta,.hint,.more,.none{color:var(--muted)}
.hint{font-size:12px}
a{color:#2455a4;text-decoration:none}a:hover{text-decoration:underline}
.grid{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;max-width:256px}
figure img{display:block;border-radius:4px}
img.source{width:200px;height:auto}
figure:has(img.source){max-width:200px}
img.distilled{width:160px;height:auto;image-rendering:auto}
figure:has(img.distilled){max-width:160px}
figcaption{font-size:12px;color:var(--muted);overflow-wrap:anywhere;margin-top:3px}
.missing{display:flex;align-items:center;justify-content:center;background:#f3eded;color:#9b2c2c;font-size:11px;text-align:center;padding:6px;border-radius:4px;width:128px;height:128px;overflow:hidden;overflow-wrap:anywhere}
.missing.patch{width:80px;height:80px;display:inline-flex;vertical-align:middle;margin-right:4px}
.legend{display:inline-block;width:140px;height:10px;border-radius:2px;vertical-align:middle}
.swatch{display:inline-block;width:14px;height:10px;border:2px solid;vertical-align:middle}
table{border-collapse:collapse;width:auto}
td,th{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600}
.kv th{font-weight:500;color:var(--muted);white-space:nowrap}
.num{display:block;text-align:right;font-variant-numeric:tabular-nums}
.stages td:last-child{width:320px}
.bar{height:10px;background:var(--accent);border-radius:2px;min-width:1px}
.clusters th{width:150px;font-weight:normal;color:var(--muted);font-size:12px}
.clusters b{color:var(--fg)}
.thumb img{display:inline-block;width:80px;height:80px;margin-right:4px;border-radius:3px;vertical-align:middle}
.thumb{display:inline-block}
.skipped td{font-size:12px}
.skipped td:last-child{max-width:640px;overflow-wrap:anywhere}
.cols{display:flex;flex-wrap:wrap;gap:0 48px;align-items:flex-start}
.warn{color:#9b2c2c;font-weight:600}
.problems{background:#fff6e8;border-color:#f1c27d}
#broken{background:#9b2c2c;color:#fff;padding:8px 32px;margin:0}
.top{text-align:right;font-size:12px;margin:8px 0 0}
.index{width:100%}
.index td{vertical-align:middle}
.index .pic{display:block;width:48px;height:48px;border-radius:4px;background-color:#eef1f6}
.filter{margin:8px 0 12px;padding:6px 10px;width:280px;border:1px solid var(--line);border-radius:6px;font:inherit}
nav.pager{display:flex;gap:16px;margin:0 0 12px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
`;

/**
 * On every page: flags images that did not load, for the reader (a banner) and for tests and the
 * bench (`data-images`, `data-images-ok`, `data-load-ms` on the body). Lazy images (the index's class
 * pictures) load as they scroll into view: only their errors count. On the index, the filter box
 * hides the classes whose name or index does not match.
 */
export const SCRIPT = `(function(){
var errors=0;
document.addEventListener('error',function(e){if(e.target&&e.target.tagName==='IMG'){errors++;flag()}},true);
function flag(){var p=document.getElementById('broken');if(!p||errors===0)return;p.textContent=errors+' image(s) did not load: was the img/ folder moved away from this page?';p.hidden=false}
addEventListener('load',function(){
var eager=Array.prototype.filter.call(document.images,function(i){return i.loading!=='lazy'});
var bad=eager.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).length;
var b=document.body.dataset;b.images=String(eager.length);b.lazyImages=String(document.images.length-eager.length);
b.imagesOk=String(bad===0&&errors===0);b.loadMs=String(Math.round(performance.now()));
if(bad>errors){errors=bad}flag();
});
var f=document.getElementById('filter');
if(f)f.addEventListener('input',function(){var q=f.value.trim().toLowerCase();
Array.prototype.forEach.call(document.querySelectorAll('tr[data-name]'),function(r){r.hidden=q!==''&&r.dataset.name.indexOf(q)<0})});
})();
`;
