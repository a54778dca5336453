// The report page's behaviour (aspectbucket.report.html inlines this file): lazy tables, the gallery built
// from the JSON columns in #report-data (filters, search, order, pages of cards, click to enlarge), and the
// charts' tooltips and clicks. Every file name is inserted as text, never as HTML. No library, no network.
(function () {
'use strict';
function byId(id) { return document.getElementById(id); }
function buildTable(details) {
  var data = JSON.parse(details.querySelector('script[type="application/json"]').textContent);
  var table = document.createElement('table');
  var headRow = table.createTHead().insertRow();
  data.head.forEach(function (name) {
    var cell = document.createElement('th'); cell.textContent = name; headRow.appendChild(cell);
  });
  var body = table.createTBody();
  data.rows.forEach(function (cells) {
    var row = body.insertRow();
    cells.forEach(function (text) { row.insertCell().textContent = text; });
  });
  var wrap = document.createElement('div'); wrap.className = 'scroll'; wrap.appendChild(table);
  details.appendChild(wrap);
}
document.querySelectorAll('details.lazy').forEach(function (details) {
  details.addEventListener('toggle', function () {
    if (details.open && !details.querySelector('table')) { buildTable(details); }
  });
});
var dataNode = byId('report-data');
if (!dataNode) { return; }
var D = JSON.parse(dataNode.textContent);
var P = JSON.parse(byId('report-previews').textContent);
var I = D.images, B = D.buckets, COUNT = I.name.length, PAGE = 60;
var state = {bucket: '', up: false, cut: 0, warn: false, q: '', sort: 'bucket', limit: PAGE};
function pct(value) { return (value * 100).toFixed(1) + ' %'; }
function bucketName(i) { return I.b[i] < 0 ? 'not placed' : B[I.b[i]].label; }
function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined) { node.textContent = text; }
  return node;
}
function badges(i) {
  var list = [];
  if (I.err[i]) { list.push(['not placed', 'err']); }
  if (I.up[i]) { list.push(['upscaled ' + I.scale[i].toFixed(2) + 'x', 'up']); }
  if (I.exif[i] > 1) { list.push(['EXIF ' + I.exif[i] + ' ' + D.exif, 'exif']); }
  if (I.warn[i] && !I.err[i]) { list.push(['warning', 'warn']); }
  return list;
}
function picture(i, most) {
  var w = I.w[i] || 1, h = I.h[i] || 1, scale = Math.min(most[0] / w, most[1] / h);
  var box = el('div', 'pic');
  box.style.width = Math.max(1, Math.round(w * scale)) + 'px';
  box.style.height = Math.max(1, Math.round(h * scale)) + 'px';
  if (I.p[i] >= 0) {
    var img = el('img'); img.src = 'data:image/jpeg;base64,' + P[I.p[i]]; img.alt = I.name[i]; box.appendChild(img);
  }
  var win = I.win[i];
  if (win) {
    var keep = el('div', 'keep');
    keep.style.left = win[0] * 100 + '%'; keep.style.top = win[1] * 100 + '%';
    keep.style.width = (win[2] - win[0]) * 100 + '%'; keep.style.height = (win[3] - win[1]) * 100 + '%';
    box.appendChild(keep);
  }
  return box;
}
function summaryLine(i) {
  if (I.err[i]) { return I.w[i] + 'x' + I.h[i] + ': ' + I.err[i]; }
  var at = I.tr && I.tr[i] ? ' at ' + I.tr[i] : '';
  return I.w[i] + 'x' + I.h[i] + at + ' -> ' + bucketName(i) + ', cut ' + pct(I.loss[i]);
}
function card(i) {
  var figure = el('figure', 'card'); figure.id = 'img-' + i; figure.dataset.i = i;
  figure.appendChild(picture(i, [172, 172]));
  var caption = el('figcaption');
  caption.appendChild(el('div', 'name', I.name[i]));
  caption.appendChild(el('div', '', summaryLine(i)));
  badges(i).forEach(function (badge) { caption.appendChild(el('span', 'badge ' + badge[1], badge[0])); });
  figure.appendChild(caption);
  figure.addEventListener('click', function () { enlarge(i); });
  return figure;
}
function matches(i) {
  if (state.bucket === 'none' && I.b[i] >= 0) { return false; }
  if (state.bucket && state.bucket !== 'none' && (I.b[i] < 0 || B[I.b[i]].key !== state.bucket)) { return false; }
  if (state.up && !I.up[i]) { return false; }
  if (state.cut > 0 && !(I.loss[i] * 100 > state.cut)) { return false; }
  if (state.warn && !I.warn[i]) { return false; }
  return !state.q || I.name[i].toLowerCase().indexOf(state.q) >= 0;
}
function ordered() {
  var list = [];
  for (var i = 0; i < COUNT; i++) { if (matches(i)) { list.push(i); } }
  var by = {
    bucket: function (a, b) {
      var x = I.b[a] < 0 ? 1e9 : I.b[a], y = I.b[b] < 0 ? 1e9 : I.b[b];
      return x - y || I.loss[b] - I.loss[a] || a - b;
    },
    worst: function (a, b) { return I.loss[b] - I.loss[a] || a - b; },
    least: function (a, b) { return I.loss[a] - I.loss[b] || a - b; },
    name: function (a, b) { return I.name[a] < I.name[b] ? -1 : I.name[a] > I.name[b] ? 1 : a - b; }
  };
  return list.sort(by[state.sort]);
}
function render() {
  var list = ordered(), box = byId('cards'), shown = list.slice(0, state.limit), last = null;
  box.textContent = '';
  var fragment = document.createDocumentFragment();
  shown.forEach(function (i) {
    if (state.sort === 'bucket' && I.b[i] !== last) {
      last = I.b[i];
      var count = I.b[i] >= 0 ? B[I.b[i]].images : 0;
      var heading = el('h3', '', bucketName(i) + (count ? ', ' + count + (count === 1 ? ' image' : ' images') : ''));
      if (I.b[i] >= 0) { heading.id = 'bucket-' + B[I.b[i]].key; }
      fragment.appendChild(heading);
    }
    fragment.appendChild(card(i));
  });
  box.appendChild(fragment);
  byId('f-count').textContent = 'showing ' + shown.length + ' of ' + list.length + ' matching images (' +
    COUNT + ' in all)';
  var more = byId('more');
  more.hidden = shown.length >= list.length;
  more.textContent = 'show ' + Math.min(PAGE, list.length - shown.length) + ' more';
  return list;
}
function update() { state.limit = PAGE; render(); }
function enlarge(i) {
  var box = byId('lightbox'), inner = box.querySelector('.inner');
  inner.querySelectorAll('.pic, .facts').forEach(function (node) { node.remove(); });
  inner.appendChild(picture(i, [window.innerWidth * 0.9, window.innerHeight * 0.72]));
  var facts = el('div', 'facts');
  facts.appendChild(el('h3', 'name', I.name[i]));
  facts.appendChild(el('div', '', summaryLine(i)));
  if (!I.err[i]) {
    facts.appendChild(el('div', '', 'resized to ' + I.rw[i] + 'x' + I.rh[i] + ' (scale ' + I.scale[i].toFixed(3) +
      '), then cropped to the bucket' + (I.p[i] < 0 ? '; no preview for this image, its shape is shown' : '')));
  }
  badges(i).forEach(function (badge) { facts.appendChild(el('span', 'badge ' + badge[1], badge[0])); });
  (D.wd[String(i)] || []).forEach(function (text) { facts.appendChild(el('div', 'muted', text)); });
  inner.appendChild(facts);
  box.hidden = false;
  box.querySelector('.close').focus();
}
function closeBox() { byId('lightbox').hidden = true; }
function reveal(i) {
  state = {bucket: I.b[i] >= 0 ? B[I.b[i]].key : 'none', up: false, cut: 0, warn: false, q: '', sort: 'bucket',
    limit: PAGE};
  syncControls();
  var list = ordered(), position = list.indexOf(i);
  state.limit = Math.max(PAGE, position + 1);
  render();
  var target = byId('img-' + i);
  target.scrollIntoView({block: 'center'});
  target.classList.add('flash');
  setTimeout(function () { target.classList.remove('flash'); }, 1600);
}
function syncControls() {
  byId('f-bucket').value = state.bucket; byId('f-up').checked = state.up; byId('f-cut').value = state.cut;
  byId('f-warn').checked = state.warn; byId('f-search').value = state.q; byId('f-sort').value = state.sort;
}
var select = byId('f-bucket');
B.forEach(function (bucket) { select.appendChild(new Option(bucket.label, bucket.key)); });
if (I.b.indexOf(-1) >= 0) { select.appendChild(new Option('not placed', 'none')); }
select.addEventListener('change', function () { state.bucket = select.value; update(); });
byId('f-up').addEventListener('change', function (event) { state.up = event.target.checked; update(); });
byId('f-warn').addEventListener('change', function (event) { state.warn = event.target.checked; update(); });
byId('f-cut').addEventListener('input', function (event) { state.cut = +event.target.value || 0; update(); });
byId('f-search').addEventListener('input', function (event) {
  state.q = event.target.value.trim().toLowerCase(); update();
});
byId('f-sort').addEventListener('change', function (event) { state.sort = event.target.value; update(); });
byId('more').addEventListener('click', function () { state.limit += PAGE; render(); });
var tip = byId('tip');
document.querySelectorAll('svg .dot').forEach(function (dot) {
  var i = +dot.dataset.i;
  dot.addEventListener('mouseenter', function (event) {
    tip.textContent = I.name[i] + '\n' + I.w[i] + 'x' + I.h[i] + ', ' + bucketName(i) + '\ncut ' + pct(I.loss[i]) +
      (I.up[i] ? ', upscaled ' + I.scale[i].toFixed(2) + 'x' : '');
    tip.hidden = false;
    tip.style.left = Math.min(event.clientX + 12, window.innerWidth - 300) + 'px';
    tip.style.top = event.clientY + 12 + 'px';
  });
  dot.addEventListener('mouseleave', function () { tip.hidden = true; });
  dot.addEventListener('click', function () { tip.hidden = true; reveal(i); });
});
document.querySelectorAll('svg .bar').forEach(function (bar) {
  bar.addEventListener('click', function () {
    state.bucket = bar.dataset.b; state.sort = 'bucket'; syncControls(); update();
    byId('gallery').scrollIntoView();
  });
});
byId('lightbox').addEventListener('click', function (event) {
  if (event.target.id === 'lightbox' || event.target.classList.contains('close')) { closeBox(); }
});
document.addEventListener('keydown', function (event) { if (event.key === 'Escape') { closeBox(); } });
if (location.hash === '#worst') { state.sort = 'worst'; syncControls(); }
byId('worst-link').addEventListener('click', function () { state.sort = 'worst'; syncControls(); update(); });
render();
})();
