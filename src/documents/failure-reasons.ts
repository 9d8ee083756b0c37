import { FAILURE_REASONS, type FailureReason } from "../db/schema/documents.ts";

export { FAILURE_REASONS, type FailureReason };

/**
 * What each reason code tells the owner, in the notification and in the API's documentation.
 * Users see the code and this sentence only; what happened exactly (a parser's message, a
 * dependency's address, a malware signature) is the operator's detail (`failureDetail`), logged
 * and readable by administrators. OWASP API8:2023 (Security Misconfiguration: error messages that
 * expose internals) and ASVS 5.0 V16.5.1 (generic messages to users).
 */
export const FAILURE_REASON_TEXT: Record<FailureReason, string> = {
  malware_detected: "it contains malware and will not be served",
  file_too_large: "it is larger than the virus scanner accepts",
  file_too_complex: "it is too complex to process: too many pages, too much compressed content, or too long to read",
  unsupported_content: "its content cannot be read as its type: it is damaged or not what it claims to be",
  processing_failed: "processing did not succeed; uploading it again or asking support may help",
};

/** The reason codes with their meanings, for OpenAPI descriptions. */
export const FAILURE_REASONS_DESCRIPTION = `Why the version failed or was quarantined (null otherwise), a stable code: ${FAILURE_REASONS.map(
  (reason) => `\`${reason}\`: ${FAILURE_REASON_TEXT[reason]}`,
).join("; ")}.`;
