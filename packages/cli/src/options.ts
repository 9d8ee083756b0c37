import { InvalidArgumentError } from "commander";
import { z } from "zod";

/**
 * A commander argument parser for a whole number from `min` to `max`; anything else (`1.5`, `1e3`,
 * `-2`, a word) is commander's usage error naming the option (exit 64).
 */
export const wholeNumber = (min: number, max: number) => (value: string) => {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max)
    throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
  return number;
};

const uuid = z.uuid();

/**
 * A commander argument parser for an id (a UUID, as the API's ids are): anything else is
 * commander's usage error naming the argument or option (exit 64), not a request the API refuses.
 */
export const id = (value: string) => {
  if (!uuid.safeParse(value).success) throw new InvalidArgumentError("not an id (ids are UUIDs, as `ls` shows them)");
  return value;
};

/** `id` for a variadic argument (`<ids...>`): commander passes each value with those before it. */
export const ids = (value: string, previous: string[] | undefined) => [...(previous ?? []), id(value)];

/** A commander option parser for the API's address: an absolute http or https URL (else exit 64). */
export const httpUrl = (value: string) => {
  const url = URL.parse(value);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
    throw new InvalidArgumentError("an http or https address, such as https://api.techcorp.example");
  return value;
};
