/* Live pre-check of the registration form: asks the rules what they would say, stores nothing. */
(function () {
  "use strict";

  var form = document.getElementById("registration-form");
  var region = document.getElementById("precheck");
  if (!form || !region || !window.fetch) {
    return;
  }
  var url = form.getAttribute("data-precheck-url");
  var csrfInput = form.querySelector("input[name='csrf_token']");
  // Every field the rules read, so the live verdict is the one a submission gets.
  var WATCHED = [
    "customer_name",
    "customer_domain",
    "district",
    "pc_count",
    "solution_stack",
    "dotnet_early_adoption",
    "estimated_value"
  ];
  var DELAY_MS = 400;
  var timer = null;
  var inFlight = null;
  var lastPayload = "";

  function value(name) {
    var el = form.elements.namedItem(name);
    return el && typeof el.value === "string" ? el.value.trim() : "";
  }

  function ticked(name) {
    var el = form.elements.namedItem(name);
    return !!(el && el.checked);
  }

  function payload() {
    var workloads = [];
    var boxes = form.querySelectorAll("input[name='workloads']:checked");
    for (var i = 0; i < boxes.length; i += 1) {
      workloads.push(boxes[i].value);
    }
    return {
      customer_name: value("customer_name"),
      customer_domain: value("customer_domain"),
      district: value("district"),
      pc_count: value("pc_count"),
      workloads: workloads,
      solution_stack: value("solution_stack"),
      dotnet_early_adoption: ticked("dotnet_early_adoption"),
      estimated_value: value("estimated_value")
    };
  }

  function show(result) {
    region.textContent = "";
    var line = document.createElement("strong");
    line.className = "precheck-" + (result.level || "idle");
    line.textContent = result.verdict || "";
    region.appendChild(line);
    if (result.details && result.details.length) {
      var list = document.createElement("ul");
      list.className = "precheck-details";
      result.details.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        list.appendChild(item);
      });
      region.appendChild(list);
    }
  }

  function check() {
    var data = payload();
    var body = JSON.stringify(data);
    if (body === lastPayload) {
      return;
    }
    lastPayload = body;
    if (data.customer_name.length < 2) {
      show({ verdict: "Type the customer's name to check it for conflicts.", level: "idle" });
      return;
    }
    if (inFlight && inFlight.abort) {
      inFlight.abort();
    }
    inFlight = window.AbortController ? new AbortController() : null;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfInput ? csrfInput.value : ""
      },
      body: body,
      signal: inFlight ? inFlight.signal : undefined
    })
      .then(function (resp) {
        if (resp.status === 429) {
          return { verdict: "Checking paused for a moment; keep typing.", level: "idle" };
        }
        if (!resp.ok && resp.status !== 400) {
          throw new Error("HTTP " + resp.status);
        }
        return resp.json();
      })
      .then(show)
      .catch(function (err) {
        if (err && err.name === "AbortError") {
          return;
        }
        lastPayload = "";
        show({ verdict: "The live check is unavailable; the rules still run when you submit.", level: "idle" });
      });
  }

  function schedule(event) {
    var target = event.target;
    if (!target || (WATCHED.indexOf(target.name) < 0 && target.name !== "workloads")) {
      return;
    }
    if (timer) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(check, DELAY_MS);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  if (value("customer_name").length >= 2) {
    check();
  }
})();
