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
