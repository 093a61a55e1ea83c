// shiba's web application: a models page and, per model, a form built from its signature.
// It calls the server's public REST API only: GET /shiba/v1/models (every model, with engines
// and class names), GET /v1/models/{m}/metadata and POST /v1/models/{m}:predict.
// Images are laid out as shiba.client.image (and the seed's OpenCV client) does: channels in
// OpenCV's order (BGR), bilinear resize with half-pixel centres and no antialiasing, raw 0-255
// values, NHWC or NCHW as the input's shape says.
"use strict";

const REFRESH_MS = 2000;
const CHANNELS = [1, 3, 4];
const NUMERIC = new Set([
  "DT_FLOAT", "DT_DOUBLE", "DT_HALF", "DT_UINT8", "DT_INT8", "DT_UINT16", "DT_INT16",
  "DT_INT32", "DT_INT64",
]);

const TOKEN_KEY = "shiba-token"; // this tab's bearer token, when the server wants one

let refreshTimer = null;

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

// -- small helpers -----------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// One request to the server: {body, text, ms}; an ApiError with the server's message otherwise.
async function api(path, options) {
  const started = performance.now();
  let response;
  try {
    const given = options || {};
    response = await fetch(path, { ...given, headers: { ...(given.headers || {}), ...authHeaders() } });
  } catch (error) {
    throw new ApiError(`cannot reach the server: ${error.message}`, 0);
  }
  const text = await response.text();
  const ms = performance.now() - started;
  let body = null;
  try {
    body = JSON.parse(text);
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : text.trim();
    throw new ApiError(message || `HTTP ${response.status} with an empty body`, response.status);
  }
  return { body, text, ms };
}

function errorBox(error) {
  const where = error.status ? `HTTP ${error.status}: ` : "";
  const box = el("div", { class: "error", id: "error", role: "alert" }, where + error.message);
  if (error.status !== 401) return box;
  // The server wants a token: ask for it once; it is kept for this tab only.
  const input = el("input", { type: "password", id: "token", autocomplete: "off" });
  const form = el("form", { id: "token-form", class: "actions" },
    el("label", { for: "token" }, "Token: "), input, el("button", { type: "submit" }, "use it"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    route();
  });
  return el("div", {}, box, form);
}

function dims(info) {
  const shape = info.tensor_shape || {};
  if (shape.unknown_rank) return null;
  return (shape.dim || []).map((d) => Number(d.size));
}

// -- routing -----------------------------------------------------------------------------------

function route() {
  clearTimeout(refreshTimer);
  const main = document.getElementById("main");
  const match = /^#\/models\/([^/]+)$/.exec(location.hash);
  if (match) modelPage(main, decodeURIComponent(match[1]));
  else modelsPage(main);
}

// -- the models page ---------------------------------------------------------------------------

