import { useState } from "preact/hooks";

/**
 * A form's submit handler around `action`: the default submission prevented, `busy` while it runs,
 * and what it threw kept in `error` (cleared at the next try) for `<ProblemMessage>`.
 * @param action given the form's fields; its errors are caught, never rethrown
 */
export function useFormAction(action: (fields: FormData, form: HTMLFormElement) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const onSubmit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    setBusy(true);
    setError(undefined);
    try {
      await action(new FormData(form), form);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, onSubmit };
}

/** A form field's value as text ("" when absent). */
export const field = (fields: FormData, name: string) => String(fields.get(name) ?? "");
