// procmine workbench: the little the pages need beyond htmx (no inline scripts: the CSP forbids them)
document.addEventListener("htmx:configRequest", function (evt) {
  // every htmx request carries this session's CSRF token (the forms carry it as a field too)
  var field = document.querySelector("input[name=csrf_token]");
  if (field) { evt.detail.headers["X-CSRF-Token"] = field.value; }
});
document.addEventListener("htmx:xhr:progress", function (evt) {
  var bar = document.getElementById("upload-progress");
  if (bar && evt.detail.lengthComputable) {
    bar.value = Math.round(100 * evt.detail.loaded / evt.detail.total);
  }
});
