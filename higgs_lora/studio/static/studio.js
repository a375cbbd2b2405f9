// higgs-lora studio: every button is one request; every view is redrawn from what the server reads
// from the project folder, so a reload (or a second tab) shows the same thing.
'use strict';
const $ = id => document.getElementById(id);
const fileUrl = path => 'api/file?path=' + encodeURIComponent(path);
let project = null;

async function api(path, body) {
  const options = body === undefined ? {} : {method: 'POST', body: JSON.stringify(body),
    headers: {'Content-Type': 'application/json', 'X-Higgs-Lora-Studio': '1'}};
  const response = await fetch('api/' + path, options);
  const answer = await response.json();
  if (!response.ok) { showError(answer.error || response.statusText); throw new Error(answer.error); }
  if (body !== undefined) showError('');  // a user's action went through; polling leaves the message
  return answer;
}
function showError(message) { $('error').hidden = !message; $('error').textContent = message; }
const quiet = promise => promise.catch(() => {});  // the error is already on the page

// --- tabs (the hash keeps the tab across a reload) ---
function showTab(name) {
  for (const tab of document.querySelectorAll('.tab')) tab.classList.toggle('active', tab.id === 'tab-' + name);
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
}
for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
showTab((location.hash || '#project').slice(1));

function fillSelect(select, values, keep = true) {
  const before = select.value;
  select.replaceChildren(...values.map(v => new Option(v, v)));
  if (keep && values.includes(before)) select.value = before;
}
function list(ul, items) { ul.replaceChildren(...items.map(text => Object.assign(document.createElement('li'), {textContent: text}))); }

// --- the project and whatever runs ---
async function refresh() {
  project = await api('state');
  $('root').textContent = project.root;
  $('busy').hidden = !project.busy;
  $('busy').textContent = project.busy ? 'running: ' + project.busy.command : '';
  list($('datasets'), project.datasets.map(d => `${d.name}: ${d.clips} clips`));
  list($('recipes'), project.recipes.map(r => `recipes/${r}.toml`));
  list($('adapters'), project.adapters.map(a => a.finished ? `${a.name}: ${a.steps} steps, loss ${a.final_loss.toFixed(3)}`
                                                             : `${a.name}: unfinished (${a.checkpoints.join(', ') || 'no checkpoint yet'})`));
  const sets = project.datasets.map(d => d.name);
  fillSelect($('review-set'), sets);
  fillSelect(document.querySelector('#recipe-form [name=dataset]'), sets);
  fillSelect($('train-recipe'), project.recipes);
  fillSelect($('recipe-open'), project.recipes);
  const finished = project.adapters.filter(a => a.finished).map(a => a.name);
  fillSelect($('listen-adapter'), finished);
  fillSelect($('use-adapter'), finished);
  const build = project.jobs.build;
  $('build-log').textContent = build.log;
  $('build-cli').textContent = build.command || '';
  const other = ['speak', 'eval', 'merge', 'export'].map(k => project.jobs[k]).filter(j => j.state !== 'none');
  other.sort((a, b) => b.started - a.started);
  $('job-log').textContent = other.length ? other[0].log : '';
  $('use-status').textContent = ['merge', 'export'].map(k => project.jobs[k]).filter(j => j.state !== 'none')
    .map(j => `${j.kind}: ${j.state}`).join(' · ');
  if (build.state === 'done' && lastBuild !== build.started) { lastBuild = build.started; $('review-set').value = $('set-name').value; loadReview(); }
  renderListen();
}
let lastBuild = null;

