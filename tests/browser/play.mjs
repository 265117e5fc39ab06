#!/usr/bin/env node
// Plays one stream in Debian's headless Chromium and judges it: the real-browser check of the
// relay's HLS (hls.js), DASH (dash.js) and HTTP-FLV (mpegts.js) outputs.
//
// What it does: serves player.html and node_modules/ from a static server on 127.0.0.1 (an
// http:// page, so the players' workers and fetches run as on a web site; the stream itself is
// fetched cross-origin, which the relay allows with CORS), opens the page in Chromium (driven by
// puppeteer-core over a pipe, no browser download), waits until the <video>'s currentTime has
// advanced by --advance seconds from where playback began, then draws the video to a canvas and
// measures the decoded picture's luma (mean and standard deviation: a black or uniform frame
// fails), saves a screenshot, and prints ONE JSON line on stdout:
//   {"kind","lowLatency","src","ok","currentTimeAdvanced","meanLuma","lumaStdDev","latency",
//    "targetLatency","library","videoFrames","droppedFrames","audioDecodedBytes","videoWidth",
//    "videoHeight","screenshot","pictureDelay","pictureDelays","errors":[...]}
// --clock: also read the wall-clock strip the test publisher burns into the picture and report
// "pictureDelay" (seconds the shown frame is behind this machine's clock; median of 5 reads).
// Audio must decode too (Chromium's webkitAudioDecodedByteCount > 0) unless --no-audio.
// Exit 0 when ok, 1 when the stream did not play, the picture is black/uniform or no audio
// decoded, 2 on usage or browser start-up errors.
//
// What it never does: wait without a bound (--timeout, default 40 s, covers everything after
// the browser started), let the browser resolve any host but 127.0.0.1/localhost, or leave
// Chromium running (closed in `finally`; if node itself is killed, Chromium exits as its
// DevTools pipe closes).
//
// Usage: node play.mjs --kind hls|dash|flv --src URL [--screenshot FILE.png] [--lowlatency]
//        [--catchup RATE] [--no-audio] [--clock] [--timeout SECONDS] [--advance SECONDS]
//        [--chromium PATH]
// --catchup: hls.js maxLiveSyncPlaybackRate (default 1, hls.js's own: no speed-up to reach
// its target latency).
// Chromium: --chromium, else $CHROMIUM, else /usr/bin/chromium.

import { createServer } from "node:http";
import { createReadStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const HERE = dirname(fileURLToPath(import.meta.url));
// A decoded testsrc2 picture measures a mean luma near 124 and a spread near 58; black 0/0.
const MIN_MEAN_LUMA = 20;
const MIN_LUMA_STDDEV = 10;
const MAX_ERRORS = 30;

function parseArgs(argv) {
  const opts = {
    kind: null,
    src: null,
    screenshot: null,
    lowLatency: false,
    catchup: 1,
    expectAudio: true,
    clock: false,
    timeout: 40,
    advance: 3,
    chromium: process.env.CHROMIUM || "/usr/bin/chromium",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case "--kind": opts.kind = value(); break;
      case "--src": opts.src = value(); break;
      case "--screenshot": opts.screenshot = resolve(value()); break;
      case "--lowlatency": opts.lowLatency = true; break;
      case "--catchup": opts.catchup = Number(value()); break;
      case "--no-audio": opts.expectAudio = false; break;
      case "--clock": opts.clock = true; break;
      case "--timeout": opts.timeout = Number(value()); break;
      case "--advance": opts.advance = Number(value()); break;
      case "--chromium": opts.chromium = value(); break;
      default: usage(`unknown argument ${arg}`);
    }
  }
  if (!["hls", "dash", "flv"].includes(opts.kind)) usage("--kind must be hls, dash or flv");
  if (!opts.src) usage("--src is required");
  if (!(opts.timeout > 0) || !(opts.advance > 0)) usage("--timeout and --advance must be > 0");
  if (!(opts.catchup >= 1)) usage("--catchup must be >= 1");
  return opts;
}

function usage(message) {
  console.error(`play.mjs: ${message}`);
  console.error("usage: node play.mjs --kind hls|dash|flv --src URL [--screenshot FILE.png] " +
    "[--lowlatency] [--catchup RATE] [--no-audio] [--clock] [--timeout S] [--advance S] " +
    "[--chromium PATH]");
  process.exit(2);
}

const CONTENT_TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".map": "application/json",
};

