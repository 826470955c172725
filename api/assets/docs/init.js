// Starts Swagger UI for the API's own spec. Kept out of index.html so the
// page works under a Content-Security-Policy without 'unsafe-inline' scripts.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    persistAuthorization: false,
    tryItOutEnabled: true,
  });
});
