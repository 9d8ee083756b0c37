// Types for the deep imports in aws-xml-builder.ts: the same declarations as the package entry.
declare module "@aws-sdk/xml-builder/dist-es/XmlNode.js" {
  export { XmlNode } from "@aws-sdk/xml-builder";
}
declare module "@aws-sdk/xml-builder/dist-es/XmlText.js" {
  export { XmlText } from "@aws-sdk/xml-builder";
}
declare module "@aws-sdk/xml-builder/dist-es/xml-parser.js" {
  export { parseXML } from "@aws-sdk/xml-builder";
}
