/**
 * Turning what the user draws or drops into a 28×28 MNIST-like image in [0,1] (white digit on black,
 * the digit's bounding box scaled to 20×20 and centred by its centre of mass, as MNIST was made).
 */

/** Largest image file and side the demo decodes (bigger ones get a message, not a frozen tab). */
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
export const MAX_IMAGE_SIDE = 4096;

/** A user-facing error: shown in the page as is. */
export class InputError extends Error {}

/** Grey levels in [0,1] of an RGBA image, white = 1 (ink). Light backgrounds are inverted. */
function toInk(img: ImageData): Float32Array {
  const { data, width, height } = img;
  const g = new Float32Array(width * height);
  let border = 0;
  let nb = 0;
  for (let i = 0; i < width * height; i++) {
    const a = data[4 * i + 3] / 255;
    // transparent pixels count as background (black)
    g[i] = (a * (0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2])) / 255;
    const x = i % width;
    const y = Math.floor(i / width);
    if (x === 0 || y === 0 || x === width - 1 || y === height - 1) {
      border += g[i];
      nb++;
    }
  }
  // a photo or scan of dark ink on light paper: invert so the digit is white on black
  if (nb > 0 && border / nb > 0.5) for (let i = 0; i < g.length; i++) g[i] = 1 - g[i];
  return g;
}

/** MNIST-style 28×28 from a grey image (ink = 1): bounding box → 20×20 → centred by mass. Null when blank. */
export function mnistFromInk(ink: Float32Array, width: number, height: number): Float32Array | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > 0.1) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const w = Math.max(1, Math.round(bw * scale));
  const h = Math.max(1, Math.round(bh * scale));
  // box-filter resample of the bounding box to w×h
  const small = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx0 = x0 + x / scale;
      const sy0 = y0 + y / scale;
      const sx1 = x0 + (x + 1) / scale;
      const sy1 = y0 + (y + 1) / scale;
      let s = 0;
      let n = 0;
      for (let yy = Math.floor(sy0); yy < Math.max(Math.ceil(sy1), Math.floor(sy0) + 1); yy++) {
        for (let xx = Math.floor(sx0); xx < Math.max(Math.ceil(sx1), Math.floor(sx0) + 1); xx++) {
          if (xx < width && yy < height) {
            s += ink[yy * width + xx];
            n++;
          }
        }
      }
      small[y * w + x] = n ? s / n : 0;
    }
  }
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = small[y * w + x];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  const ox = Math.round(14 - (mass ? cx / mass : w / 2));
  const oy = Math.round(14 - (mass ? cy / mass : h / 2));
  const out = new Float32Array(28 * 28);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const tx = x + ox;
      const ty = y + oy;
      if (tx >= 0 && tx < 28 && ty >= 0 && ty < 28) out[ty * 28 + tx] = Math.min(1, small[y * w + x]);
    }
  }
  return out;
}

/** The drawing pad's content as a 28×28 digit, or null when nothing is drawn. */
export function digitFromCanvas(c: HTMLCanvasElement): Float32Array | null {
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  return mnistFromInk(toInk(ctx.getImageData(0, 0, c.width, c.height)), c.width, c.height);
}

/**
 * Decodes an image file into a 28×28 digit. A 28×28 image is taken as is (an MNIST digit);
 * anything else is preprocessed like a drawing. Throws {@link InputError} with a message for the page.
 */
export async function digitFromFile(file: File): Promise<Float32Array> {
  if (file.size > MAX_IMAGE_BYTES) {
    throw new InputError(`'${file.name}' is ${(file.size / 1048576).toFixed(1)} MB; the demo takes images up to ${MAX_IMAGE_BYTES / 1048576} MB`);
  }
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file);
  } catch {
    throw new InputError(`'${file.name}' is not an image this browser can decode (type: ${file.type || 'unknown'}); drop a PNG or JPEG of a digit`);
  }
  try {
    if (bmp.width > MAX_IMAGE_SIDE || bmp.height > MAX_IMAGE_SIDE) {
      throw new InputError(`'${file.name}' is ${bmp.width}×${bmp.height} pixels; the demo takes images up to ${MAX_IMAGE_SIDE}×${MAX_IMAGE_SIDE}`);
    }
    const c = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = c.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(bmp, 0, 0);
    const ink = toInk(ctx.getImageData(0, 0, bmp.width, bmp.height));
    if (bmp.width === 28 && bmp.height === 28) return ink;
    const d = mnistFromInk(ink, bmp.width, bmp.height);
    if (!d) throw new InputError(`'${file.name}' is blank: no digit found`);
    return d;
  } finally {
    bmp.close();
  }
}

/** Paints a 28×28 image in [0,1] onto a canvas (scaled, nearest neighbour). */
export function paintDigit(c: HTMLCanvasElement, px: Float32Array): void {
  const img = new ImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(Math.max(0, Math.min(1, px[i])) * 255);
    img.data.set([v, v, v, 255], 4 * i);
  }
  const tmp = new OffscreenCanvas(28, 28);
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  const ctx = c.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, c.width, c.height);
}

/** Wires freehand drawing (mouse, pen, touch) on the pad; calls `onStroke` when a stroke ends. */
export function attachPad(c: HTMLCanvasElement, onStroke: () => void): { clear(): void } {
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, c.width, c.height);
  };
  clear();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 20;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  let drawing = false;
  const pos = (e: PointerEvent) => {
    const r = c.getBoundingClientRect();
    return [((e.clientX - r.left) * c.width) / r.width, ((e.clientY - r.top) * c.height) / r.height] as const;
  };
  c.addEventListener('pointerdown', (e) => {
    drawing = true;
    c.setPointerCapture(e.pointerId);
    const [x, y] = pos(e);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 0.1, y);
    ctx.stroke();
  });
  c.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [x, y] = pos(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    onStroke();
  };
  c.addEventListener('pointerup', end);
  c.addEventListener('pointercancel', end);
  return { clear };
}
