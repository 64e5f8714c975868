// Offload dashboard: the live parts, over server-sent events (no polling loop, no library).
// - a task page follows its task's stream (/ui/tasks/<id>/stream): status, progress and error
//   change in place; once the task has finished the page reloads to show its result and history;
// - the task list follows the tenant's changes (/ui/events/stream) and fetches its rows again,
//   at most once every REFRESH_MS.
// Without JavaScript every page still works: reload it.
"use strict";

(function () {
  var REFRESH_MS = 2000;

  function followTask(section) {
    var source = new EventSource(section.dataset.stream);
    var status = document.getElementById("task-status");
    var progress = document.getElementById("task-progress");
    var progressText = document.getElementById("task-progress-text");
    var error = document.getElementById("task-error");
    var stopping = document.getElementById("task-stopping");
    source.addEventListener("task", function (message) {
      var task = JSON.parse(message.data);
      status.textContent = task.status;
      status.className = "status " + task.status;
      progress.value = task.progress;
      progress.textContent = task.progress + "%";
      progressText.textContent = task.progress + "%";
      progress.parentElement.hidden = task.status !== "running";
      stopping.hidden = !(task.cancel_requested && task.status === "running");
      error.hidden = !task.error_message;
      error.textContent = task.error_message || "";
      document.getElementById("task-attempts").textContent = String(task.attempts);
      document.getElementById("task-retries").textContent = String(task.retry_count);
      if (task.started_at) {
        document.getElementById("task-started").textContent =
          task.started_at.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC");
      }
      section.dataset.progress = String(task.progress);
      var finished = ["completed", "failed", "cancelled"].indexOf(task.status) >= 0;
      if (finished) {
        source.close();
        document.getElementById("task-reload").hidden = false;
        window.location.reload();
      }
    });
    source.addEventListener("gone", function () { source.close(); });
  }

  function followList(box) {
    var source = new EventSource(box.dataset.stream);
    var due = false;
    var last = 0;
    var timer = null;

    function refresh() {
      timer = null;
      if (!due) return;
      due = false;
      last = Date.now();
      fetch(box.dataset.rows, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.redirected) { // the session ended: the page goes to the login
            source.close();
            window.location.reload();
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null) {
            box.innerHTML = html;
            box.dataset.refreshed = String(Date.now());
          }
        });
    }

    source.addEventListener("changed", function () {
      due = true;
      if (timer === null) {
        timer = window.setTimeout(refresh, Math.max(0, last + REFRESH_MS - Date.now()));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var task = document.getElementById("live-task");
    if (task && task.dataset.stream) followTask(task);
    var list = document.getElementById("live-rows");
    if (list && list.dataset.stream) followList(list);
  });
})();
