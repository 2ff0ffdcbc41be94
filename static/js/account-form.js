/* The account form shows only the fields the chosen role (and reviewer level) uses. */
(function () {
  "use strict";

  var form = document.getElementById("account-form");
  if (!form) {
    return;
  }
  var role = form.elements.namedItem("role");
  var level = form.elements.namedItem("level");
  var groups = form.querySelectorAll("[data-show-roles]");

  function listed(attr, value) {
    return attr === null || attr.split(" ").indexOf(value) >= 0;
  }

  function update() {
    for (var i = 0; i < groups.length; i += 1) {
      var group = groups[i];
      var shown = listed(group.getAttribute("data-show-roles"), role.value) &&
        listed(group.getAttribute("data-show-levels"), level.value);
      group.hidden = !shown;
      // A hidden field is not sent: the server refuses a level or a partner the role has no use for.
      var inputs = group.querySelectorAll("input, select, textarea");
      for (var k = 0; k < inputs.length; k += 1) {
        inputs[k].disabled = !shown;
      }
    }
  }

  role.addEventListener("change", update);
  level.addEventListener("change", update);
  update();
})();
