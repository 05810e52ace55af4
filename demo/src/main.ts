import { bundleFromZip, empiricalPValue, type PCLDetection, type PCLDetector } from 'pcl-defense';
import { attachPad, digitFromCanvas, digitFromFile, InputError, paintDigit } from './digit.js';
import { attack, BUNDLE_URL, DemoError, loadGuard, loadVictim, startEngine, verdict, type AttackName, type Verdict } from './guard.js';
import { histogramSvg } from './plot.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const message = $('message');
const spInput = $<HTMLInputElement>('sp');
const fusionSelect = $<HTMLSelectElement>('fusion');
const epsInput = $<HTMLInputElement>('eps');
const buttons = ['fgsm', 'cw', 'save-idb', 'download', 'load-url', 'clear'].map((id) => $<HTMLButtonElement>(id));

let det: PCLDetector | undefined;
let victimSha = '';
let current: { px: Float32Array; v: Verdict } | undefined;
let busy = false;

function showMessage(text: string | null): void {
  message.hidden = text === null;
  message.textContent = text ?? '';
}
function setStatus(text: string, state: 'loading' | 'ready' | 'busy' | 'error'): void {
  status.textContent = text;
  status.dataset.state = state;
}
/** Runs one user action at a time: buttons off meanwhile, every failure shown in the page. */
async function guarded(label: string, fn: () => Promise<void>): Promise<void> {
  if (busy) return;
  busy = true;
  buttons.forEach((b) => (b.disabled = true));
  const before = status.textContent ?? '';
  setStatus(`${label}…`, 'busy');
  try {
    showMessage(null);
    await fn();
    setStatus(before.endsWith('…') ? 'Ready.' : before, 'ready');
  } catch (e) {
    const known = e instanceof DemoError || e instanceof InputError || (e as Error).name === 'ManifestError' || (e as Error).name === 'ArgumentError';
    showMessage(known ? (e as Error).message : `Unexpected error: ${(e as Error).message}`);
    setStatus(det ? 'Ready (last action failed, see the message).' : 'No bundle loaded.', det ? 'ready' : 'error');
    if (!known) console.error(e);
  } finally {
    busy = false;
    buttons.forEach((b) => (b.disabled = false));
    if (!det) ['fgsm', 'cw', 'save-idb', 'download'].forEach((id) => ($<HTMLButtonElement>(id).disabled = true));
    if (!current) ['fgsm', 'cw'].forEach((id) => ($<HTMLButtonElement>(id).disabled = true));
  }
}

const sp = () => Number(spInput.value);
const fusion = () => fusionSelect.value as 'or' | 'calibrated';

function renderProbs(probs: Float32Array): void {
  const top = probs.indexOf(Math.max(...probs));
  $('probs').innerHTML = Array.from(probs, (p, k) => `<div class="${k === top ? 'top' : ''}" style="height:${(100 * p).toFixed(1)}%" title="${k}: ${(100 * p).toFixed(1)} %"><span>${k}</span></div>`).join('');
}

function renderDetection(d: PCLDetection): void {
  const k = d.yPred[0];
  $('victim-class').textContent = String(k);
  const adv = d.adversarial[0] === 1;
  $('verdict').textContent = adv ? 'ADVERSARIAL' : 'clean';
  $('verdict').dataset.verdict = adv ? 'adversarial' : 'clean';
  const parts = det!.defenders.map((def, j) => {
    const s = d.scores[j][0];
    const clean = def.trainScores(k);
    const thr = def.thresholds(det!.spFor(def.label, sp()))[k];
    const raw = def.rawFromScore(s);
    const unit = def.kind === 'InputDefender' ? 'dB PSNR' : 'log-likelihood';
    const p = empiricalPValue(clean, s);
    return `<div class="defender" data-label="${def.label}" data-alarm="${d.alarms[j][0]}">
      <b>${def.label}</b> <span class="${d.alarms[j][0] ? 'alarm' : 'ok'}">${d.alarms[j][0] ? 'alarm' : 'quiet'}</span>
      · score ${s.toFixed(2)} (${unit} ${raw.toFixed(2)}) · p = ${p.toFixed(3)} among ${clean.length} clean training digits of class ${k}
      ${histogramSvg(clean, s, thr)}</div>`;
  });
  if (d.fused) parts.push(`<div class="defender">calibrated fusion: fused score ${d.fused[0].toFixed(2)}</div>`);
  $('defenders').innerHTML = parts.join('');
}

async function evaluate(px: Float32Array): Promise<void> {
  paintDigit($<HTMLCanvasElement>('seen'), px);
  const v = await verdict(det!, px, sp(), fusion());
  current = { px, v };
  renderProbs(v.probs);
  renderDetection(v.detection);
  $('attack-result').hidden = true;
}

/** SP or rule changed: re-decide from the stored scores (no model evaluation, no refit). */
function redecide(): void {
  $('sp-out').textContent = `${sp().toFixed(1)} %`;
  if (!det || !current) return;
  try {
    current.v.detection = det.decide(current.v.detection, sp(), fusion());
    renderDetection(current.v.detection);
  } catch (e) {
    showMessage((e as Error).message);
  }
}

