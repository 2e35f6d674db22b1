/**
 * Photos and the signature, made on the phone.
 *
 * A photo is shrunk before it is stored or sent (longest side 1600 px, JPEG 0.85): a phone
 * camera's 4–12 MB original would take minutes on a weak signal, and 1600 px shows a chip or a
 * crack clearly. Its SHA-256 is taken here, so the app can tell that what the server stored is
 * byte for byte what it sent.
 */

export const LONGEST_SIDE = 1600;
export const JPEG_QUALITY = 0.85;

/** ``file`` (from the camera input) as a resized JPEG Blob, with its size and hash. */
export async function resizePhoto(file) {
  // "from-image" applies the EXIF orientation, so a portrait photo stays upright.
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, LONGEST_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff"; // a transparent PNG would otherwise turn black in a JPEG
  context.fillRect(0, 0, width, height);
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const blob = await new Promise((resolve, reject) => {
    canvas.toBlob(
      (made) => (made ? resolve(made) : reject(new Error("the photo could not be encoded"))),
      "image/jpeg",
      JPEG_QUALITY,
    );
  });
  return { blob, width, height, sha256: await sha256(blob) };
}

export async function sha256(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A canvas the customer signs with a finger (pointer events; touch-action: none in the CSS keeps
 * the page from scrolling under the finger). ``onChange(signed)`` says whether there is ink.
 */
export class SignaturePad {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.onChange = onChange;
    this.context = canvas.getContext("2d");
    this.strokes = 0;
    this.last = null;
    this.pointer = null;
    this.clear();
    canvas.addEventListener("pointerdown", (event) => this.down(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.up(event));
    canvas.addEventListener("pointercancel", (event) => this.up(event));
  }

  get signed() {
    return this.strokes > 0;
  }

  clear() {
    const { context, canvas } = this;
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.strokeStyle = "#000";
    context.lineWidth = 4;
    context.lineCap = "round";
    context.lineJoin = "round";
    this.strokes = 0;
    this.onChange(false);
  }

  /** The canvas is drawn at its own resolution and shown scaled: map the finger onto it. */
  at(event) {
    const box = this.canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) / box.width) * this.canvas.width,
      y: ((event.clientY - box.top) / box.height) * this.canvas.height,
    };
  }

  down(event) {
    if (this.pointer !== null) return; // one finger signs; a palm does not
    event.preventDefault();
    this.pointer = event.pointerId;
    this.canvas.setPointerCapture?.(event.pointerId);
    this.last = this.at(event);
    // A tap leaves a dot, not nothing.
    this.context.beginPath();
    this.context.arc(this.last.x, this.last.y, this.context.lineWidth / 2, 0, Math.PI * 2);
    this.context.fillStyle = "#000";
    this.context.fill();
  }

  move(event) {
    if (event.pointerId !== this.pointer) return;
    event.preventDefault();
    const points = event.getCoalescedEvents?.() ?? [event];
    for (const sample of points.length ? points : [event]) {
      const next = this.at(sample);
      this.context.beginPath();
      this.context.moveTo(this.last.x, this.last.y);
      this.context.lineTo(next.x, next.y);
      this.context.stroke();
      this.last = next;
    }
  }

  up(event) {
    if (event.pointerId !== this.pointer) return;
    this.pointer = null;
    this.strokes += 1;
    this.onChange(true);
  }

  /** The signature as the API takes it: a PNG data URL. */
  toDataUrl() {
    return this.canvas.toDataURL("image/png");
  }
}
