// Stands in for `@aws-sdk/xml-builder` in Worker bundles (see the `alias` in the wrangler configs
// and vitest.config.ts). Workers resolve the SDK's "browser" build, whose XML parser needs
// DOMParser, which workerd does not have (aws-sdk-js-v3#7375): every XML response — errors,
// listings, multipart uploads — would fail. The SDK's own parser is plain JavaScript, so we export
// that one under the same names. Deep imports with an extension are not remapped by the
// package's "browser" field.
export { XmlNode } from "@aws-sdk/xml-builder/dist-es/XmlNode.js";
export { XmlText } from "@aws-sdk/xml-builder/dist-es/XmlText.js";
export { parseXML } from "@aws-sdk/xml-builder/dist-es/xml-parser.js";
