var reportErrors = [];
function reportError(message) {
  reportErrors.push(String(message));
  if (document.body) document.body.dataset.errors = reportErrors.join(" | ");
}
window.addEventListener("error", function (e) { reportError(e.message || e); });
document.addEventListener("securitypolicyviolation", function (e) {
  reportError("blocked by the page's policy: " + e.violatedDirective + " " + e.blockedURI);
});
