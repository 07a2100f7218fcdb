// The console works without this file; with it, what htmx does stays within the page's
// Content-Security-Policy and the reader is told when the server cannot be reached.
document.addEventListener("htmx:sendError", function () {
  var status = document.getElementById("connection");
  if (status) {
    status.hidden = false;
  }
});
document.addEventListener("htmx:afterRequest", function (event) {
  var status = document.getElementById("connection");
  if (status && event.detail.successful) {
    status.hidden = true;
  }
});
// A form refused (400, 409, 422) or a send the provider refused (502) answers with the
// page and the reason beside the field: show it, as the page without JavaScript would.
document.addEventListener("htmx:beforeSwap", function (event) {
  var refused = [400, 409, 422, 502];
  if (refused.indexOf(event.detail.xhr.status) >= 0) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