// Serves HERE (player.html, node_modules/) on 127.0.0.1, GET only, nothing outside HERE.
function startStaticServer() {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://127.0.0.1").pathname);
    const file = normalize(join(HERE, path));
    let size = -1;
    try {
      if (file.startsWith(HERE + sep) && req.method === "GET") size = statSync(file).size;
    } catch {
      size = -1;
    }
    if (size < 0) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "Content-Type": CONTENT_TYPES[extname(file)] || "application/octet-stream",
      "Content-Length": size,
      "Cache-Control": "no-store",
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolveListen(server));
  });
}

// Runs in the page: the decoded picture's luma over a 160x90 downscale of the <video>.
function measurePicture() {
  const video = document.getElementById("video");
  const w = 160;
  const h = 90;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h).data;
  let sum = 0;
  let sumSq = 0;
  const n = w * h;
  for (let i = 0; i < px.length; i += 4) {
    const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    sum += y;
    sumSq += y * y;
  }
  const mean = sum / n;
  return {
    meanLuma: mean,
    lumaStdDev: Math.sqrt(Math.max(0, sumSq / n - mean * mean)),
    videoWidth: video.videoWidth,
    videoHeight: video.videoHeight,
  };
}

// Runs in the page: how far behind this machine's clock the shown picture is, read from the
// clock strip the test publisher burns into its top rows (CLOCK_STRIP_VF in
// tests/support/browser.rs: 24 blocks 12 px wide, 12 px high, block k white when bit k of
// the wall-clock time in centiseconds mod 2^24 is set when the frame was made). Seconds, or
// null when the strip is not there.
function measureClockDelay() {
  const video = document.getElementById("video");
  const bits = 24;
  const block = 12;
  const w = video.videoWidth;
  if (w < bits * block || video.videoHeight < block) return null;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = block;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, w, block, 0, 0, w, block);
  const now = Date.now();
  const px = ctx.getImageData(0, 0, w, block).data;
  const row = Math.floor(block / 2) * w * 4;
  let code = 0;
  for (let k = 0; k < bits; k++) {
    const i = row + (k * block + block / 2) * 4;
    const luma = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    if (luma > 128) code += 2 ** k;
  }
  const span = 2 ** bits;
  const nowCode = Math.floor(now / 10) % span;
  return (((nowCode - code) % span) + span) % span / 100;
}