async function runAttackButton(which: AttackName): Promise<void> {
  if (!current) throw new InputError('Draw or load a digit first.');
  const label = current.v.detection.yPred[0];
  const out = await attack(det!, current.px, label, which, Number(epsInput.value));
  const v = await verdict(det!, out.adversarial, sp(), fusion());
  paintDigit($<HTMLCanvasElement>('adv'), out.adversarial);
  $('attack-result').hidden = false;
  $('adv-name').textContent = which === 'fgsm' ? `FGSM ε = ${Number(epsInput.value).toFixed(2)}` : 'C&W L2';
  $('adv-norm').textContent = `L2 ${out.l2.toFixed(2)}, L∞ ${out.linf.toFixed(2)}, ${out.seconds.toFixed(1)} s`;
  $('adv-class').textContent = String(v.detection.yPred[0]);
  $('adv-success').textContent = out.success ? `(was ${label}: the attack fooled the victim)` : `(still ${label}: the attack failed)`;
  const flagged = v.detection.adversarial[0] === 1;
  const which_ = det!.defenders.map((d, j) => `${d.label} ${v.detection.alarms[j][0] ? 'alarm' : 'quiet'}`).join(', ');
  $('adv-verdict').textContent = `${flagged ? 'flags it: ADVERSARIAL' : 'does not flag it'} (${which_})`;
  $('adv-verdict').dataset.verdict = flagged ? 'adversarial' : 'clean';
  $('attack-result').dataset.success = String(out.success);
}

async function useBundle(where: Parameters<typeof loadGuard>[0], what: string): Promise<void> {
  const next = await loadGuard(where, victimSha);
  det?.dispose();
  det = next;
  $('bundle-info').textContent = `${what}: ${det.defenders.map((d) => d.label).join(' + ')}; fusion ${det.fusionModel?.method ?? 'none'}; SP ${det.params.sp} %`;
  if (current) await evaluate(current.px);
}

async function handleFile(file: File): Promise<void> {
  if (file.name.endsWith('.zip')) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    await useBundle(bundleFromZip(bytes, file.name), `bundle ${file.name}`);
    return;
  }
  const px = await digitFromFile(file);
  paintDigit($<HTMLCanvasElement>('pad'), px);
  await evaluate(px);
}

async function boot(): Promise<void> {
  const t0 = performance.now();
  const engine = await startEngine();
  const victim = await loadVictim();
  victimSha = victim.weightsSha;
  victim.model.dispose();
  await useBundle(BUNDLE_URL, 'bundle models/mnist/pcl');
  const ms = performance.now() - t0;
  document.body.dataset.readyMs = ms.toFixed(0);
  setStatus(`Ready in ${(ms / 1000).toFixed(2)} s (TensorFlow.js ${engine.tfjsVersion}, ${engine.backend}${engine.simd ? ' + SIMD' : ''}). Draw a digit.`, 'ready');
}

const pad = attachPad($<HTMLCanvasElement>('pad'), () => {
  const px = digitFromCanvas($<HTMLCanvasElement>('pad'));
  if (px && det) void guarded('Scoring', () => evaluate(px));
});
$('clear').addEventListener('click', () => {
  pad.clear();
  current = undefined;
  ['fgsm', 'cw'].forEach((id) => ($<HTMLButtonElement>(id).disabled = true));
});
$('fgsm').addEventListener('click', () => void guarded('Running FGSM', () => runAttackButton('fgsm')));
$('cw').addEventListener('click', () => void guarded('Running C&W L2 (a few seconds)', () => runAttackButton('cw')));
spInput.addEventListener('input', redecide);
fusionSelect.addEventListener('change', redecide);
epsInput.addEventListener('input', () => ($('eps-out').textContent = Number(epsInput.value).toFixed(2)));
$('file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  (e.target as HTMLInputElement).value = '';
  if (f) void guarded(`Reading ${f.name}`, () => handleFile(f));
});
$('load-url').addEventListener('click', () => {
  const url = $<HTMLInputElement>('bundle-url').value.trim();
  void guarded(`Loading ${url}`, async () => {
    if (!url) throw new InputError('Type a bundle URL (https://…/manifest.json) or indexeddb://NAME first.');
    await useBundle(new URL(url, document.baseURI).protocol.startsWith('http') ? new URL(url, document.baseURI).href : url, url);
  });
});
$('save-idb').addEventListener('click', () => void guarded('Saving to IndexedDB', async () => {
  await det!.save('indexeddb://pcl-mnist');
  $('bundle-info').textContent += ' · saved to indexeddb://pcl-mnist';
}));
$('download').addEventListener('click', () => void guarded('Packing the bundle', () => det!.save('downloads://pcl-mnist')));
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const f = e.dataTransfer?.files?.[0];
  if (f) void guarded(`Reading ${f.name}`, () => handleFile(f));
});

busy = true;
boot()
  .catch((e) => {
    showMessage(`Could not start: ${(e as Error).message}`);
    setStatus('Not ready.', 'error');
  })
  .finally(() => {
    busy = false;
    buttons.forEach((b) => (b.disabled = false));
    ['fgsm', 'cw'].forEach((id) => ($<HTMLButtonElement>(id).disabled = true));
    if (!det) ['save-idb', 'download'].forEach((id) => ($<HTMLButtonElement>(id).disabled = true));
  });