// --- 1. voice data ---
$('upload').addEventListener('click', async () => {
  const files = Array.from($('upload-files').files);
  if (!files.length) { showError('choose files to upload first'); return; }
  for (const file of files) await uploadOne(file.name, file);
});
async function uploadOne(name, blob) {
  $('upload-status').textContent = 'uploading ' + name + '...';
  const response = await fetch(`api/upload?set=${encodeURIComponent($('set-name').value)}&name=${encodeURIComponent(name)}`,
                               {method: 'POST', body: blob, headers: {'X-Higgs-Lora-Studio': '1'}});
  const answer = await response.json();
  if (!response.ok) { $('upload-status').textContent = 'not saved'; showError(answer.error); return; }
  showError(''); $('upload-status').textContent = answer.message; quiet(refresh());
}
let recorder = null;
$('record').addEventListener('click', async () => {
  if (recorder) { recorder.stop(); return; }
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const tap = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  tap.onaudioprocess = e => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(tap); tap.connect(context.destination);
  $('record').textContent = 'Stop recording';
  recorder = {stop: async () => {
    tap.disconnect(); source.disconnect(); stream.getTracks().forEach(t => t.stop());
    recorder = null; $('record').textContent = 'Record';
    await uploadOne(`recorded-${Date.now()}.wav`, wavBlob(chunks, context.sampleRate));
    context.close();
  }};
});
function wavBlob(chunks, rate) {  // 16-bit PCM WAV: what `dataset build` reads without a codec
  const samples = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * samples));
  const text = (at, s) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  text(0, 'RIFF'); view.setUint32(4, 36 + 2 * samples, true); text(8, 'WAVEfmt ');
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, 'data'); view.setUint32(40, 2 * samples, true);
  let at = 44;
  for (const c of chunks) for (const x of c) { view.setInt16(at, Math.max(-1, Math.min(1, x)) * 32767, true); at += 2; }
  return new Blob([view], {type: 'audio/wav'});
}
$('build').addEventListener('click', () =>
  quiet(api('build', {set: $('set-name').value, max_seconds: $('build-max-seconds').value}).then(refresh)));
$('review-set').addEventListener('change', () => quiet(loadReview()));
async function loadReview() {
  const name = $('review-set').value;
  if (!name) return;
  const data = await api('dataset?name=' + encodeURIComponent(name));
  const r = data.report;
  $('build-report').textContent = r.minutes_in === undefined ? `${data.clips.length} clips` :
    `${r.minutes_in.toFixed(1)} min in, ${r.minutes_kept.toFixed(1)} min kept in ${data.clips.length} clips; ${r.dropped} dropped by the build`;
  $('review').tBodies[0].replaceChildren(...data.clips.map(clip => {
    const row = document.createElement('tr');
    row.className = 'clip' + (clip.dropped ? ' dropped' : '');
    row.dataset.id = clip.id;
    row.innerHTML = `<td></td><td>${clip.seconds.toFixed(2)} s</td><td><audio controls preload="none"></audio></td>
      <td><input class="text"></td><td><label><input type="checkbox" class="drop"> drop</label></td>`;
    row.cells[0].textContent = clip.id;
    row.querySelector('audio').src = fileUrl(clip.audio);
    row.querySelector('input.text').value = clip.text;
    const drop = row.querySelector('input.drop');
    drop.checked = clip.dropped;
    drop.addEventListener('change', () => row.classList.toggle('dropped', drop.checked));
    return row;
  }));
}
$('save-edits').addEventListener('click', async () => {
  const edits = {};
  for (const row of document.querySelectorAll('#review tr.clip'))
    edits[row.dataset.id] = {text: row.querySelector('input.text').value, drop: row.querySelector('input.drop').checked};
  const answer = await api('edits', {name: $('review-set').value, edits}).catch(() => null);
  $('edits-status').textContent = answer ? 'saved: ' + answer.message : 'not saved';
  if (answer) quiet(refresh());
});

// --- 2. recipe: plan's verdict follows the form ---
const form = $('recipe-form');
function choices() {
  const c = Object.fromEntries(new FormData(form));
  c.voice_clone = form.elements.voice_clone.checked;
  return c;
}
let planning = 0;
async function replan() {
  const ticket = ++planning;
  $('verdict').textContent = 'planning...';
  const answer = await api('plan', choices()).catch(() => null);
  if (ticket !== planning) return;  // the user changed something since: a newer plan is coming
  if (!answer) { $('verdict').textContent = ''; return; }
  $('verdict').textContent = answer.verdict;
  $('verdict').className = 'verdict ' + (answer.fits ? 'fits' : 'nofit');
  $('plan-report').textContent = answer.report;
  $('toml').textContent = answer.toml;
  $('recipe-cli').textContent = answer.cli;
}
form.addEventListener('change', () => quiet(replan()));
$('save-recipe').addEventListener('click', async () => {
  const answer = await api('recipe', choices()).catch(() => null);
  if (!answer) return;
  $('recipe-status').textContent = 'saved ' + answer.path;
  $('toml').textContent = answer.toml;
  $('recipe-cli').textContent = answer.cli;
  await refresh();
  $('train-recipe').value = form.elements.name.value;
});

