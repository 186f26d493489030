#!/usr/bin/env node
// Draws Sitecall's icon (a rounded blue square with a white "call signal": a dot and two arcs)
// and writes the PNGs the app and the installers use. No dependencies: a tiny PNG encoder on zlib.
//   main/assets/tray.png, main/assets/tray@2x.png   tray icon (16 and 32 px)
//   main/assets/icon.png                            window icon on Linux (256 px)
//   installer/resources/icon.png                    installers' icon (512 px)
// Run: node installer/make-icons.mjs   (the outputs are committed; rerun only to change the design)
import { deflateSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function encodePng(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Shapes in unit coordinates (0..1, y down).
function inRoundedSquare(x, y, margin, radius) {
  const lo = margin + radius;
  const hi = 1 - margin - radius;
  const dx = Math.max(lo - x, 0, x - hi);
  const dy = Math.max(lo - y, 0, y - hi);
  return x >= margin && x <= 1 - margin && y >= margin && y <= 1 - margin && dx * dx + dy * dy <= radius * radius;
}
function inGlyph(x, y, weight) {
  const cx = 0.3;
  const cy = 0.7;
  const dx = x - cx;
  const dy = cy - y;
  const r = Math.hypot(dx, dy);
  if (r <= 0.1) return true; // the dot
  if (dx < 0 || dy < 0) return false; // arcs only in the upper-right quadrant
  for (const radius of [0.27, 0.44]) if (Math.abs(r - radius) <= weight / 2) return true;
  return false;
}

function draw(size, { margin, radius, weight }) {
  const rgba = Buffer.alloc(size * size * 4);
  const samples = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let bg = 0;
      let fg = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples) / size;
          const y = (py + (sy + 0.5) / samples) / size;
          if (inRoundedSquare(x, y, margin, radius)) {
            bg++;
            if (inGlyph(x, y, weight)) fg++;
          }
        }
      }
      const n = samples * samples;
      const alpha = bg / n;
      const white = bg === 0 ? 0 : fg / bg;
      // background #0f6cbd, glyph white
      const i = (py * size + px) * 4;
      rgba[i] = Math.round(0x0f + (255 - 0x0f) * white);
      rgba[i + 1] = Math.round(0x6c + (255 - 0x6c) * white);
      rgba[i + 2] = Math.round(0xbd + (255 - 0xbd) * white);
      rgba[i + 3] = Math.round(alpha * 255);
    }
  }
  return encodePng(size, rgba);
}

const outputs = [
  ['main/assets/tray.png', 16, { margin: 0, radius: 0.2, weight: 0.12 }],
  ['main/assets/tray@2x.png', 32, { margin: 0, radius: 0.2, weight: 0.1 }],
  ['main/assets/icon.png', 256, { margin: 0.06, radius: 0.18, weight: 0.08 }],
  ['installer/resources/icon.png', 512, { margin: 0.06, radius: 0.18, weight: 0.08 }],
];
for (const [file, size, style] of outputs) {
  const target = path.join(root, file);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, draw(size, style));
  console.log(`${file} (${size}x${size})`);
}