function modelsPage(main) {
  const table = el("table", { id: "models-table" },
    el("thead", {}, el("tr", {}, ["model", "version", "state", "signatures (engine)", "labels"].map(
      (name) => el("th", {}, name)))),
    el("tbody"));
  const status = el("p", { class: "muted" }, "Loading…");
  main.replaceChildren(el("h1", {}, "Models"), status, table);

  async function refresh() {
    try {
      const { body } = await api("/shiba/v1/models");
      const rows = [];
      for (const model of body.models) {
        const link = el("a", { href: `#/models/${encodeURIComponent(model.model)}`,
          class: "model-link" }, model.model);
        if (!model.versions.length) {
          rows.push(el("tr", {}, el("td", {}, link), el("td"), el("td", {}, "no versions yet")));
        }
        model.versions.forEach((version, i) => {
          const engines = Object.entries(version.signatures || {})
            .filter(([name]) => !name.startsWith("__"))
            .map(([name, sig]) => `${name} (${sig.engine})`).join(", ");
          const state = version.error
            ? `${version.state} (${version.error.code}: ${version.error.message})`
            : version.state;
          const labels = version.labels ? `${version.labels.length} classes` : "";
          rows.push(el("tr", {},
            el("td", {}, i === 0 ? link : ""),
            el("td", {}, version.version),
            el("td", { class: version.error ? "state-error" : `state-${version.state}` }, state),
            el("td", {}, engines),
            el("td", {}, labels)));
        });
      }
      table.tBodies[0].replaceChildren(...rows);
      status.replaceChildren(body.models.length
        ? `${body.models.length} model(s); refreshed every ${REFRESH_MS / 1000} s.`
        : "The server serves no model.");
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
    if (location.hash === "" || location.hash === "#/") {
      refreshTimer = setTimeout(refresh, REFRESH_MS);
    }
  }
  refresh();
}

// -- a model's page ----------------------------------------------------------------------------

async function modelPage(main, name) {
  main.replaceChildren(el("p", {}, el("a", { href: "#/" }, "← all models")),
    el("h1", {}, name), el("p", { class: "muted" }, "Loading…"));
  let metadata;
  let labels = [];
  try {
    metadata = (await api(`/v1/models/${encodeURIComponent(name)}/metadata`)).body;
  } catch (error) {
    main.lastChild.replaceWith(errorBox(error));
    return;
  }
  try {
    const info = (await api(`/shiba/v1/models/${encodeURIComponent(name)}`)).body;
    const served = info.versions.find((v) => String(v.version) === metadata.model_spec.version);
    labels = (served && served.labels) || [];
  } catch (_) {
    labels = []; // class names are shiba's own; the model works without them
  }
  const signatures = Object.entries(metadata.metadata.signature_def.signature_def)
    .filter(([, sig]) => Object.keys(sig.inputs || {}).length > 0)
    .sort(([a], [b]) => (a === "serving_default" ? -1 : b === "serving_default" ? 1 : a < b ? -1 : 1));
  const select = el("select", { id: "signature" },
    signatures.map(([sig]) => el("option", { value: sig }, sig)));
  const form = el("div", { id: "form" });
  const answer = el("section", { id: "answer" });
  const version = metadata.model_spec.version;
  main.lastChild.replaceWith(el("p", { class: "muted" },
    `version ${version}`, labels.length ? `, ${labels.length} class names` : "",
    " · signature ", select));
  main.append(form, answer);
  const show = () => {
    const [sigName, sig] = signatures.find(([s]) => s === select.value);
    signatureForm(form, answer, name, sigName, sig, labels);
  };
  select.addEventListener("change", show);
  if (signatures.length) show();
  else form.replaceChildren(el("p", {}, "This model has no signature with inputs."));
}

// The input of each kind: an image (a drop zone), a string (a text box), else JSON.
function imageLayout(info) {
  const shape = dims(info);
  if (!NUMERIC.has(info.dtype) || !shape || shape.length !== 4) return null;
  if (CHANNELS.includes(shape[3])) {
    return { channelsFirst: false, height: shape[1], width: shape[2], channels: shape[3] };
  }
  if (CHANNELS.includes(shape[1])) {
    return { channelsFirst: true, height: shape[2], width: shape[3], channels: shape[1] };
  }
  return null;
}

function exampleValue(info, leaf) {
  const shape = dims(info);
  if (shape === null) return leaf;
  const build = (level) => (level === shape.length ? leaf
    : Array.from({ length: Math.max(1, shape[level]) }, () => build(level + 1)));
  return build(0);
}

function zero(dtype) {
  if (dtype === "DT_BOOL") return false;
  if (dtype === "DT_STRING") return "";
  return 0;
}

function signatureForm(form, answer, model, sigName, sig, labels) {
  answer.replaceChildren();
  const readers = {};
  const fields = [];
  for (const [input, info] of Object.entries(sig.inputs)) {
    const shape = dims(info);
    const described = `${info.dtype} ${shape ? JSON.stringify(shape) : "(any shape)"}`;
    const layout = imageLayout(info);
    let body;
    if (layout) {
      const field = imageField(info, layout);
      readers[input] = field.read;
      body = field.node;
    } else if (info.dtype === "DT_STRING") {
      const box = el("textarea", { "data-input": input, class: "text-input", rows: 3,
        placeholder: "text to send" });
      readers[input] = () => exampleValue(info, box.value);
      body = box;
    } else {
      const box = el("textarea", { "data-input": input, class: "json-input", rows: 6,
        spellcheck: "false" });
      box.value = JSON.stringify(exampleValue(info, zero(info.dtype)));
      readers[input] = () => {
        try {
          return JSON.parse(box.value);
        } catch (error) {
          throw new ApiError(`input ${input}: not JSON (${error.message})`, 0);
        }
      };
      body = el("div", {}, el("p", { class: "muted" }, "JSON, pre-filled with an example of the right shape"), box);
    }
    fields.push(el("fieldset", {}, el("legend", {}, `${input} `,
      el("span", { class: "muted" }, described)), body));
  }
  const button = el("button", { id: "predict", type: "button" }, "Predict");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await predict(answer, model, sigName, sig, labels, readers);
    } finally {
      button.disabled = false;
    }
  });
  form.replaceChildren(...fields, el("div", { class: "actions" }, button));
}