function readState() {
  const p = window.probe;
  const v = document.getElementById("video");
  return {
    currentTime: v.currentTime,
    // Chromium's counters of what its decoders produced (H.264 frames, AAC bytes).
    videoFrames: v.getVideoPlaybackQuality().totalVideoFrames,
    droppedFrames: v.getVideoPlaybackQuality().droppedVideoFrames,
    audioDecodedBytes: v.webkitAudioDecodedByteCount,
    startTime: p.startTime,
    readyState: v.readyState,
    library: p.library,
    latency: p.latency(),
    targetLatency: p.targetLatency(),
    errors: p.errors.slice(),
  };
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function round(x, digits = 3) {
  return typeof x === "number" && Number.isFinite(x) ? Number(x.toFixed(digits)) : null;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const result = {
    kind: opts.kind,
    lowLatency: opts.lowLatency,
    src: opts.src,
    ok: false,
    currentTimeAdvanced: 0,
    meanLuma: null,
    lumaStdDev: null,
    latency: null,
    targetLatency: null,
    library: null,
    videoFrames: 0,
    droppedFrames: 0,
    audioDecodedBytes: 0,
    videoWidth: 0,
    videoHeight: 0,
    screenshot: null,
    pictureDelay: null,
    pictureDelays: null,
    errors: [],
  };
  const consoleErrors = [];
  const server = await startStaticServer();
  const profile = mkdtempSync(join(tmpdir(), "rtmp-edge-chromium-"));
  let browser = null;
  let exitCode = 1;
  try {
    try {
      browser = await puppeteer.launch({
        executablePath: opts.chromium,
        headless: true,
        pipe: true,
        userDataDir: profile,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--use-angle=swiftshader",
          "--enable-unsafe-swiftshader",
          "--autoplay-policy=no-user-gesture-required",
          "--mute-audio",
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--no-default-browser-check",
          "--disable-background-networking",
          "--disable-component-update",
          // Nothing but loopback resolves: a player default that calls out fails at once.
          "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
          "--window-size=640,360",
        ],
        timeout: 20_000,
      });
    } catch (e) {
      result.errors.push(`chromium start (${opts.chromium}): ${e.message}`);
      exitCode = 2;
      return;
    }
    const page = await browser.newPage();
    await page.setViewport({ width: 640, height: 360 });
    page.on("console", (msg) => {
      if (msg.type() === "error" && consoleErrors.length < MAX_ERRORS) {
        consoleErrors.push(`console: ${msg.text().slice(0, 300)}`);
      }
    });
    page.on("pageerror", (e) => {
      if (consoleErrors.length < MAX_ERRORS) consoleErrors.push(`pageerror: ${e.message}`);
    });
    const { port } = server.address();
    const query = new URLSearchParams({ kind: opts.kind, src: opts.src });
    if (opts.lowLatency) query.set("lowlatency", "1");
    if (opts.catchup !== 1) query.set("catchup", String(opts.catchup));
    const deadline = Date.now() + opts.timeout * 1000;
    await page.goto(`http://127.0.0.1:${port}/player.html?${query}`, {
      waitUntil: "load",
      timeout: opts.timeout * 1000,
    });

    let state = await page.evaluate(readState);
    while (Date.now() < deadline) {
      state = await page.evaluate(readState);
      if (state.startTime !== null && state.currentTime - state.startTime >= opts.advance) break;
      await sleep(250);
    }
    const advanced = state.startTime === null ? 0 : state.currentTime - state.startTime;
    const picture = await page.evaluate(measurePicture);
    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot });
      result.screenshot = opts.screenshot;
    }
    if (opts.clock) {
      // Five reads 200 ms apart; the median is robust to one read of a half-decoded strip.
      const delays = [];
      for (let i = 0; i < 5; i++) {
        delays.push(await page.evaluate(measureClockDelay));
        await sleep(200);
      }
      const sorted = delays.filter((d) => d !== null).sort((a, b) => a - b);
      result.pictureDelays = delays.map((d) => round(d, 2));
      result.pictureDelay = sorted.length ? round(sorted[Math.floor(sorted.length / 2)], 2) : null;
      // A reading beyond a minute means the strip is missing or unreadable, not a delay.
      if (result.pictureDelay === null || result.pictureDelay > 60) {
        result.errors.push(`clock strip unreadable (reads ${JSON.stringify(result.pictureDelays)})`);
        result.pictureDelay = null;
      }
    }
    // The live-latency figures once more, after the picture: they settle while playing.
    state = await page.evaluate(readState);
    Object.assign(result, {
      currentTimeAdvanced: round(advanced),
      meanLuma: round(picture.meanLuma, 2),
      lumaStdDev: round(picture.lumaStdDev, 2),
      videoWidth: picture.videoWidth,
      videoHeight: picture.videoHeight,
      latency: round(state.latency),
      targetLatency: round(state.targetLatency),
      library: state.library,
      videoFrames: state.videoFrames,
      droppedFrames: state.droppedFrames,
      audioDecodedBytes: state.audioDecodedBytes,
    });
    result.errors.push(...state.errors);
    if (advanced < opts.advance) {
      result.errors.push(
        `currentTime advanced ${advanced.toFixed(3)} s < ${opts.advance} s within ` +
        `${opts.timeout} s (readyState ${state.readyState}, ` +
        `playback ${state.startTime === null ? "never started" : "started"})`,
      );
    }
    const pictureOk = picture.meanLuma >= MIN_MEAN_LUMA && picture.lumaStdDev >= MIN_LUMA_STDDEV;
    if (!pictureOk) {
      result.errors.push(
        `picture black or uniform: mean luma ${picture.meanLuma.toFixed(2)} (min ` +
        `${MIN_MEAN_LUMA}), std dev ${picture.lumaStdDev.toFixed(2)} (min ${MIN_LUMA_STDDEV})`,
      );
    }
    const audioOk = !opts.expectAudio || state.audioDecodedBytes > 0;
    if (!audioOk) result.errors.push("no audio decoded (webkitAudioDecodedByteCount is 0)");
    const clockOk = !opts.clock || result.pictureDelay !== null;
    result.ok = advanced >= opts.advance && pictureOk && audioOk && clockOk;
    exitCode = result.ok ? 0 : 1;
  } catch (e) {
    result.errors.push(`harness: ${e && e.message ? e.message : e}`);
    exitCode = 1;
  } finally {
    result.errors.push(...consoleErrors);
    if (browser) await browser.close().catch(() => {});
    server.close();
    rmSync(profile, { recursive: true, force: true });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exitCode = exitCode;
  }
}

await main();
// Nothing may keep the process alive once the line is out (a lingering keep-alive socket).
process.exit(process.exitCode);