$('recipe-show').addEventListener('click', () => quiet(api('recipe?name=' + encodeURIComponent($('recipe-open').value))
  .then(r => { $('toml').textContent = r.toml; $('recipe-cli').textContent = `higgs-lora train recipes/${$('recipe-open').value}.toml`; })));

// --- 3. train: everything shown is read back from the run's folder ---
const train = mode => quiet(api('train', {recipe: $('train-recipe').value, mode}).then(refreshTrain));
$('train-start').addEventListener('click', () => train('new'));
$('train-resume').addEventListener('click', () => train('resume'));
$('train-force').addEventListener('click', () => train('force'));
$('train-stop').addEventListener('click', () => quiet(api('stop', {kind: 'train'}).then(refreshTrain)));
function duration(seconds) {
  if (seconds === null || seconds === undefined) return '-';
  const s = Math.round(seconds);
  return s < 60 ? s + ' s' : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.round(s % 3600 / 60)} min`;
}
async function refreshTrain() {
  const status = await api('train' + ($('train-recipe').value ? '?recipe=' + encodeURIComponent($('train-recipe').value) : ''));
  const job = status.job;
  if (!status.recipe) { $('train-state').textContent = 'no run yet'; return; }
  const p = status.progress;
  const running = job.state === 'running' || job.state === 'stopping';
  const ours = job.command && job.command.includes(`recipes/${status.recipe}.toml`);
  $('train-state').textContent = p.finished && !running ? 'finished' : ours ? job.state : (p.step ? 'stopped' : 'not started');
  $('train-step').textContent = p.max_steps ? `${p.step} / ${p.max_steps}` : p.step;
  $('train-rate').textContent = p.steps_per_second ? p.steps_per_second.toFixed(2) : '-';
  $('train-eta').textContent = running ? duration(p.eta_seconds) : '-';
  $('train-loss').textContent = p.losses.length ? p.losses[p.losses.length - 1][1].toFixed(3) : '-';
  $('train-cli').textContent = ours ? job.command : `higgs-lora train recipes/${status.recipe}.toml`;
  $('train-log').textContent = ours ? job.log : '';
  drawCurve(p.losses, p.max_steps);
  const steps = Object.keys(p.samples).map(Number).sort((a, b) => a - b);
  const have = Array.from($('samples').children).map(e => Number(e.dataset.step));
  if (have.join() !== steps.join()) {
    $('samples').replaceChildren(...steps.map(step => {
      const div = document.createElement('div');
      div.className = 'pair sample'; div.dataset.step = step; div.textContent = `step ${step} `;
      for (const wav of p.samples[step]) div.append(Object.assign(document.createElement('audio'),
        {controls: true, preload: 'none', src: fileUrl(`${status.adapter}/${wav}`)}));
      return div;
    }));
  }
}
function drawCurve(points, maxSteps) {
  const svg = $('loss-curve');
  const w = 640, h = 240, pad = 30;
  if (!points.length) { svg.innerHTML = `<text x="${pad}" y="${h / 2}">the loss appears at the first logged step</text>`; return; }
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x1 = Math.max(maxSteps || 0, ...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const X = s => pad + (w - 2 * pad) * s / Math.max(x1, 1);
  const Y = v => h - pad - (h - 2 * pad) * (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5);
  const line = points.map(p => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
  svg.innerHTML = `<polyline points="${line}" fill="none" stroke="#2b5fab" stroke-width="2"/>
    <line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#888"/>
    <line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#888"/>
    <text x="${pad}" y="${pad - 8}" font-size="12">loss ${y1.toFixed(2)}</text>
    <text x="${pad + 4}" y="${h - pad - 4}" font-size="12">${y0.toFixed(2)}</text>
    <text x="${w - pad - 60}" y="${h - 8}" font-size="12">step ${x1}</text>`;
  svg.dataset.points = points.length;
}

// --- 4. listen and judge; 5. use it ---
function renderListen() {
  const adapter = project.adapters.find(a => a.name === $('listen-adapter').value);
  const boxes = $('listen-checkpoints');
  const names = adapter ? adapter.checkpoints : [];
  if (boxes.dataset.names !== names.join()) {
    boxes.dataset.names = names.join();
    boxes.replaceChildren(...names.map(n => {
      const label = document.createElement('label');
      label.innerHTML = '<input type="checkbox"> ';
      label.firstChild.value = n; label.append(n);
      return label;
    }));
  }
  fillSelect($('keep-checkpoint'), names);
  const use = $('use-adapter').value;
  $('use-lines').textContent = use ? [`higgs-lora speak --adapter adapters/${use} --text "Is this really my voice?" --seed 0 --out hello.wav`,
    `higgs-lora merge adapters/${use}`, `higgs-lora export adapters/${use} --out exports/${use}.zip`, '',
    'import higgs_lora', `higgs_lora.speak("Is this really my voice?", adapter="adapters/${use}", out="hello.wav", seed=0)`,
    `higgs_lora.merge("adapters/${use}")`, `higgs_lora.export("adapters/${use}", "exports/${use}.zip")`].join('\n') : 'train an adapter first';
  const evaluation = project.jobs.eval;
  if (adapter && (evaluation.started !== lastEval || adapter.name !== evalShown)) {
    lastEval = evaluation.started; evalShown = adapter.name;
    quiet(api('eval?adapter=' + encodeURIComponent(adapter.name)).then(showEval));
  }
  const speak = project.jobs.speak;
  if (speak.state === 'done' && speak.started !== lastSpeak) { lastSpeak = speak.started; showSpoken(speak.command); }
}
let lastSpeak = null, lastEval = null, evalShown = null;
const percent = x => x === null || x === undefined ? '-' : (100 * x).toFixed(1) + ' %';
function showEval(figures) {
  $('eval-figures').tBodies[0].replaceChildren(...figures.systems.map(s => {
    const row = document.createElement('tr');
    for (const cell of [s.system, percent(s.wer), percent(s.cer), s.similarity === null ? '-' : s.similarity.toFixed(2),
                        `${s.failures}/${s.samples}`, `${s.never_stopped}/${s.samples}`])
      row.append(Object.assign(document.createElement('td'), {textContent: cell}));
    return row;
  }));
  $('eval-plot').hidden = !figures.plot;
  if (figures.plot) $('eval-plot').src = fileUrl(figures.plot) + '&t=' + Date.now();
}
function showSpoken(command) {
  const outs = [...command.matchAll(/--out (\S+)/g)].map(m => m[1]);
  $('listen-results').replaceChildren(...outs.map(out => {
    const div = document.createElement('div');
    div.className = 'pair spoken'; div.textContent = out.split('/').pop() + ' ';
    div.append(Object.assign(document.createElement('audio'), {controls: true, src: fileUrl(out) + '&t=' + Date.now()}));
    return div;
  }));
}
$('speak').addEventListener('click', () => {
  const checkpoints = Array.from($('listen-checkpoints').querySelectorAll('input:checked')).map(i => i.value);
  quiet(api('speak', {adapter: $('listen-adapter').value, text: $('listen-text').value, seed: $('listen-seed').value,
                    base: $('listen-base').checked,
                    max_seconds: $('listen-max-seconds').value, checkpoints})
    .then(a => { $('speak-cli').textContent = a.command; return refresh(); }));
});
$('eval').addEventListener('click', () => quiet(api('eval', {adapter: $('listen-adapter').value}).then(a => { $('eval-cli').textContent = a.command; })));
$('keep').addEventListener('click', () => quiet(api('keep', {adapter: $('listen-adapter').value, checkpoint: $('keep-checkpoint').value})
  .then(a => { $('keep-status').textContent = a.message + ' (' + a.cli + ')'; return refresh(); })));
$('merge').addEventListener('click', () => quiet(api('merge', {adapter: $('use-adapter').value}).then(refresh)));
$('export').addEventListener('click', () => quiet(api('export', {adapter: $('use-adapter').value}).then(refresh)));
$('listen-adapter').addEventListener('change', renderListen);
$('use-adapter').addEventListener('change', renderListen);

async function tick() {
  await quiet(refresh());
  if ($('train-recipe').value || project) await quiet(refreshTrain());
  setTimeout(tick, 1000);
}
tick().then(() => quiet(replan()));