// -- images ------------------------------------------------------------------------------------

function imageField(info, layout) {
  const canvas = el("canvas", { width: 1, height: 1, "aria-label": "the image as sent" });
  const picker = el("input", { type: "file", accept: "image/*", class: "image-input" });
  const note = el("span", { class: "muted" },
    `Drop an image here or pick a file; it is resized to ${layout.width > 0 ? layout.width : "its width"}`
    + `×${layout.height > 0 ? layout.height : "its height"}, ${layout.channels} channel(s), `
    + `${layout.channelsFirst ? "NCHW" : "NHWC"}.`);
  const zone = el("div", { class: "drop" }, canvas, el("div", {}, picker, el("br"), note));
  let value = null;
  let failure = null;
  async function take(file) {
    try {
      value = await layOut(file, layout, canvas);
      failure = null;
      note.textContent = `${file.name}: ready.`;
    } catch (error) {
      value = null;
      failure = `${file.name}: this browser cannot read it as an image (${error.message})`;
      note.textContent = failure;
    }
  }
  picker.addEventListener("change", () => picker.files[0] && take(picker.files[0]));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files[0]) take(event.dataTransfer.files[0]);
  });
  return {
    node: zone,
    read: () => {
      if (failure) throw new ApiError(failure, 0);
      if (value === null) throw new ApiError(`input ${info.name || "image"}: drop an image first`, 0);
      return value;
    },
  };
}

// numpy's rint: halves to even (values here are never negative).
function rint(v) {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// cv2.resize's INTER_LINEAR sample positions for one axis.
function taps(nIn, nOut) {
  const lo = [], hi = [], frac = [];
  for (let i = 0; i < nOut; i++) {
    const x = (i + 0.5) * (nIn / nOut) - 0.5;
    let low = Math.floor(x);
    let f = x < 0 ? 0 : x - low;
    low = Math.min(Math.max(low, 0), nIn - 1);
    if (low >= nIn - 1) f = 0;
    lo.push(low); hi.push(Math.min(low + 1, nIn - 1)); frac.push(f);
  }
  return { lo, hi, frac };
}

// Integer and float inputs both take the 0-255 values as they are (the server casts them).
async function layOut(file, layout, canvas) {
  const bitmap = await createImageBitmap(file,
    { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const source = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = source.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const [w0, h0, c] = [bitmap.width, bitmap.height, layout.channels];
  // The source in OpenCV's channel order: BGR, BGRA, or grey (ITU-R 601 luma).
  const pixels = new Float64Array(w0 * h0 * c);
  for (let p = 0; p < w0 * h0; p++) {
    const [r, g, b, a] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2], rgba[4 * p + 3]];
    if (c === 1) pixels[p] = Math.min(255, rint(r * 0.299 + g * 0.587 + b * 0.114));
    else {
      pixels[p * c] = b; pixels[p * c + 1] = g; pixels[p * c + 2] = r;
      if (c === 4) pixels[p * c + 3] = a;
    }
  }
  const height = layout.height > 0 ? layout.height : h0;
  const width = layout.width > 0 ? layout.width : w0;
  const ys = taps(h0, height), xs = taps(w0, width);
  const out = new Uint8ClampedArray(width * height * c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < c; k++) {
        const at = (yy, xx) => pixels[(yy * w0 + xx) * c + k];
        const fy = ys.frac[y], fx = xs.frac[x];
        const left = at(ys.lo[y], xs.lo[x]) * (1 - fy) + at(ys.hi[y], xs.lo[x]) * fy;
        const right = at(ys.lo[y], xs.hi[x]) * (1 - fy) + at(ys.hi[y], xs.hi[x]) * fy;
        out[(y * width + x) * c + k] = rint(left * (1 - fx) + right * fx);
      }
    }
  }
  preview(canvas, out, width, height, c);
  const value = (y, x, k) => out[(y * width + x) * c + k];
  const range = (n) => Array.from({ length: n }, (_, i) => i);
  const image = layout.channelsFirst
    ? range(c).map((k) => range(height).map((y) => range(width).map((x) => value(y, x, k))))
    : range(height).map((y) => range(width).map((x) => range(c).map((k) => value(y, x, k))));
  return [image];
}

function preview(canvas, out, width, height, c) {
  canvas.width = width;
  canvas.height = height;
  const data = new ImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    const [b, g, r] = c === 1 ? [out[p], out[p], out[p]] : [out[p * c], out[p * c + 1], out[p * c + 2]];
    data.data.set([r, g, b, 255], 4 * p);
  }
  canvas.getContext("2d").putImageData(data, 0, 0);
}

