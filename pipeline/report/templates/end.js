document.body.dataset.errors = reportErrors.join(" | ");
window.addEventListener("load", function () {
  var svgs = document.querySelectorAll("svg");
  svgs.forEach(function (svg, i) {
    if (svg.closest("details:not([open])")) return;
    var box = svg.getBoundingClientRect();
    if (!(box.width > 0 && box.height > 0)) reportError("chart " + i + " has no size");
  });
  document.body.dataset.svgs = String(svgs.length);
  document.body.dataset.rendered = "ok";
});
