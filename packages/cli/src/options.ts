import { InvalidArgumentError } from "commander";

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
