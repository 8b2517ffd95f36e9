// Dashboard behaviour: the task form and the Mermaid diagram.
// Project text is inserted with textContent, never as HTML. The one HTML
// insertion is the SVG that Mermaid renders and sanitizes itself.
"use strict";

(function () {
  function setResult(element, text, isError) {
    element.textContent = text;
    element.classList.toggle("error", Boolean(isError));
  }

  function parseTags(text) {
    return text.split(",").map(function (tag) { return tag.trim(); })
      .filter(function (tag) { return tag.length > 0; });
  }

  function describeError(body, status) {
    if (body && typeof body.detail === "string") { return body.detail; }
    if (body && Array.isArray(body.detail)) {
      return body.detail.map(function (item) { return item.msg; }).join("; ");
    }
    return "The server answered with status " + status + ".";
  }

  function addTask(list, task) {
    var empty = document.getElementById("task-list-empty");
    if (empty) { empty.remove(); }
    var item = document.createElement("li");
    var id = document.createElement("code");
    id.textContent = task.id;
    item.appendChild(id);
    item.appendChild(document.createTextNode(" [" + task.priority + "] " + task.title));
    list.insertBefore(item, list.firstChild);
  }

  async function submitTask(event) {
    event.preventDefault();
    var form = event.target;
    var button = document.getElementById("task-submit");
    var result = document.getElementById("task-result");
    if (button.disabled) { return; }

    button.disabled = true;
    setResult(result, "Submitting…", false);
    var headers = { "Content-Type": "application/json" };
    var token = document.getElementById("task-token");
    if (token && token.value) { headers.Authorization = "Bearer " + token.value; }
    var payload = {
      project: form.dataset.project,
      title: document.getElementById("task-title").value,
      detail: document.getElementById("task-detail").value,
      priority: document.getElementById("task-priority").value,
      tags: parseTags(document.getElementById("task-tags").value),
    };

    try {
      var response = await fetch("/api/v1/tasks", {
        method: "POST", headers: headers, body: JSON.stringify(payload),
      });
      var body = await response.json().catch(function () { return null; });
      if (!response.ok) {
        setResult(result, "Not stored: " + describeError(body, response.status), true);
        return;
      }

      var verb = body.duplicate ? "Already stored as " : "Stored as ";
      setResult(result, verb + body.id + " (trace " + body.trace_id + ").", false);
      if (!body.duplicate) { addTask(document.getElementById("task-list"), body.task); }
      form.reset();
    } catch (error) {
      setResult(result, "Not stored: the server could not be reached.", true);
    } finally {
      button.disabled = false;
    }
  }

  async function renderDiagram() {
    var source = document.getElementById("diagram-source");
    var target = document.getElementById("diagram");
    if (!source || !target) { return; }
    var box = document.getElementById("diagram-source-box");
    if (typeof window.mermaid === "undefined") {
      // The library is missing or failed to load: the source is the diagram.
      if (box) { box.open = true; }
      return;
    }
    try {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      var rendered = await window.mermaid.render("nav-diagram", source.textContent);
      // Mermaid returns SVG that it sanitized itself (securityLevel strict).
      target.innerHTML = rendered.svg;
      target.dataset.rendered = "true";
    } catch (error) {
      if (box) { box.open = true; }
      target.textContent = "The diagram could not be drawn; its source is below.";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("task-form");
    if (form) { form.addEventListener("submit", submitTask); }
    renderDiagram();
  });
})();
