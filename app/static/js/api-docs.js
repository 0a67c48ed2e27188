// Starts Swagger UI on the API page; the document's URL comes from the page, not from code.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    // No deep links: their anchors inside the operations' toggle buttons nest one control in another.
    deepLinking: false,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