// -- the answer --------------------------------------------------------------------------------

async function predict(answer, model, sigName, sig, labels, readers) {
  const path = `/v1/models/${encodeURIComponent(model)}:predict`;
  let text;
  try {
    const inputs = {};
    for (const [input, read] of Object.entries(readers)) inputs[input] = read();
    text = JSON.stringify({ signature_name: sigName, inputs });
  } catch (error) {
    answer.replaceChildren(errorBox(error));
    return;
  }
  answer.replaceChildren(el("p", { class: "muted" }, "Waiting for the server…"));
  const snippets = copyButtons(path, text);
  try {
    const { body, ms } = await api(path, { method: "POST", body: text,
      headers: { "content-type": "application/json" } });
    let outputs = body.outputs;
    const names = Object.keys(sig.outputs || {});
    if (outputs === null || typeof outputs !== "object" || Array.isArray(outputs)) {
      outputs = { [names.length === 1 ? names[0] : "outputs"]: outputs };
    }
    const parts = [el("h2", {}, "Answer"),
      el("p", { class: "latency", id: "latency" }, `answered in ${ms.toFixed(1)} ms`)];
    const scores = classifierOutput(outputs, labels);
    if (scores) parts.push(topFive(scores.name, scores.rows, labels));
    parts.push(el("details", { open: scores ? null : "open" },
      el("summary", {}, "output tensors"),
      el("pre", { id: "outputs" }, JSON.stringify(outputs, null, 1))));
    answer.replaceChildren(...parts, snippets);
  } catch (error) {
    answer.replaceChildren(el("h2", {}, "The server refused the request"), errorBox(error), snippets);
  }
}

function classifierOutput(outputs, labels) {
  for (const [name, value] of Object.entries(outputs)) {
    const rows = Array.isArray(value) && value.every((row) => Array.isArray(row)
      && row.length > 1 && row.every((v) => typeof v === "number")) ? value : null;
    if (!rows || !rows.length) continue;
    const width = rows[0].length;
    const probabilities = rows.every((row) => Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3
      && row.every((v) => v >= 0 && v <= 1));
    if ((labels.length && width === labels.length) || probabilities) return { name, rows };
  }
  return null;
}

function topFive(name, rows, labels) {
  const section = el("div", { id: "top" });
  rows.slice(0, 8).forEach((row, example) => {
    const best = row.map((score, klass) => ({ score, klass }))
      .sort((a, b) => b.score - a.score || a.klass - b.klass).slice(0, 5);
    const top = Math.max(...row.map(Math.abs), 1e-12);
    section.append(el("h3", {}, rows.length > 1 ? `${name}, example ${example}` : name),
      el("ol", { class: "bars" }, best.map(({ score, klass }) => el("li", { class: "top-class" },
        el("span", { class: "label" }, labels[klass] !== undefined
          ? `${labels[klass]} (class ${klass})` : `class ${klass}`),
        el("div", { class: "bar", style: `width: ${Math.max(0, (score / top) * 100)}%` }),
        el("span", { class: "score" }, score.toPrecision(4))))));
  });
  return section;
}

function copyButtons(path, body) {
  const url = new URL(path, location.href).href;
  const auth = authHeaders().authorization;
  const curlAuth = auth ? `  -H 'authorization: ${auth}' \\\n` : "";
  const pythonAuth = auth ? `, headers={"authorization": ${JSON.stringify(auth)}}` : "";
  const curl = `curl -X POST '${url}' \\\n  -H 'content-type: application/json' \\\n${curlAuth}`
    + `  --data-binary @- <<'JSON'\n${body}\nJSON`;
  const python = `import json\n\nimport requests\n\nbody = json.loads(r"""${body}""")\n`
    + `response = requests.post(${JSON.stringify(url)}, json=body${pythonAuth}, timeout=60)\n`
    + "print(response.status_code, response.json())\n";
  const shown = el("pre", { id: "snippet", hidden: true });
  const copy = (label, text) => el("button", { class: "secondary", type: "button",
    onclick: async () => {
      shown.textContent = text;
      shown.hidden = false;
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = `${label} copied.`;
      } catch (_) {
        status.textContent = `${label}: select the text below and copy it.`;
      }
    } }, label);
  const status = el("span", { class: "muted", id: "copied" });
  return el("div", {}, el("div", { class: "actions" },
    copy("copy as curl", curl), copy("copy as Python", python), status), shown);
}

window.addEventListener("hashchange", route);
route();
