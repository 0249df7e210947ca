/** Small option checks of the io layer (ring options and interface names are src/net's). */
import { InvalidArgumentError } from '../errors.ts';

export function checkOptionalString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new InvalidArgumentError(field, 'a non-empty string', v);
  return v;
}

export function checkInt(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new InvalidArgumentError(field, `an integer between ${min} and ${max}`, v);
  return v;
}

export function checkOptionalInt(v: unknown, field: string, min: number, max: number): number | undefined {
  return v === undefined ? undefined : checkInt(v, field, min, max);
}

export function checkOptionalBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(field, 'a boolean', v);
  return v;
}
