// The page's behaviour: fetch another test example, draw a digit and classify it, and show
// any failure in the banner. Every URL is relative, so the page works under a path prefix.
"use strict";

const banner = document.getElementById("banner");

function showBanner(message, status) {
  banner.textContent = status ? `${message} (HTTP ${status})` : message;
  banner.classList.toggle("alert-warning", Boolean(status) && status < 500);
  banner.classList.toggle("alert-danger", !status || status >= 500);
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
}

// Calls the API; resolves to the JSON body, or shows the error in the banner and resolves to null.
async function callApi(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    showBanner("The web UI did not answer; is it still running?");
    return null;
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    // A proxy's HTML error page: the status still says what happened.
  }
  if (!response.ok) {
    showBanner((body && body.error) || response.statusText || "Request failed", response.status);
    return null;
  }
  hideBanner();
  return body;
}

function showBars(id, probabilities, predicted) {
  document.querySelectorAll(`#${id} .bar-row`).forEach((row, digit) => {
    const percent = (probabilities[digit] * 100).toFixed(1);
    const bar = row.querySelector(".progress-bar");
    bar.style.width = `${percent}%`;
    bar.classList.toggle("bg-success", digit === predicted);
    bar.classList.toggle("bg-secondary", digit !== predicted);
    row.querySelector(".progress").setAttribute("aria-valuenow", percent);
    row.querySelector(".bar-value").textContent = `${percent}%`;
  });
}

// ---- A random test example ----
const exampleImage = document.getElementById("example-image");

async function loadRandomExample() {
  const current = exampleImage.dataset.index;
  const example = await callApi(current === "" ? "api/random" : `api/random?exclude=${current}`);
  if (!example) {
    return;
  }
  exampleImage.src = example.image;
  exampleImage.dataset.index = example.index;
  exampleImage.hidden = false;
  document.getElementById("example-label").textContent = example.label;
  document.getElementById("example-predicted").textContent = example.predicted;
  document.getElementById("example-index").textContent = `#${example.index}`;
  showBars("example-bars", example.probabilities, example.predicted);
}

document.getElementById("random-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadRandomExample();
});

// ---- The drawing pad: white ink on black, like MNIST ----
const canvas = document.getElementById("canvas");
const pen = canvas.getContext("2d");
// About a tenth of the canvas: after scaling a full-height digit to 20 px, strokes are ~2 px wide like MNIST's.
const PEN_WIDTH_PX = 24;
let drawing = false;

function clearCanvas() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, canvas.width, canvas.height);
  document.getElementById("drawing-predicted").textContent = "–";
  document.getElementById("drawing-preview").hidden = true;
  showBars("drawing-bars", new Array(10).fill(0), -1);
}

// The pointer's position in canvas pixels, whatever size CSS gives the canvas.
function position(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * (canvas.width / box.width), (event.clientY - box.top) * (canvas.height / box.height)];
}

canvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  canvas.setPointerCapture(event.pointerId);
  const [x, y] = position(event);
  pen.beginPath();
  pen.moveTo(x, y);
  pen.lineTo(x, y);
  pen.stroke();
});

canvas.addEventListener("pointermove", (event) => {
  if (!drawing) {
    return;
  }
  const [x, y] = position(event);
  pen.lineTo(x, y);
  pen.stroke();
});

for (const type of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(type, () => {
    drawing = false;
  });
}

async function classifyDrawing() {
  const result = await callApi("api/classify", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ image: canvas.toDataURL("image/png") }),
  });
  if (!result) {
    return;
  }
  document.getElementById("drawing-predicted").textContent = result.predicted;
  const preview = document.getElementById("drawing-preview");
  preview.src = result.image;
  preview.hidden = false;
  showBars("drawing-bars", result.probabilities, result.predicted);
}

document.getElementById("classify-button").addEventListener("click", classifyDrawing);
document.getElementById("clear-button").addEventListener("click", clearCanvas);

pen.strokeStyle = "#fff";
pen.lineWidth = PEN_WIDTH_PX;
pen.lineCap = "round";
pen.lineJoin = "round";
clearCanvas();
