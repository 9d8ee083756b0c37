import "swagger-ui-dist/swagger-ui.css";
import "./docs.css";
import SwaggerUI, { type SwaggerUIPlugin } from "swagger-ui-dist/swagger-ui-es-bundle.js";

/**
 * Swagger UI's deep links without their anchors. Each operation's path is a link inside the button
 * that opens the operation: a control inside a control, which assistive technology cannot reach
 * (axe: nested-interactive), and a touch target a few pixels high (target-size). Without `enabled`
 * the same component renders the path as text. Deep linking itself stays: opening an operation
 * still puts `#/<tag>/<operationId>` in the address bar, and loading that address opens it.
 */
const deepLinksAsText = (): SwaggerUIPlugin => ({
  wrapComponents: { DeepLink: (original) => (props) => original({ ...props, enabled: false }) },
});

/**
 * Landmarks and an outline for Swagger UI's layout (axe: region, heading-order): the API's title
 * and description in a `<header>`, the Authorize button in a named region, and a heading "Operations"
 * (for screen readers only) between the title (h1) and the tags (h3).
 */
const landmarks = (): SwaggerUIPlugin => ({
  wrapComponents: {
    InfoContainer:
      (Original, { React }) =>
      (props) =>
        // A <header> inside Swagger UI's <section> columns is no banner by itself: the role says so.
        React.createElement("header", { role: "banner" }, React.createElement(Original, props)),
    AuthorizeBtnContainer:
      (Original, { React }) =>
      (props) =>
        React.createElement("section", { "aria-label": "Authorization" }, React.createElement(Original, props)),
    // Swagger UI's file inputs (a multipart body's file in "Try it out") have no label.
    Input:
      (Original, { React }) =>
      (props) =>
        React.createElement(
          Original,
          props.type === "file" && props["aria-label"] === undefined
            ? { ...props, "aria-label": "File to send" }
            : props,
        ),
    operations:
      (Original, { React }) =>
      (props) =>
        React.createElement(
          React.Fragment,
          null,
          React.createElement("h2", { className: "visually-hidden" }, "Operations"),
          React.createElement(Original, props),
        ),
  },
});

// The reference of the API that serves this page, read from its own document. Nothing reaches
// another origin: no validator badge (validator.swagger.io), no URL taken from the query string
// (`queryConfigEnabled` is off by default).
SwaggerUI({
  dom_id: "#reference",
  url: "/openapi.json",
  deepLinking: true,
  tryItOutEnabled: true,
  persistAuthorization: false,
  validatorUrl: null,
  displayRequestDuration: true,
  defaultModelsExpandDepth: 1,
  plugins: [deepLinksAsText, landmarks],
  syntaxHighlight: { theme: "monokai" },
});
